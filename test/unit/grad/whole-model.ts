// Whole-model check: our ∂L/∂W against central finite differences of the loss on sampled weight
// entries (the entries with the largest gradients plus random ones), weights fed as graph inputs.
import * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../../../language-server/core/model/reader';
import { buildGradientModel, inlineProto, weightGradients, weightsAsInputs, type LossSpec, type WeightGradients } from '../../../extension/runner/engine/grad/index';
import { Rng } from '../../../language-server/core/util/rng';

export interface SampleCheck {
  tensor: string;
  /** ‖fd − g‖ / ‖fd‖ over the sampled entries. */
  relErr: number;
  samples: number;
  /** Largest |g| among the samples, for scale. */
  maxAbs: number;
}

export interface WholeModelCheck {
  loss: number;
  checks: SampleCheck[];
  result: WeightGradients;
  gradSeconds: number;
}

export async function checkWholeModel(
  model: OnnxModel, feeds: Record<string, ort.Tensor>, loss: LossSpec, tensors: string[],
  opts: { top?: number; random?: number; step?: number; seed?: number } = {},
): Promise<WholeModelCheck> {
  const t0 = performance.now();
  const result = await weightGradients(model, [feeds], { loss, weights: tensors });
  const gradSeconds = (performance.now() - t0) / 1000;
  const { proto, values } = weightsAsInputs(model, inlineProto(model), tensors);
  const weightFeeds = (over?: { name: string; k: number; v: number }): Record<string, ort.Tensor> => {
    const f: Record<string, ort.Tensor> = { ...feeds };
    for (const [name, w] of values) {
      let data = w.data;
      if (over && over.name === name) { data = Float32Array.from(w.data); data[over.k] = over.v; }
      f[name] = new ort.Tensor('float32', data, w.dims);
    }
    return f;
  };
  const lossModel = await buildGradientModel(proto, weightFeeds(), { wrt: [], loss });
  const session = await ort.InferenceSession.create(lossModel.bytes, { logSeverityLevel: 3 });
  const lossAt = async (over?: { name: string; k: number; v: number }): Promise<number> => {
    const r = await session.run(weightFeeds(over), [lossModel.loss]);
    return Number((r[lossModel.loss]!.data as Float32Array)[0]);
  };
  const rng = new Rng(opts.seed ?? 3);
  const checks: SampleCheck[] = [];
  try {
    const base = await lossAt();
    for (const name of tensors) {
      const g = result.grads.get(name);
      if (!g) continue;
      const w = values.get(name)!;
      const order = Array.from(g.values.keys()).sort((a, b) => Math.abs(g.values[b]!) - Math.abs(g.values[a]!));
      const picks = new Set(order.slice(0, opts.top ?? 6));
      for (let k = 0; k < (opts.random ?? 4); k++) picks.add(rng.int(g.values.length));
      let num = 0;
      let den = 0;
      let maxAbs = 0;
      for (const k of picks) {
        const x = w.data[k]!;
        const h = opts.step ?? 1e-2;
        const fd = ((await lossAt({ name, k, v: x + h })) - (await lossAt({ name, k, v: x - h }))) / (2 * h);
        num += (fd - g.values[k]!) ** 2;
        den += fd * fd;
        maxAbs = Math.max(maxAbs, Math.abs(g.values[k]!));
      }
      checks.push({ tensor: name, relErr: Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30), samples: picks.size, maxAbs });
    }
    return { loss: base, checks, result, gradSeconds };
  } finally {
    await session.release();
  }
}
