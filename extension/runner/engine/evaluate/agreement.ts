/**
 * Agreement of a (compressed) model with its reference on the same inputs: mean KL(ref ‖ model) of
 * the output distributions over the last axis (per token, sample or time step) and top-1 agreement.
 * Logits and probability outputs are both accepted.
 */
import type * as ort from 'onnxruntime-node';
import { throwIfAborted, yieldToLoop } from '../../../../language-server/core/util/cancel';
import { openSession, runSession, MemoryPeak } from './session';
import { describeIo, logProbRow, looksLikeProbabilities } from './io';
import { floatData } from './tensor-data';
import type { EvalOptions, EvalResult } from './result';

export interface FeedBatch { feeds: Record<string, ort.Tensor>; samples: number }

/** KL(reference ‖ model) and top-1 agreement summed over rows of the outputs' last axis (any float type). */
export class KlSum {
  kl = 0;
  rows = 0;
  agree = 0;
  maxKl = 0;

  /** `ya`: the model's output, `yb`: the reference's, same shape; `whatA`/`whatB` name them in errors. */
  add(ya: ort.Tensor, yb: ort.Tensor, whatA: string, whatB: string): void {
    if (ya.dims.join() !== yb.dims.join()) throw new Error(`${whatA}: shape [${ya.dims.join(', ')}] differs from the reference's [${yb.dims.join(', ')}]`);
    const n = ya.dims[ya.dims.length - 1]!;
    const va = floatData(ya, whatA);
    const vb = floatData(yb, whatB);
    const pa = looksLikeProbabilities(va, n);
    const pb = looksLikeProbabilities(vb, n);
    const la = new Float64Array(n);
    const lb = new Float64Array(n);
    for (let r = 0; r < va.length / n; r++) {
      logProbRow(va, r * n, n, pa, la);
      logProbRow(vb, r * n, n, pb, lb);
      let d = 0;
      let ia = 0;
      let ib = 0;
      for (let c = 0; c < n; c++) {
        d += Math.exp(lb[c]!) * (lb[c]! - la[c]!);
        if (la[c]! > la[ia]!) ia = c;
        if (lb[c]! > lb[ib]!) ib = c;
      }
      this.kl += d;
      if (d > this.maxKl) this.maxKl = d;
      if (ia === ib) this.agree++;
      this.rows++;
    }
  }

  result(): { value: number; details: Record<string, number> } {
    return { value: this.kl / this.rows, details: { top1Agreement: this.agree / this.rows, rows: this.rows, maxKl: this.maxKl } };
  }
}

export async function evaluateAgreement(
  model: string, reference: string, batches: () => AsyncIterable<FeedBatch>, total: number, opts: EvalOptions = {},
): Promise<EvalResult> {
  const t0 = performance.now();
  const mem = new MemoryPeak();
  const a = await openSession(model, { provider: opts.provider });
  const b = await openSession(reference, { provider: opts.provider });
  try {
    const outA = describeIo(a.session, model).output;
    const outB = describeIo(b.session, reference).output;
    const sum = new KlSum();
    let samples = 0;
    for await (const batch of batches()) {
      throwIfAborted(opts.signal, 'agreement evaluation');
      const ya = (await runSession(a.session, batch.feeds, model, 'an agreement batch', [outA]))[outA]!;
      const yb = (await runSession(b.session, batch.feeds, reference, 'an agreement batch', [outB]))[outB]!;
      sum.add(ya, yb, `${model}: output '${outA}'`, `${reference}: output '${outB}'`);
      samples += batch.samples;
      mem.sample();
      opts.onProgress?.({ done: samples, total, label: 'samples' });
      await yieldToLoop();
    }
    return {
      metric: 'kl', ...sum.result(), samples,
      provider: a.provider, fallbacks: a.fallbacks, seconds: (performance.now() - t0) / 1000, ...mem.toJSON(),
    };
  } finally {
    await a.session.release();
    await b.session.release();
  }
}
