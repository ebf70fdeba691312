// Helpers of the graph executor tests (CPU and GPU): cut one block of a model with the runner's
// planner, run the prefix and the block with onnxruntime on real inputs, and compare numbers.
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../language-server/core/model/reader';
import { inventoryOf } from '../../language-server/core/model/inventory';
import type { LayerInfo } from '../../language-server/core/model/types';
import { planBlocks, type PartPlan } from '../../extension/runner/engine/blocks/plan';
import { layerInputs, openPart } from '../../extension/runner/engine/blocks/submodel';
import type { GraphSpec, GraphTensor } from '../../native/index';
import { partSpec } from './graph-spec';
import { tempDir } from '../unit/model/helpers';

export interface CutBlock {
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
  return { spec, part, layers: part.layers, feeds: inFeeds, ort: got, taps, cols, runOrt };
}

/** max |a−b| / max(|b|) over the tensor (relative to its scale). */
export function maxRel(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return s ? d / s : d;
}

/** max |Hij − Rij| / √(Rii·Rjj): the Hessian's entries relative to their diagonal scale. */
export function hessianRel(H: Float32Array, R: Float32Array): number {
  const n = Math.round(Math.sqrt(R.length));
  let m = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const s = Math.sqrt(Math.abs(R[i * n + i]! * R[j * n + j]!)) || 1;
      m = Math.max(m, Math.abs(H[i * n + j]! - R[i * n + j]!) / s);
    }
  return m;
}
