/**
 * One part of the chain (plan.ts) as a spec for the addon's graph executor (native/graph-types.ts):
 * its nodes in graph order with their attributes decoded, the boundary and side tensors as inputs,
 * the initializers and Constant nodes' values as tensors (read from the model's side file only when
 * the spec is built, one part at a time), and the part's current weights in place of the file's.
 * Or, when the part cannot be handed to the executor, why: the executor computes float32 (with
 * int64 shape arithmetic and bool masks), so a part holding float16, bfloat16 or other element types, string or
 * graph attributes, or reading an input of another type stays on onnxruntime.
 */
import type { AttributeProto, NodeProto, TensorProto } from '../../../../language-server/core/model/onnx-proto';
import type { OnnxModel } from '../../../../language-server/core/model/reader';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { AttributeType, DataType } from '../../../../language-server/core/model/onnx-schema';
import { bytesToFloat32, dtypeName } from '../../../../language-server/core/model/dtype';
import { tensorBytes, tensorElements } from '../../../../language-server/core/model/reader';
import { throwIfAborted } from '../../../../language-server/core/util/cancel';
import type { GraphAttr, GraphNode, GraphSpec, GraphTensor } from '../../../../native/graph-types';
import { transpose } from '../model/weights';
import { graphOrder, type PartWeights } from './submodel';
import type { PartPlan } from './plan';

export type PartSpecResult = { ok: true; spec: GraphSpec } | { ok: false; reason: string };

/** Element types the executor takes in and gives back (ONNX names, as the activation cache keeps them). */
export const NATIVE_IO_TYPES: ReadonlySet<string> = new Set(['float32', 'int64', 'bool']);

class NotNative extends Error {}

/** A stored tensor's values as the executor takes them (float32, int64, bool as bytes of 0/1), else why not. */
function graphTensor(model: OnnxModel, t: TensorProto, what: string): GraphTensor {
  const dims = (t.dims ?? []).map(Number);
  const n = tensorElements(t);
  if (t.dataType === DataType.FLOAT) return { dims, data: bytesToFloat32(t.dataType, tensorBytes(model, t), n) };
  if (t.dataType === DataType.INT64) {
    const bytes = tensorBytes(model, t);
    const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
    return { dims, data: new BigInt64Array(aligned.buffer, aligned.byteOffset, n) };
  }
  if (t.dataType === DataType.BOOL) return { dims, data: tensorBytes(model, t).slice() as unknown as GraphTensor['data'] };
  throw new NotNative(`${what} is ${dtypeName(t.dataType)} (the native executor computes float32, int64 and bool)`);
}

/** A Constant node's value (any of its forms) as a tensor. */
function constantTensor(model: OnnxModel, n: NodeProto): GraphTensor {
  const a = n.attribute?.[0];
  const what = `constant '${n.output?.[0] ?? n.name ?? ''}'`;
  if (!a || (n.attribute?.length ?? 0) !== 1) throw new NotNative(`${what} has no single value`);
  switch (a.name) {
    case 'value': if (a.t) return graphTensor(model, a.t, what); break;
    case 'value_float': return { dims: [], data: Float32Array.of(a.f ?? 0) };
    case 'value_floats': return { dims: [a.floats?.length ?? 0], data: Float32Array.from(a.floats ?? []) };
    case 'value_int': return { dims: [], data: BigInt64Array.of(BigInt(a.i ?? 0)) };
    case 'value_ints': return { dims: [a.ints?.length ?? 0], data: BigInt64Array.from((a.ints ?? []).map((v) => BigInt(v))) };
  }
  throw new NotNative(`${what} is given as '${a.name ?? ''}', which the native executor does not take`);
}

function attrValue(model: OnnxModel, n: NodeProto, a: AttributeProto): GraphAttr {
  const type = a.type ?? (a.t ? AttributeType.TENSOR : a.s ? AttributeType.STRING : a.ints?.length ? AttributeType.INTS
    : a.floats?.length ? AttributeType.FLOATS : a.f !== undefined ? AttributeType.FLOAT : AttributeType.INT);
  switch (type) {
    case AttributeType.FLOAT: return a.f ?? 0;
    case AttributeType.INT: return Number(a.i ?? 0);
    case AttributeType.STRING: return new TextDecoder().decode(a.s ?? new Uint8Array());
    case AttributeType.FLOATS: return [...(a.floats ?? [])];
    case AttributeType.INTS: return (a.ints ?? []).map(Number);
    case AttributeType.TENSOR: return graphTensor(model, a.t!, `attribute '${a.name ?? ''}' of node '${n.name ?? ''}'`);
  }
  throw new NotNative(`node '${n.name ?? ''}' (${n.opType ?? ''}) has attribute '${a.name ?? ''}' of a kind the native executor does not take`);
}

