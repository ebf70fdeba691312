/**
 * Runs a gradient model with onnxruntime. The model is built for the input shapes of the batch it
 * was probed on; a batch of other shapes rebuilds it (only the latest build is kept, so memory
 * stays bounded by one gradient model and one batch).
 */
import * as ort from 'onnxruntime-node';
import type { ModelProto } from '../../../../language-server/core/model/onnx-proto';
import { buildGradientModel, type GradientModel, type GradientModelOptions } from './gradient-model';

export type Feeds = Record<string, ort.Tensor>;

/** Results of one run; the tensors are valid until the session's next build or release (copy to keep). */
export interface GradientStep {
  loss: number;
  /** Gradient tensor of each requested value that has one (keyed by the value's name). */
  grads: Map<string, ort.Tensor>;
  /** The forward values asked for with `extraOutputs`. */
  extras: Map<string, ort.Tensor>;
  model: GradientModel;
}

function shapeKey(feeds: Feeds): string {
  return Object.entries(feeds).map(([k, t]) => `${k}:${t.dims.join('x')}`).sort().join('|');
}

export class GradientSession {
  private current?: { key: string; model: GradientModel; session: ort.InferenceSession };
  /** How many times a gradient model was built (one per distinct input-shape signature seen). */
  builds = 0;

  constructor(
    private readonly proto: ModelProto,
    private readonly options: GradientModelOptions,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions = {},
  ) {}

  /** The gradient model for batches shaped like `feeds` (built on first use). */
  async modelFor(feeds: Feeds): Promise<GradientModel> {
    return (await this.ensure(feeds)).model;
  }

  private async ensure(feeds: Feeds): Promise<{ model: GradientModel; session: ort.InferenceSession }> {
    const key = shapeKey(feeds);
    if (this.current?.key === key) return this.current;
    await this.release();
    const model = await buildGradientModel(this.proto, feeds, this.options);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model.bytes, { logSeverityLevel: 3, ...this.sessionOptions });
    } catch (err) {
      // An onnxruntime graph rewrite can fail on a generated graph that is valid ONNX; the
      // unoptimised graph computes the same values, only slower.
      if (this.sessionOptions.graphOptimizationLevel === 'disabled') throw err;
      session = await ort.InferenceSession.create(model.bytes, { logSeverityLevel: 4, ...this.sessionOptions, graphOptimizationLevel: 'disabled' });
    }
    this.builds++;
    this.current = { key, model, session };
    return this.current;
  }

  async run(feeds: Feeds): Promise<GradientStep> {
    const { model, session } = await this.ensure(feeds);
    const wanted = Object.fromEntries(Object.entries(feeds).filter(([k]) => session.inputNames.includes(k)));
    const out = await session.run(wanted);
    const lossT = out[model.loss]!;
    const loss = Number((lossT.data as Float32Array | Float64Array)[0]);
    const grads = new Map<string, ort.Tensor>();
    for (const [w, name] of model.gradOutputs) grads.set(w, out[name]!);
    const extras = new Map<string, ort.Tensor>();
    for (const name of this.options.extraOutputs ?? []) if (out[name]) extras.set(name, out[name]!);
    return { loss, grads, extras, model };
  }

  async release(): Promise<void> {
    if (this.current) await this.current.session.release();
    this.current = undefined;
  }
}
