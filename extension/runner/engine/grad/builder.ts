/**
 * Emits the nodes and constants of a gradient graph in the operator set of the model being
 * differentiated. ONNX moved many attributes to inputs across versions (ReduceSum axes at 13, the
 * other reductions at 18, Squeeze/Unsqueeze at 13, Slice at 10, Pad at 11) and Equal only accepts
 * floats from 11; the helpers here pick the form the model's opset accepts, so the original nodes
 * never need an upgrade.
 */
import type { AttributeProto, NodeProto, TensorProto } from '../../../../language-server/core/model/onnx-proto';
import { AttributeType, DataType } from '../../../../language-server/core/model/onnx-schema';
import { float32ToBytes } from '../../../../language-server/core/model/dtype';

/** Shape and element type of a value, as observed when the forward graph was probed. */
export interface ValueInfo {
  dims: number[];
  /** ONNX DataType code. */
  dtype: number;
}

export type Attr =
  | { name: string; i: number }
  | { name: string; f: number }
  | { name: string; ints: number[] }
  | { name: string; floats: number[] }
  | { name: string; s: string }
  | { name: string; t: TensorProto };

export const ai = (name: string, i: number): Attr => ({ name, i });
export const af = (name: string, f: number): Attr => ({ name, f });
export const aints = (name: string, ints: number[]): Attr => ({ name, ints });

function toProto(a: Attr): AttributeProto {
  if ('i' in a) return { name: a.name, type: AttributeType.INT, i: a.i };
  if ('f' in a) return { name: a.name, type: AttributeType.FLOAT, f: a.f };
  if ('ints' in a) return { name: a.name, type: AttributeType.INTS, ints: a.ints };
  if ('floats' in a) return { name: a.name, type: AttributeType.FLOATS, floats: a.floats };
  if ('s' in a) return { name: a.name, type: AttributeType.STRING, s: new TextEncoder().encode(a.s) };
  return { name: a.name, type: AttributeType.TENSOR, t: a.t };
}

export function isFloatCode(code: number): boolean {
  return code === DataType.FLOAT || code === DataType.DOUBLE || code === DataType.FLOAT16 || code === DataType.BFLOAT16;
}

