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
import type * as ort from 'onnxruntime-node';

export interface PerplexityOptions extends EvalOptions {
  /** Windows per onnxruntime run (default 4). */
  batch?: number;
  /** Bytes of text per token (1 for byte-level; tokenizer: bytes / tokens of the data). */
  bytesPerToken?: number;
}

/**
 * Cross-entropy of next-token predictions summed over windows: logits [B, T, V] (any float type)
 * of B windows of T tokens; the logits at t score token t+1 (T−1 targets per window).
 */
export class NllSum {
  nll = 0;
  targets = 0;
  seqlen = 0;

  /** `what` names the logits in errors (model and output). */
  add(logits: ort.Tensor, windows: Int32Array[], what: string): void {
    const [b, t, v] = logits.dims as number[];
    if (b !== windows.length || t !== windows[0]!.length || !v) throw new Error(`${what} has shape [${logits.dims.join(', ')}], expected [${windows.length}, ${windows[0]!.length}, vocab]`);
    const data = floatData(logits, what);
    const row = new Float64Array(v);
    for (let w = 0; w < b; w++) {
      for (let k = 0; k < t - 1; k++) {
        logSoftmaxRow(data, (w * t + k) * v, v, row);
        this.nll -= row[windows[w]![k + 1]!]!;
        this.targets++;
      }
    }
    this.seqlen = t;
  }

  /** Perplexity and its details (`bytesPerToken` turns bits per token into bits per byte). */
  result(bytesPerToken: number): { value: number; details: Record<string, number> } {
    const mean = this.nll / this.targets;
    const bitsPerToken = mean / Math.LN2;
    return { value: Math.exp(mean), details: { meanNll: mean, bitsPerToken, bitsPerByte: bitsPerToken / bytesPerToken, targets: this.targets, seqlen: this.seqlen } };
  }
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
    const nll = new NllSum();
    let tokens = 0;
    let runSeconds = 0;
    for (let i = 0; i < windows.length; i += batch) {
      throwIfAborted(opts.signal, 'perplexity evaluation');
      const group = windows.slice(i, i + batch);
      const r0 = performance.now();
      const out = await runSession(session, lmFeeds(io, group), model, `windows of ${group[0]!.length} tokens`, [io.output]);
      runSeconds += (performance.now() - r0) / 1000;
      nll.add(out[io.output]!, group, `${model}: output '${io.output}'`);
      tokens += group.length * group[0]!.length;
      mem.sample();
      for (const x of Object.values(out)) x.dispose();
      opts.onProgress?.({ done: Math.min(i + batch, windows.length), total: windows.length, label: 'windows' });
      await yieldToLoop();
    }
    return {
      metric: 'perplexity',
      ...nll.result(opts.bytesPerToken ?? 1),
      samples: windows.length,
      throughput: { value: tokens / runSeconds, unit: 'tokens/s' },
      ...common(),
    };
  });
}
