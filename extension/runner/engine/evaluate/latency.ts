/** Latency (warm-up, then median and p90 of N timed runs) and the throughput it implies. */
import type * as ort from 'onnxruntime-node';
import { throwIfAborted, yieldToLoop } from '../../../../language-server/core/util/cancel';
import { runSession } from './session';
import { withEvalSession } from './scope';
import { lmFeeds } from './io';
import { floatTensor, floatTypeOf } from './tensor-data';
import type { EvalOptions, EvalResult } from './result';

export interface LatencyOptions extends EvalOptions {
  warmup?: number;
  runs?: number;
  batch?: number;
  /** Tokens per window for language models (default 128). */
  seqlen?: number;
  /** Feeds to time; synthetic inputs of the model's shape when absent. */
  feeds?: Record<string, ort.Tensor>;
}

export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export async function evaluateLatency(model: string, opts: LatencyOptions = {}): Promise<EvalResult> {
  return withEvalSession(model, opts, async ({ session, io, mem, common }) => {
    const batch = opts.batch ?? 1;
    let feeds = opts.feeds;
    let unit: 'tokens/s' | 'images/s' | 'samples/s' = io.task === 'lm' ? 'tokens/s' : 'images/s';
    let perRun = batch;
    if (!feeds) {
      if (io.task === 'lm') {
        const seqlen = io.shape[1] ?? opts.seqlen ?? 128;
        feeds = lmFeeds(io, Array.from({ length: batch }, () => new Int32Array(seqlen).map((_, k) => (k * 7) % 64)));
        perRun = batch * seqlen;
      } else {
        const shape = io.shape.map((d, k) => d ?? (k === 0 ? batch : k === 3 ? 320 : 1));
        const n = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(n).map((_, k) => Math.sin(k));
        feeds = { [io.input]: floatTensor(floatTypeOf(io.inputType) ?? 'float32', data, shape) };
        perRun = shape[0]!;
      }
    } else unit = 'samples/s';
    const warmup = opts.warmup ?? 3;
    const runs = Math.max(1, opts.runs ?? 20);
    const times: number[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      throwIfAborted(opts.signal, 'latency measurement');
      const r0 = performance.now();
      await runSession(session, feeds, model, 'a timed run');
      if (i >= warmup) times.push(performance.now() - r0);
      mem.sample();
      opts.onProgress?.({ done: i + 1, total: warmup + runs, label: i < warmup ? 'warm-up' : 'runs' });
      await yieldToLoop();
    }
    times.sort((a, b) => a - b);
    const median = quantile(times, 0.5);
    return {
      metric: 'latency', value: median,
      details: { medianMs: median, p90Ms: quantile(times, 0.9), minMs: times[0]!, meanMs: times.reduce((a, b) => a + b, 0) / times.length, runs, warmup, batch: perRun },
      samples: runs, throughput: { value: (perRun * 1000) / median, unit }, ...common(),
    };
  });
}