/** The stored tensor behind a layer's weight (an initializer, or a Constant node's value) in this part. */
function storedWeight(part: PartPlan, l: LayerInfo): TensorProto | undefined {
  const init = part.initializers.find((t) => t.name === l.tensorName);
  if (init) return init;
  const c = part.constNodes.find((n) => n.opType === 'Constant' && n.output?.[0] === l.tensorName);
  return c?.attribute?.[0]?.t;
}

/**
 * The part's current weights as the executor's initializers (stored name, stored layout): what
 * `createGraphExecutor` starts from and what `setInitializers` replaces after compression.
 */
export async function weightTensors(part: PartPlan, weights: PartWeights | undefined): Promise<Record<string, GraphTensor>> {
  const out: Record<string, GraphTensor> = {};
  for (const l of part.layers) {
    const get = weights?.get(l.name);
    if (!get) continue;
    const t = storedWeight(part, l);
    if (!t) throw new Error(`layer '${l.name}': tensor '${l.tensorName}' is not in ${part.label}`);
    if (t.dataType !== DataType.FLOAT) throw new NotNative(`layer '${l.name}' is stored as ${dtypeName(t.dataType)}`);
    const w = await get();
    if (w.length !== l.rows * l.cols) throw new Error(`layer '${l.name}': ${w.length} values given, ${l.rows}x${l.cols} expected`);
    out[l.tensorName] = { dims: (t.dims ?? []).map(Number), data: l.transposed ? transpose(w, l.rows, l.cols) : w };
  }
  return out;
}

export interface PartSpecOptions {
  /** Element type (ONNX name) of each tensor the part reads from outside (its boundary and sides). */
  inputTypes: ReadonlyMap<string, string>;
  /** What every run returns. */
  outputs: readonly string[];
  /** Current weights of the part's layers that differ from the file's. */
  weights?: PartWeights;
  signal?: AbortSignal;
}

/** The part as a GraphSpec, or why the native executor cannot run it. */
export async function partGraphSpec(model: OnnxModel, part: PartPlan, o: PartSpecOptions): Promise<PartSpecResult> {
  try {
    const inputs = [...(part.carryIn ? [part.carryIn] : []), ...part.sides];
    for (const name of inputs) {
      const type = o.inputTypes.get(name);
      if (!type || !NATIVE_IO_TYPES.has(type)) throw new NotNative(`input '${name}' is ${type ?? 'of an unknown type'}`);
    }
    const initializers: Record<string, GraphTensor> = {};
    for (const t of part.initializers) {
      throwIfAborted(o.signal, part.label);
      initializers[t.name ?? ''] = graphTensor(model, t, `initializer '${t.name ?? ''}'`);
    }
    const nodes: GraphNode[] = [];
    for (const n of [...part.constNodes, ...part.nodes].sort((a, b) => graphOrder(model, a) - graphOrder(model, b))) {
      if (n.domain && n.domain !== 'ai.onnx') throw new NotNative(`node '${n.name ?? ''}' is ${n.domain}.${n.opType ?? ''}`);
      if (n.opType === 'Constant') { initializers[n.output?.[0] ?? ''] = constantTensor(model, n); continue; }
      const attrs: Record<string, GraphAttr> = {};
      for (const a of n.attribute ?? []) attrs[a.name ?? ''] = attrValue(model, n, a);
      nodes.push({ op: n.opType ?? '', name: n.name ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs });
    }
    Object.assign(initializers, await weightTensors(part, o.weights));
    return { ok: true, spec: { nodes, inputs, outputs: [...o.outputs], initializers } };
  } catch (err) {
    if (err instanceof NotNative) return { ok: false, reason: err.message };
    throw err;
  }
}
