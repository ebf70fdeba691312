/**
 * Which stored tensors to differentiate, and the model forms the gradient pipeline needs: external
 * data pulled inline (onnxruntime gets the model as bytes), and weights turned into graph inputs
 * (so a caller can feed perturbed or updated values without rebuilding a session).
 */
import type { ModelProto, TensorProto, ValueInfoProto } from '../../../../language-server/core/model/onnx-proto';
import { graphTensors, isExternal, tensorBytes, tensorElements, tensorFloat32, type OnnxModel } from '../../../../language-server/core/model/reader';
import { inventoryOf } from '../../../../language-server/core/model/inventory';
import { isFloatType } from '../../../../language-server/core/model/dtype';
import { globMatcher } from '../../../../language-server/core/recipe/patterns';

/**
 * `layers`: the compressible layers of the inventory (MatMul/Gemm/Conv/Gather weights);
 * `all`: every float tensor of two or more elements (norm scales, biases too);
 * a list: tensor names, layer names or `*` patterns over either.
 */
export type WeightSelection = 'layers' | 'all' | string[];

export interface SelectedWeight {
  /** Stored tensor name (initializer or Constant output): the name gradients are reported under. */
  tensor: string;
  /** Layer name from the inventory, when the tensor is a layer's weight. */
  layer?: string;
  dims: number[];
}

/** `*` globs on whole names (`?` is a literal here), in linear time. */
function pattern(p: string): { test(name: string): boolean } {
  const m = globMatcher(p, { anyChar: false });
  return { test: m };
}

/** Resolves a selection to stored float tensors; throws naming any entry that matches nothing. */
export function selectWeights(model: OnnxModel, sel: WeightSelection = 'layers'): SelectedWeight[] {
  const inv = inventoryOf(model);
  const layerOf = new Map<string, string>();
  for (const l of inv.layers) if (!layerOf.has(l.tensorName)) layerOf.set(l.tensorName, l.name);
  const all: SelectedWeight[] = [];
  for (const { tensor, node } of graphTensors(model)) {
    const name = node ? node.output?.[0] : tensor.name;
    if (!name || !isFloatType(tensor.dataType) || tensorElements(tensor) < 2) continue;
    all.push({ tensor: name, layer: layerOf.get(name), dims: (tensor.dims ?? []).map(Number) });
  }
  if (sel === 'all') return all;
  if (sel === 'layers') return all.filter((w) => w.layer !== undefined);
  const out = new Map<string, SelectedWeight>();
  for (const p of sel) {
    const re = pattern(p);
    const hits = all.filter((w) => re.test(w.tensor) || (w.layer !== undefined && re.test(w.layer)));
    if (!hits.length) throw new Error(`${model.path}: no float weight named or matching '${p}'`);
    for (const h of hits) out.set(h.tensor, h);
  }
  return [...out.values()];
}

/** The model's proto with external-data tensors read into raw_data (a shallow copy otherwise). */
export function inlineProto(model: OnnxModel): ModelProto {
  const g = model.proto.graph ?? {};
  const inline = (t: TensorProto): TensorProto => {
    if (!isExternal(t)) return t;
    const { externalData: _e, dataLocation: _d, ...rest } = t;
    return { ...rest, rawData: tensorBytes(model, t) };
  };
  const node = (g.node ?? []).map((n) => {
    if (n.opType !== 'Constant' || !n.attribute?.some((a) => a.t && isExternal(a.t))) return n;
    return { ...n, attribute: n.attribute.map((a) => (a.t ? { ...a, t: inline(a.t) } : a)) };
  });
  return { ...model.proto, graph: { ...g, node, initializer: (g.initializer ?? []).map(inline) } };
}

/**
 * Turns the named stored tensors into graph inputs; returns the new proto and each tensor's
 * current float32 values (to feed, or to perturb).
 */
export function weightsAsInputs(model: OnnxModel, proto: ModelProto, names: string[]): { proto: ModelProto; values: Map<string, { dims: number[]; data: Float32Array }> } {
  const want = new Set(names);
  const g = proto.graph ?? {};
  const values = new Map<string, { dims: number[]; data: Float32Array }>();
  const inputs: ValueInfoProto[] = [];
  const take = (name: string, t: TensorProto): void => {
    const dims = (t.dims ?? []).map(Number);
    values.set(name, { dims, data: tensorFloat32(model, t) });
    inputs.push({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  };
  const initializer = (g.initializer ?? []).filter((t) => {
    if (!t.name || !want.has(t.name)) return true;
    if (t.dataType !== 1) throw new Error(`weight '${t.name}' is not float32; cannot feed it as an input`);
    take(t.name, t);
    return false;
  });
  const node = (g.node ?? []).filter((n) => {
    const out = n.output?.[0];
    if (n.opType !== 'Constant' || !out || !want.has(out)) return true;
    const t = n.attribute?.find((a) => a.name === 'value')?.t;
    if (!t || t.dataType !== 1) throw new Error(`weight '${out}' is not a float32 Constant; cannot feed it as an input`);
    take(out, t);
    return false;
  });
  for (const n of names) if (!values.has(n)) throw new Error(`${model.path}: no stored tensor '${n}'`);
  return { proto: { ...proto, graph: { ...g, initializer, node, input: [...(g.input ?? []), ...inputs] } }, values };
}
