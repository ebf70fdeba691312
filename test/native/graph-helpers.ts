// Helpers of the graph executor tests (CPU and GPU): cut one block of a model with the runner's
// planner, run the prefix and the block with onnxruntime on real inputs, and compare numbers.
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../language-server/core/model/reader';
import { inventoryOf } from '../../language-server/core/model/inventory';
import type { LayerInfo } from '../../language-server/core/model/types';
import { planBlocks, type PartPlan } from '../../extension/runner/engine/blocks/plan';
import { layerInputs, openPart } from '../../extension/runner/engine/blocks/submodel';
import { createGraphExecutor, graphSupport, type GraphSpec, type GraphTensor } from '../../native/index';
import { maxRel } from './graph-helpers-math';
import { partSpec } from './graph-spec';
import { tempDir } from '../unit/model/helpers';

export { hessianRel, maxRel } from './graph-helpers-math';

/** Parts of the chain before block `index` whose native run was compared with onnxruntime's (label → max rel). */
export type PrefixCheck = Map<string, number | string>;

export interface CutBlock {
  /** Each part before the block, run natively on the CPU too: its max rel difference, or why it cannot run. */
  before: PrefixCheck;
  spec: GraphSpec;
  part: PartPlan;
  layers: LayerInfo[];
  feeds: Record<string, GraphTensor>;
  /** onnxruntime's values of the part's outputs and layer inputs. */
  ort: Record<string, ort.Tensor>;
  /** The layer inputs to tap, and their widths. */
  taps: string[];
  cols: Map<string, number>;
  /** Runs the part with onnxruntime with some layers' weights (rows × cols) replaced. */
  runOrt(weights: Map<string, Float32Array>): Promise<Record<string, ort.Tensor>>;
}

export function toGraph(t: ort.Tensor): GraphTensor {
  const dims = [...t.dims];
  if (t.type === 'float32') return { dims, data: t.data as Float32Array };
  if (t.type === 'int64') return { dims, data: t.data as BigInt64Array };
  if (t.type === 'bool') return { dims, data: Uint8Array.from(t.data as Uint8Array) };
  throw new Error(`tensor type ${t.type} is not a graph tensor type`);
}

/** Cuts block `index` (0-based among the blocks) and gives its spec, real inputs and onnxruntime's results. */
export async function cutBlock(file: string, index: number, feeds: Record<string, ort.Tensor>): Promise<CutBlock> {
  const model = await loadModel(file);
  const layers = inventoryOf(model).layers;
  const r = planBlocks(model, layers);
  if (!r.ok) throw new Error(r.reason);
  const parts = r.plan.parts;
  const scratch = tempDir('qrecipe-graph-scratch-');
  const types = new Map<string, string>(Object.entries(feeds).map(([k, v]) => [k, v.type]));
  const values = new Map<string, ort.Tensor>(Object.entries(feeds));
  // run the chain with onnxruntime up to the block: its boundary and side tensors are real
  let block: PartPlan | undefined;
  const before: PrefixCheck = new Map();
  let seen = -1;
  for (const part of parts) {
    if (part.kind === 'block' && ++seen === index) {
      block = part;
      break;
    }
    const s = await openPart(model, part, { inputTypes: types, provider: 'cpu', scratchDir: scratch });
    const ins: Record<string, ort.Tensor> = {};
    for (const n of s.session.inputNames) ins[n] = values.get(n)!;
    const out = await s.session.run(ins);
    const spec = partSpec(model, part);
    const why = graphSupport(spec);
    if (why) before.set(part.label, `${why.node ?? ''} (${why.op ?? ''}): ${why.reason}`);
    else {
      const ex = createGraphExecutor(spec, { device: 'cpu' });
      const nIns: Record<string, GraphTensor> = {};
      for (const n of spec.inputs) nIns[n] = toGraph(values.get(n)!);
      const got = await ex.run(nIns);
      ex.dispose();
      let worst = 0;
      for (const n of spec.outputs) {
        const a = got[n]!, b = out[n]!;
        if (a.dims.join() !== b.dims.join()) worst = Infinity;
        else if (b.type === 'float32') worst = Math.max(worst, maxRel(a.data as Float32Array, b.data as Float32Array));
        else if (String([...(a.data as Iterable<unknown>)]) !== String([...(b.data as Iterable<unknown>)])) worst = Infinity;
      }
      before.set(part.label, worst);
    }
    for (const [k, v] of Object.entries(out)) {
      values.set(k, v);
      types.set(k, v.type);
    }
    await s.session.release();
  }
  if (!block) throw new Error(`${file} has no block ${index}`);
  const part = block;
  const taps = layerInputs(part.layers);
  const spec = partSpec(model, part, { expose: taps });
  const inFeeds: Record<string, GraphTensor> = {};
  for (const n of spec.inputs) inFeeds[n] = toGraph(values.get(n)!);
  const runOrt = async (weights: Map<string, Float32Array>): Promise<Record<string, ort.Tensor>> => {
    const w = new Map([...weights].map(([k, v]) => [k, async () => v]));
    const s = await openPart(model, part, { inputTypes: types, expose: taps, weights: w, provider: 'cpu', scratchDir: scratch });
    const ins: Record<string, ort.Tensor> = {};
    for (const n of spec.inputs) ins[n] = values.get(n)!;
    try {
      return await s.session.run(ins);
    } finally {
      await s.session.release();
    }
  };
  const got = await runOrt(new Map());
  const cols = new Map(taps.map((t) => [t, got[t]!.dims[got[t]!.dims.length - 1]!]));
  return { before, spec, part, layers: part.layers, feeds: inFeeds, ort: got, taps, cols, runOrt };
}
