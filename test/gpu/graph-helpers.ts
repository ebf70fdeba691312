// Graph executor cuts for the GPU machine, which has no onnxruntime: a block of a model cut by the
// runner's planner, fed by running the parts before it with the native executor on the CPU.
import { loadModel } from '../../language-server/core/model/reader';
import { inventoryOf } from '../../language-server/core/model/inventory';
import { planBlocks } from '../../extension/runner/engine/blocks/plan';

import { createGraphExecutor, graphSupport, type GraphSpec, type GraphTensor } from '../../native/index';
import { partSpec } from '../native/graph-spec';

export interface NativeCut {
  spec: GraphSpec;
  feeds: Record<string, GraphTensor>;
  taps: string[];
  /** A layer weight of the block: its initializer name and dims. */
  weight: { name: string; dims: number[] };
}

/** Block `index` of the model with real inputs, or the reason a part before it cannot run natively. */
export async function nativeCut(file: string, index: number, feeds: Record<string, GraphTensor>): Promise<NativeCut | string> {
  const model = await loadModel(file);
  const r = planBlocks(model, inventoryOf(model).layers);
  if (!r.ok) return r.reason;
  const values = new Map(Object.entries(feeds));
  let seen = -1;
  for (const part of r.plan.parts) {
    if (part.kind === 'block' && ++seen === index) {
      const taps = [...new Set(part.layers.map((l) => l.inputName))]; // submodel.ts's layerInputs (which loads onnxruntime)
      const spec = partSpec(model, part, { expose: taps });
      const inFeeds: Record<string, GraphTensor> = {};
      for (const n of spec.inputs) inFeeds[n] = values.get(n)!;
      const l = part.layers[0]!;
      return { spec, feeds: inFeeds, taps, weight: { name: l.tensorName, dims: l.shape } };
    }
    const spec = partSpec(model, part);
    const why = graphSupport(spec);
    if (why) return `${part.label}: ${why.node ?? ''} ${why.op ?? ''} ${why.reason}`;
    const ex = createGraphExecutor(spec, { device: 'cpu' });
    const ins: Record<string, GraphTensor> = {};
    for (const n of spec.inputs) ins[n] = values.get(n)!;
    for (const [k, v] of Object.entries(await ex.run(ins))) values.set(k, v);
    ex.dispose();
  }
  return `no block ${index}`;
}
