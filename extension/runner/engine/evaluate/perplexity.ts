/**
 * Perplexity of a causal LM over non-overlapping windows of L tokens: each window is fed whole and
 * the cross-entropy is taken over its L−1 shifted targets (logits at t predict token t+1);
 * ppl = exp(mean CE over all targets). Bits per byte = total CE / ln 2 / bytes covered (for byte-level
 * tokens, bits per token).
 */
import { throwIfAborted, yieldToLoop } from '../../../../language-server/core/util/cancel';
import { runSession } from './session';
import { withEvalSession } from './scope';
import { lmFeeds, logSoftmaxRow } from './io';
import { floatData } from './tensor-data';
import type { EvalOptions, EvalResult } from './result';

export interface PerplexityOptions extends EvalOptions {
  /** Windows per onnxruntime run (default 4). */
  batch?: number;
  /** Bytes of text per token (1 for byte-level; tokenizer: bytes / tokens of the data). */
  bytesPerToken?: number;
}

export async function evaluatePerplexity(model: string, windows: Int32Array[], opts: PerplexityOptions = {}): Promise<EvalResult> {
  return withEvalSession(model, opts, async ({ session, io, mem, common }) => {
    if (io.task !== 'lm') throw new Error(`${model}: perplexity needs a language model with token-id input; this model takes '${io.input}' (${io.inputType})`);
    // Default batch: as many windows as keep one run's logits near 256 MB (a 32k vocabulary at
    // 2048 tokens is 256 MB per window already).
    const outMeta = (session.outputMetadata as readonly { name: string; shape?: readonly (number | string)[] }[]).find((m) => m.name === io.output);
    const vocab = typeof outMeta?.shape?.[2] === 'number' ? outMeta.shape[2] : 32000;
    const seqlen = windows[0]?.length ?? 1;
    const batch = Math.max(1, opts.batch ?? Math.min(8, Math.floor((256 * 1048576) / (seqlen * vocab * 4))));
    let nll = 0;
    let targets = 0;
    let tokens = 0;
    let runSeconds = 0;
    for (let i = 0; i < windows.length; i += batch) {
      throwIfAborted(opts.signal, 'perplexity evaluation');
      const group = windows.slice(i, i + batch);
      const r0 = performance.now();
      const out = await runSession(session, lmFeeds(io, group), model, `windows of ${group[0]!.length} tokens`, [io.output]);
      runSeconds += (performance.now() - r0) / 1000;
      const logits = out[io.output]!;
      const [b, t, v] = logits.dims as number[];
      if (b !== group.length || t !== group[0]!.length || !v) throw new Error(`${model}: output '${io.output}' has shape [${logits.dims.join(', ')}], expected [${group.length}, ${group[0]!.length}, vocab]`);
      const data = floatData(logits, `output '${io.output}'`);
      const row = new Float64Array(v);
      for (let w = 0; w < b; w++) {
        for (let k = 0; k < t - 1; k++) {
          logSoftmaxRow(data, (w * t + k) * v, v, row);
          nll -= row[group[w]![k + 1]!]!;
          targets++;
        }
      }
      tokens += b * t;
      mem.sample();
      for (const x of Object.values(out)) x.dispose();
      opts.onProgress?.({ done: Math.min(i + batch, windows.length), total: windows.length, label: 'windows' });
      await yieldToLoop();
    }
    const mean = nll / targets;
    return {
      metric: 'perplexity',
      value: Math.exp(mean),
      details: { meanNll: mean, bitsPerToken: mean / Math.LN2, bitsPerByte: mean / Math.LN2 / (opts.bytesPerToken ?? 1), targets, seqlen: windows[0]?.length ?? 0 },
      samples: windows.length,
      throughput: { value: tokens / runSeconds, unit: 'tokens/s' },
      ...common(),
    };
  });
}
