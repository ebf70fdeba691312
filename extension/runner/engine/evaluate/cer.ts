/**
 * Character error rate of a CTC text recogniser: greedy decoding of each line, edit distance to
 * the label, CER = Σ distances / Σ label characters (code points).
 */
import { throwIfAborted, yieldToLoop } from '../../../../language-server/core/util/cancel';
import { runSession } from './session';
import { withEvalSession } from './scope';
import { ctcGreedy, editDistance, ppocrInput, readPng, type OcrLines } from '../../../../language-server/core/model/data/ocr';
import type { EvalOptions, EvalResult } from './result';
import { floatData, floatTensor, floatTypeOf } from './tensor-data';

export async function evaluateCer(model: string, lines: OcrLines, chars: string[], opts: EvalOptions & { maxWidth?: number } = {}): Promise<EvalResult & { texts: string[] }> {
  return withEvalSession(model, opts, async ({ session, io, mem, common }) => {
    let dist = 0;
    let total = 0;
    let exact = 0;
    let runSeconds = 0;
    const texts: string[] = [];
    for (let i = 0; i < lines.files.length; i++) {
      throwIfAborted(opts.signal, 'CER evaluation');
      const img = await readPng(lines.files[i]!);
      const { data, width } = ppocrInput(img, io.shape[2] ?? 48, opts.maxWidth);
      const r0 = performance.now();
      const out = await runSession(session, { [io.input]: floatTensor(floatTypeOf(io.inputType) ?? 'float32', data, [1, 3, io.shape[2] ?? 48, width]) }, model, lines.files[i]!);
      runSeconds += (performance.now() - r0) / 1000;
      const y = out[io.output]!;
      const [, steps, classes] = y.dims as number[];
      if (classes !== chars.length) throw new Error(`${model}: ${classes} output classes but the character list has ${chars.length} (blank + keys + space)`);
      const text = ctcGreedy(floatData(y, `${model}: output`), steps!, classes, chars);
      texts.push(text);
      const want = lines.texts[i]!;
      const d = editDistance(text, want);
      dist += d;
      total += [...want].length;
      if (d === 0) exact++;
      mem.sample();
      opts.onProgress?.({ done: i + 1, total: lines.files.length, label: 'lines' });
      await yieldToLoop();
    }
    return {
      metric: 'cer', value: dist / Math.max(1, total), details: { edits: dist, characters: total, exactLines: exact },
      samples: lines.files.length, throughput: { value: lines.files.length / runSeconds, unit: 'lines/s' },
      ...common(), texts,
    };
  });
}
