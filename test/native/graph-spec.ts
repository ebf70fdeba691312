/**
 * Test helper: one part of a model cut by the runner's planner (extension/runner/engine/blocks/plan.ts)
 * as a GraphSpec for the addon's graph executor: its constant and computing nodes in graph order with
 * decoded attributes, its boundary and side tensors as inputs, its outputs, and its initializers
 * (float32, int64 or bool; other types are left out, so a part reading one is reported unsupported).
 */
import type { AttributeProto, NodeProto, TensorProto } from '../../language-server/core/model/onnx-proto';
import { tensorBytes, tensorElements, type OnnxModel } from '../../language-server/core/model/reader';
import type { PartPlan } from '../../extension/runner/engine/blocks/plan';
import type { GraphAttr, GraphSpec, GraphTensor } from '../../native/index';

const FLOAT = 1;
const INT64 = 7;
const BOOL = 9;

export function specTensor(model: OnnxModel, t: TensorProto): GraphTensor | undefined {
  const dims = (t.dims ?? []).map(Number);
  const n = tensorElements(t);
  if (t.dataType !== FLOAT && t.dataType !== INT64 && t.dataType !== BOOL) return undefined;
  const bytes = tensorBytes(model, t);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  if (t.dataType === BOOL) return { dims, data: copy };
  return { dims, data: t.dataType === FLOAT ? new Float32Array(copy.buffer, 0, n) : new BigInt64Array(copy.buffer, 0, n) };
}

function attr(model: OnnxModel, a: AttributeProto): GraphAttr | undefined {
  switch (a.type) {
    case 1: return a.f ?? 0;
    case 2: return Number(a.i ?? 0);
    case 3: return new TextDecoder().decode(a.s ?? new Uint8Array());
    case 4: return a.t ? specTensor(model, a.t) : undefined;
    case 6: return (a.floats ?? []).map(Number);
    case 7: return (a.ints ?? []).map(Number);
    default: return undefined;
  }
}

export function specNode(model: OnnxModel, n: NodeProto): GraphSpec['nodes'][number] {
  const attrs: Record<string, GraphAttr> = {};
  for (const a of n.attribute ?? []) {
    const v = attr(model, a);
    if (v !== undefined && a.name) attrs[a.name] = v;
  }
  return { op: n.opType ?? '', name: n.name ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs };
}

/** The part as a spec; `outputs` defaults to the part's own outputs, `expose` adds more. */
export function partSpec(model: OnnxModel, part: PartPlan, o: { expose?: string[]; outputs?: string[] } = {}): GraphSpec {
  const order = new Map((model.proto.graph?.node ?? []).map((x, k) => [x, k]));
  const nodes = [...part.constNodes, ...part.nodes].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  const initializers: Record<string, GraphTensor> = {};
  for (const t of part.initializers) {
    const v = specTensor(model, t);
    if (v && t.name) initializers[t.name] = v;
  }
  return {
    nodes: nodes.map((n) => specNode(model, n)),
    inputs: [...(part.carryIn ? [part.carryIn] : []), ...part.sides],
    outputs: o.outputs ?? [...new Set([...part.outputs, ...(o.expose ?? [])])],
    initializers,
  };
}
