/** Top-1 accuracy of an image classifier. */
import { throwIfAborted, yieldToLoop } from '../../../../language-server/core/util/cancel';
import { runSession } from './session';
import { withEvalSession } from './scope';
import type { EvalOptions, EvalResult } from './result';
import { floatData, floatTensor, floatTypeOf } from './tensor-data';

/** A data set of model-ready samples: `count` of them, each `sampleShape` floats, fetched in ranges. */
export interface SampleSource {
  count: number;
  sampleShape: number[];
  /** Float32 data of samples [start, end), concatenated. */
  get(start: number, end: number): Promise<Float32Array>;
  labels?: number[];
}

export async function evaluateAccuracy(model: string, data: SampleSource, opts: EvalOptions & { batch?: number } = {}): Promise<EvalResult> {
  const labels = data.labels;
  if (!labels || labels.length !== data.count) throw new Error('accuracy needs one label per sample');
  return withEvalSession(model, opts, async ({ session, io, mem, common }) => {
    const batch = Math.max(1, opts.batch ?? 64);
    let correct = 0;
    let runSeconds = 0;
    for (let i = 0; i < data.count; i += batch) {
      throwIfAborted(opts.signal, 'accuracy evaluation');
      const end = Math.min(data.count, i + batch);
      const x = floatTensor(floatTypeOf(io.inputType) ?? 'float32', await data.get(i, end), [end - i, ...data.sampleShape]);
      const r0 = performance.now();
      const out = await runSession(session, { [io.input]: x }, model, 'a batch of images');
      runSeconds += (performance.now() - r0) / 1000;
      const y = out[io.output]!;
      const classes = y.dims[y.dims.length - 1]!;
      const v = floatData(y, `${model}: output`);
      for (let s = 0; s < end - i; s++) {
        let best = 0;
        for (let c = 1; c < classes; c++) if (v[s * classes + c]! > v[s * classes + best]!) best = c;
        if (best === labels[i + s]) correct++;
      }
      mem.sample();
      opts.onProgress?.({ done: end, total: data.count, label: 'images' });
      await yieldToLoop();
    }
    return {
      metric: 'accuracy', value: correct / data.count, details: { correct }, samples: data.count,
      throughput: { value: data.count / runSeconds, unit: 'images/s' }, ...common(),
    };
  });
}
