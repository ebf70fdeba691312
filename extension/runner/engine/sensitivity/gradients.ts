/**
 * ∂L/∂W of each layer, averaged over calibration windows, from the gradients engine's gradient
 * model (forward graph + LM loss head + backward nodes) run by onnxruntime. Layers whose gradient
 * path crosses an op without a rule come back in `blocked` with that op, so the caller can fall
 * back to another metric and say why. `onBatch` sees every window's own gradient before it is
 * averaged and `squares` averages their squares, so the per-batch metrics (`taylor`, `fisher`)
 * are accumulated on the fly without keeping the batch gradients.
 */
import * as ort from 'onnxruntime-node';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { transpose } from '../model/weights';
import { buildGradientModel } from '../grad/gradient-model';
import { lmFeeds, type ModelIo } from '../evaluate/io';
import { throwIfAborted, yieldToLoop, type LongRunOptions } from '../../../../language-server/core/util/cancel';

export interface LayerGradients {
  /** Layer name → mean ∂L/∂W (rows × cols). */
  grads: Map<string, Float32Array>;
  /** Layer name → mean squared per-window gradient (the empirical Fisher diagonal), with `squares`. */
  squares: Map<string, Float32Array>;
  /** Layer name → why it has no gradient. */
  blocked: Map<string, string>;
}

export interface LayerGradientOptions extends LongRunOptions {
  /** Called with each window's gradient of each unblocked layer (rows × cols, valid during the call only). */
  onBatch?: (layer: LayerInfo, grad: Float32Array, window: number) => void;
  /** Also average the squared per-window gradients (`squares`). */
  squares?: boolean;
}

export async function layerGradients(model: OnnxModel, io: ModelIo, layers: LayerInfo[], windows: Int32Array[], opts: LayerGradientOptions = {}): Promise<LayerGradients> {
  const blocked = new Map<string, string>();
  const grads = new Map<string, Float32Array>();
  const squares = new Map<string, Float32Array>();
  if (!windows.length || !layers.length) return { grads, squares, blocked };
  // The gradient model is specialised to one batch shape: one window per run.
  const sample = lmFeeds(io, [windows[0]!]);
  const gm = await buildGradientModel(model.proto, sample, { wrt: layers.map((l) => l.tensorName), loss: { kind: 'lm', ids: io.input } });
  for (const l of layers) {
    const why = gm.blocked.get(l.tensorName);
    if (why?.length) blocked.set(l.name, `gradient path crosses ${why.map((u) => `${u.opType} (${u.reason})`).join(', ')}`);
    else if (gm.unused.includes(l.tensorName)) blocked.set(l.name, 'the loss does not depend on this layer');
    else if (!gm.gradOutputs.has(l.tensorName)) blocked.set(l.name, 'no gradient was produced');
  }
  const wanted = layers.filter((l) => !blocked.has(l.name));
  if (!wanted.length) return { grads, squares, blocked };
  const session = await ort.InferenceSession.create(gm.bytes, { logSeverityLevel: 3 });
  try {
    const sums = new Map(wanted.map((l) => [l.name, new Float64Array(l.rows * l.cols)]));
    const sq = new Map(opts.squares ? wanted.map((l) => [l.name, new Float64Array(l.rows * l.cols)]) : []);
    for (let i = 0; i < windows.length; i++) {
      throwIfAborted(opts.signal, 'gradients');
      const out = await session.run(lmFeeds(io, [windows[i]!]), wanted.map((l) => gm.gradOutputs.get(l.tensorName)!));
      for (const l of wanted) {
        const t = out[gm.gradOutputs.get(l.tensorName)!]!;
        const g = l.transposed ? transpose(t.data as Float32Array, l.cols, l.rows) : (t.data as Float32Array);
        const s = sums.get(l.name)!;
        for (let k = 0; k < s.length; k++) s[k] += g[k]!;
        const q = sq.get(l.name);
        if (q) for (let k = 0; k < q.length; k++) q[k] += g[k]! * g[k]!;
        opts.onBatch?.(l, g, i);
        t.dispose();
      }
      opts.onProgress?.({ done: i + 1, total: windows.length, label: 'gradient windows' });
      await yieldToLoop();
    }
    for (const [name, s] of sums) grads.set(name, Float32Array.from(s, (x) => x / windows.length));
    for (const [name, s] of sq) squares.set(name, Float32Array.from(s, (x) => x / windows.length));
  } finally {
    await session.release();
  }
  return { grads, squares, blocked };
}
