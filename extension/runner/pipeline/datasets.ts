// Recipe data sets turned into what calibration and evaluation take: token windows (text), OCR
// lines with the recogniser's character list, labelled image samples. Loaded once per run.
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import { byteWindows } from '../../../language-server/core/model/data/text';
import { listOcrLines, readCharList, type OcrLines } from '../../../language-server/core/model/data/ocr';

export type Purpose = 'calibration' | 'evaluation';

/** Text windows: `samples` random windows (seeded) for calibration, the first `samples` consecutive ones for evaluation. */
export async function textWindows(d: ResolvedDataset, purpose: Purpose): Promise<Int32Array[]> {
  const s = d.source;
  if (s.kind !== 'text') throw new Error(`data set '${d.name}' is ${s.kind} data, a text data set is needed here`);
  if (s.tokenizer !== 'byte') throw new Error(`data set '${d.name}': tokenizer.json tokenisation is not supported by the runner yet; use \`tokenizer byte\``);
  return purpose === 'calibration'
    ? byteWindows(s.path, d.seqlen, { count: d.samples, seed: d.seed })
    : byteWindows(s.path, d.seqlen, { maxWindows: d.samples });
}

/** OCR lines (at most `samples`) and the character list of the recogniser `model`. */
export async function ocrLines(d: ResolvedDataset, model: string): Promise<{ lines: OcrLines; chars: string[] }> {
  const s = d.source;
  if (s.kind !== 'ocr') throw new Error(`data set '${d.name}' is ${s.kind} data, an OCR data set is needed here`);
  const all = await listOcrLines(s.path, s.labels);
  const n = Math.min(d.samples, all.files.length);
  const lines = { files: all.files.slice(0, n), texts: all.texts.slice(0, n) };
  // PP-OCR ships its dictionary beside the model; a data set may carry its own.
  const candidates = [path.join(s.path, 'keys.txt'), path.join(path.dirname(model), 'ppocr_keys_v1.txt'), path.join(path.dirname(model), 'keys.txt')];
  const keys = candidates.find((f) => existsSync(f));
  if (!keys) throw new Error(`data set '${d.name}': no character list found for the recogniser (looked for ${candidates.join(', ')})`);
  return { lines, chars: await readCharList(keys) };
}