/** A tensor proto holding `values` in the given element type (floats, double, int64, bool). */
export function makeTensor(name: string, dtype: number, dims: number[], values: ArrayLike<number>): TensorProto {
  let raw: Uint8Array;
  switch (dtype) {
    case DataType.FLOAT: raw = new Uint8Array(Float32Array.from(values).buffer); break;
    case DataType.DOUBLE: raw = new Uint8Array(Float64Array.from(values).buffer); break;
    case DataType.INT64: raw = new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v)))).buffer); break;
    case DataType.INT32: raw = new Uint8Array(Int32Array.from(values).buffer); break;
    case DataType.BOOL: case DataType.UINT8: raw = Uint8Array.from(values); break;
    case DataType.FLOAT16: case DataType.BFLOAT16: raw = float32ToBytes(dtype, Float32Array.from(values)); break;
    default: throw new Error(`gradient graph: cannot write constants of ONNX type ${dtype}`);
  }
  return { name, dataType: dtype, dims, rawData: raw };
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, string>();
  private readonly producer = new Map<string, NodeProto>();

  /**
   * @param opset default-domain opset of the model (decides which op forms are emitted)
   * @param taken every name already used in the model, so new names never collide
   */
  constructor(readonly opset: number, private readonly taken: Set<string>) {}

  /** A new unique value name. */
  fresh(hint: string): string {
    const base = `grad/${hint.replace(/[^A-Za-z0-9_.:/-]/g, '_').slice(0, 60)}`;
    let name: string;
    do name = `${base}#${this.counter++}`; while (this.taken.has(name));
    this.taken.add(name);
    return name;
  }

  /** Emits one node and returns its output names (`outputs` of them). */
  op(opType: string, inputs: string[], attrs: Attr[] = [], outputs = 1): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(opType));
    const node: NodeProto = { opType, input: inputs, output: outs, name: this.fresh(`node_${opType}`) };
    if (attrs.length) node.attribute = attrs.map(toProto);
    this.nodes.push(node);
    for (const o of outs) this.producer.set(o, node);
    return outs;
  }

  /** Emits a copy of `like` (same op type and attributes) on new inputs, with `outputs` outputs. */
  copyOf(like: NodeProto, inputs: string[], outputs: number): string[] {
    const outs = this.op(like.opType ?? '', inputs, [], outputs);
    const node = this.nodes[this.nodes.length - 1]!;
    if (like.attribute?.length) node.attribute = like.attribute;
    if (like.domain) node.domain = like.domain;
    return outs;
  }

  op1(opType: string, inputs: string[], attrs: Attr[] = []): string {
    return this.op(opType, inputs, attrs, 1)[0]!;
  }

  /** A constant initializer (deduplicated by value). */
  constant(dtype: number, dims: number[], values: ArrayLike<number>): string {
    const key = `${dtype}|${dims.join(',')}|${Array.from(values).join(',')}`;
    const hit = key.length < 4096 ? this.constCache.get(key) : undefined;
    if (hit) return hit;
    const name = this.fresh('const');
    this.initializers.push(makeTensor(name, dtype, dims, values));
    if (key.length < 4096) this.constCache.set(key, name);
    return name;
  }

  scalar(dtype: number, v: number): string {
    return this.constant(dtype, [], [v]);
  }

  ints(values: number[]): string {
    return this.constant(DataType.INT64, [values.length], values);
  }

  // ---- arithmetic shorthands -------------------------------------------------------------
  add(a: string, b: string): string { return this.op1('Add', [a, b]); }
  sub(a: string, b: string): string { return this.op1('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op1('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op1('Div', [a, b]); }
  neg(a: string): string { return this.op1('Neg', [a]); }
  shape(x: string): string { return this.op1('Shape', [x]); }
  reshapeLike(g: string, like: string): string { return this.op1('Reshape', [this.beforeReshape(g), this.shape(like)]); }
  reshape(g: string, dims: number[]): string { return this.op1('Reshape', [this.beforeReshape(g), this.ints(dims)]); }

  /**
   * The data a Reshape emitted here reshapes, so that two reshapes in a row become one (fewer
   * nodes, and onnxruntime 1.30's reshape fusion fails on some Reshape → Reshape chains whose
   * first shape comes from a Shape node).
   */
  private beforeReshape(v: string): string {
    const p = this.producer.get(v);
    return p?.opType === 'Reshape' ? p.input![0]! : v;
  }
  transpose(x: string, perm: number[]): string { return this.op1('Transpose', [x], [aints('perm', perm)]); }
  cast(x: string, to: number): string { return this.op1('Cast', [x], [ai('to', to)]); }

  // ---- opset-dependent forms -------------------------------------------------------------

  /** Reduction `op` (ReduceSum, ReduceMean, ReduceMax, ...) over `axes` (undefined: all axes). */
  reduce(op: string, x: string, axes: number[] | undefined, keepdims: boolean): string {
    const inputForm = op === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    const kd = ai('keepdims', keepdims ? 1 : 0);
    if (axes === undefined) return this.op1(op, [x], [kd]);
    if (axes.length === 0) return x;
    return inputForm ? this.op1(op, [x, this.ints(axes)], [kd]) : this.op1(op, [x], [kd, aints('axes', axes)]);
  }

  reduceSum(x: string, axes: number[] | undefined, keepdims: boolean): string {
    return this.reduce('ReduceSum', x, axes, keepdims);
  }

  unsqueeze(x: string, axes: number[]): string {
    if (!axes.length) return x;
    return this.opset >= 13 ? this.op1('Unsqueeze', [x, this.ints(axes)]) : this.op1('Unsqueeze', [x], [aints('axes', axes)]);
  }

  squeeze(x: string, axes: number[]): string {
    if (!axes.length) return x;
    return this.opset >= 13 ? this.op1('Squeeze', [x, this.ints(axes)]) : this.op1('Squeeze', [x], [aints('axes', axes)]);
  }

  /** Static slice along `axes` (steps 1 before opset 10). */
  slice(x: string, starts: number[], ends: number[], axes: number[], steps?: number[]): string {
    if (this.opset >= 10) {
      const ins = [x, this.ints(starts), this.ints(ends), this.ints(axes)];
      if (steps) ins.push(this.ints(steps));
      return this.op1('Slice', ins);
    }
    if (steps && steps.some((s) => s !== 1)) throw new Error('Slice with steps needs opset 10');
    return this.op1('Slice', [x], [aints('starts', starts), aints('ends', ends), aints('axes', axes)]);
  }

  /** Constant-value padding; `pads` as in ONNX: all begins, then all ends. */
  pad(x: string, pads: number[], value: number, dtype: number): string {
    if (pads.every((p) => p === 0)) return x;
    if (this.opset >= 11) return this.op1('Pad', [x, this.ints(pads), this.scalar(dtype, value)]);
    return this.op1('Pad', [x], [aints('pads', pads), af('value', value)]);
  }

  /** Elementwise a == b for float tensors (Equal takes floats only from opset 11). */
  equal(a: string, b: string): string {
    if (this.opset >= 11) return this.op1('Equal', [a, b]);
    return this.op1('Not', [this.op1('Or', [this.op1('Greater', [a, b]), this.op1('Less', [a, b])])]);
  }

  /** Zeros of a static shape. */
  zeros(dims: number[], dtype: number): string {
    return this.op1('ConstantOfShape', [this.ints(dims)], [{ name: 'value', t: makeTensor('', dtype, [1], [0]) }]);
  }

  /** Zeros shaped like `like` (shape taken at run time). */
  zerosLike(like: string, dtype: number): string {
    return this.op1('ConstantOfShape', [this.shape(like)], [{ name: 'value', t: makeTensor('', dtype, [1], [0]) }]);
  }

  /**
   * Sums a gradient `g` of shape `gDims` down to the shape of an operand of a broadcasting op
   * (`xDims`): leading extra axes and axes where the operand has size 1 are summed, then the result
   * is reshaped to the operand's run-time shape.
   */
  sumTo(g: string, gDims: number[], x: string, xDims: number[]): string {
    const lead = gDims.length - xDims.length;
    const axes: number[] = [];
    for (let k = 0; k < gDims.length; k++) {
      if (k < lead) axes.push(k);
      else if (xDims[k - lead] === 1 && gDims[k] !== 1) axes.push(k);
    }
    if (!axes.length && lead === 0) return g;
    const r = this.reduceSum(g, axes, true);
    return this.reshapeLike(r, x);
  }
}
