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
    let kl = 0;
    let rows = 0;
    let agree = 0;
    let samples = 0;
    let maxKl = 0;
    for await (const batch of batches()) {
      throwIfAborted(opts.signal, 'agreement evaluation');
      const ya = (await runSession(a.session, batch.feeds, model, 'an agreement batch', [outA]))[outA]!;
      const yb = (await runSession(b.session, batch.feeds, reference, 'an agreement batch', [outB]))[outB]!;
      if (ya.dims.join() !== yb.dims.join()) throw new Error(`${model}: output shape [${ya.dims.join(', ')}] differs from the reference's [${yb.dims.join(', ')}]`);
      const n = ya.dims[ya.dims.length - 1]!;
      const va = floatData(ya, `${model}: output '${outA}'`);
      const vb = floatData(yb, `${reference}: output '${outB}'`);
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
        kl += d;
        if (d > maxKl) maxKl = d;
        if (ia === ib) agree++;
        rows++;
      }
      samples += batch.samples;
      mem.sample();
      opts.onProgress?.({ done: samples, total, label: 'samples' });
      await yieldToLoop();
    }
    return {
      metric: 'kl', value: kl / rows, details: { top1Agreement: agree / rows, rows, maxKl }, samples,
      provider: a.provider, fallbacks: a.fallbacks, seconds: (performance.now() - t0) / 1000, ...mem.toJSON(),
    };
  } finally {
    await a.session.release();
    await b.session.release();
  }
}
