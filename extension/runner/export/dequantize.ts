// A layer whose stored weight is rebuilt from codes, in the encoding the cost model chose
// (core/cost/formats.ts): DequantizeLinear of int4/uint4 or int8/uint8 codes, per output channel or
// in blocks of the group size (opset 21), or Cast/Sub/Mul of 8-bit codes (graphs that cannot reach
// opset 21). Symmetric codes are signed with no zero points. The tensor keeps its name, so the
// consumer (and any Transpose/Cast on the way) is untouched; fp16 outliers are scattered into it.
import type { LayerInfo } from '../../../language-server/core/model/types';
import type { LayerPlan } from '../../../language-server/core/cost/formats';
import { makeNode, type NewNode } from '../engine/model/writer';
import { integerZeros, isSymmetric, packNibbles } from './pack';
import { groupsOf, type QuantizedLayer } from './quant-store';
import { addTensor, emptyParts, floatData, floatTypeOf, partsTotal, reshapeTo, temp, u8, uniq, type ExportedLayer, type Rewrite } from './rewrite';

const FLOAT_CODE = { float32: 1, float16: 10, bfloat16: 16 } as const;

/** Code values as stored: signed (code − 2^(bits−1)) when symmetric, else the codes; 4-bit packed two per byte. */
function codeBytes(values: Int32Array, bits: number): Uint8Array {
  return bits === 4 ? packNibbles(values) : Uint8Array.from(values, (v) => v & 0xff);
}

interface Built { nodes: NewNode[]; parts: ExportedLayer['parts'] }

/** DequantizeLinear (per channel, or blocked along cols) writing the weight as `target`. */
function dequantizeLinear(rw: Rewrite, layer: LayerInfo, q: QuantizedLayer, plan: LayerPlan, dims: number[], target: string): Built {
  const parts = emptyParts();
  const nodes: NewNode[] = [];
  const { rows, cols } = q;
  const base = layer.tensorName;
  const groups = groupsOf(q);
  const perRow = groups === 1;
  const sym = isSymmetric(q);
  const half = 1 << (q.bits - 1);
  const zeros = integerZeros(q)!;
  const c = plan.storedBits;
  const codeType = `${sym ? 'int' : 'uint'}${c}`;
  // MatMul weights stored [K, N] keep that orientation, so DequantizeLinear feeds the MatMul directly
  const storedOrient = layer.transposed && dims.length === 2;
  const v = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < cols; k++) v[storedOrient ? k * rows + r : r * cols + k] = q.codes[r * cols + k]! - (sym ? half : 0);
  const x = uniq(rw, `${base}_quantized`);
  parts.codes = addTensor(rw, x, codeType, storedOrient ? [cols, rows] : [rows, cols], codeBytes(v, c));
  // scales (and zero points) [rows] per channel, [rows, groups] or, stored [K, N], [groups, rows]
  const sDims = perRow ? [rows] : storedOrient ? [groups, rows] : [rows, groups];
  const arrange = <T extends Float32Array | Int32Array>(src: ArrayLike<number>, out: T): T => {
    for (let r = 0; r < rows; r++) for (let g = 0; g < groups; g++) out[storedOrient && !perRow ? g * rows + r : r * groups + g] = src[r * groups + g]!;
    return out;
  };
  const ft = floatTypeOf(layer);
  const st = plan.scaleBytes === 2 ? ft : 'float32';
  const s = uniq(rw, `${base}_scale`);
  parts.scales = addTensor(rw, s, st, sDims, floatData(st, arrange(q.scales, new Float32Array(rows * groups))));
  const inputs = [x, s];
  if (!sym) {
    const z = uniq(rw, `${base}_zero_point`);
    parts.zeros = addTensor(rw, z, codeType, sDims, codeBytes(arrange(zeros, new Int32Array(rows * groups)), c));
    inputs.push(z);
  }
  const axis = perRow ? (storedOrient ? 1 : 0) : storedOrient ? 0 : 1;
  const attributes: NewNode['attributes'] = { axis: { i: axis }, ...(perRow ? {} : { block_size: { i: q.groupSize } }) };
  const needCast = st !== ft;
  const dq = storedOrient && !needCast ? target : uniq(rw, `${base}_dequantized`);
  nodes.push({ opType: 'DequantizeLinear', name: uniq(rw, `${base}_DequantizeLinear`), inputs, outputs: [dq], attributes });
  let w = dq;
  if (needCast) {
    w = storedOrient ? target : uniq(rw, `${base}_dequantized_${ft}`);
    nodes.push({ opType: 'Cast', name: uniq(rw, `${base}_Cast`), inputs: [dq], outputs: [w], attributes: { to: { i: FLOAT_CODE[ft] } } });
  }
  if (!storedOrient) nodes.push(...toStored(rw, layer, w, dims, target));
  return { nodes, parts };
}

/** Cast/Sub/Mul over [rows, groups, group] (a shorter last group padded), then sliced to the layer. */
function castSubMul(rw: Rewrite, layer: LayerInfo, q: QuantizedLayer, dims: number[], target: string): Built {
  const parts = emptyParts();
  const nodes: NewNode[] = [];
  const { rows, cols } = q;
  const base = layer.tensorName;
  const groups = groupsOf(q);
  const gs = groups === 1 ? cols : q.groupSize;
  const padded = groups * gs;
  const sym = isSymmetric(q);
  const half = 1 << (q.bits - 1);
  const zeros = integerZeros(q)!;
  const v = new Int32Array(rows * padded);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < padded; k++) {
      const code = k < cols ? q.codes[r * cols + k]! : zeros[r * groups + groups - 1]!;
      v[r * padded + k] = code - (sym ? half : 0);
    }
  const ft = floatTypeOf(layer);
  const x = uniq(rw, `${base}_codes`);
  parts.codes = addTensor(rw, x, sym ? 'int8' : 'uint8', [rows, groups, gs], codeBytes(v, 8));
  parts.padding = rows * (padded - cols);
  const s = uniq(rw, `${base}_scales`);
  parts.scales = addTensor(rw, s, ft, [rows, groups, 1], floatData(ft, q.scales));
  const f = uniq(rw, `${base}_codes_float`);
  nodes.push({ opType: 'Cast', name: uniq(rw, `${base}_Cast`), inputs: [x], outputs: [f], attributes: { to: { i: FLOAT_CODE[ft] } } });
  let d = f;
  if (!sym) {
    const z = uniq(rw, `${base}_zeros`);
    parts.zeros = addTensor(rw, z, ft, [rows, groups, 1], floatData(ft, Float32Array.from(zeros)));
    d = uniq(rw, `${base}_centered`);
    nodes.push({ opType: 'Sub', name: uniq(rw, `${base}_Sub`), inputs: [f, z], outputs: [d] });
  }
  const grouped = uniq(rw, `${base}_grouped`);
  nodes.push({ opType: 'Mul', name: uniq(rw, `${base}_Mul`), inputs: [d, s], outputs: [grouped] });
  let w = uniq(rw, `${base}_rows_cols`);
  if (padded === cols) nodes.push(reshapeTo(rw, grouped, [rows, cols], w));
  else {
    const flat = uniq(rw, `${base}_padded`);
    nodes.push(reshapeTo(rw, grouped, [rows, padded], flat));
    nodes.push(slice(rw, flat, cols, w));
  }
  if (layer.transposed && dims.length === 2) {
    nodes.push({ opType: 'Transpose', name: uniq(rw, `${base}_Transpose`), inputs: [w], outputs: [target], attributes: { perm: { ints: [1, 0] } } });
    w = target;
  } else nodes.push(...toStored(rw, layer, w, dims, target));
  return { nodes, parts };
}

/** Columns 0..cols of a [rows, padded] tensor (Slice with inputs from opset 10, attributes before). */
function slice(rw: Rewrite, input: string, cols: number, output: string): NewNode {
  const name = uniq(rw, `${output}_Slice`);
  if (rw.opset < 10) return { opType: 'Slice', name, inputs: [input], outputs: [output], attributes: { starts: { ints: [0] }, ends: { ints: [cols] }, axes: { ints: [1] } } };
  const t = (what: string, v: number): string => {
    const n = uniq(rw, `${output}_${what}`);
    rw.editor.addInitializer(n, 'int64', [1], u8(new BigInt64Array([BigInt(v)])));
    return n;
  };
  return { opType: 'Slice', name, inputs: [input, t('starts', 0), t('ends', cols), t('axes', 1)], outputs: [output] };
}

/** From the rows × cols weight `w` to the stored tensor `target` (Transpose for Wᵀ layers, Reshape to the stored dims). */
function toStored(rw: Rewrite, layer: LayerInfo, w: string, dims: number[], target: string): NewNode[] {
  const base = layer.tensorName;
  if (layer.transposed) {
    const t = uniq(rw, `${base}_transposed`);
    return [
      { opType: 'Transpose', name: uniq(rw, `${base}_Transpose`), inputs: [w], outputs: [t], attributes: { perm: { ints: [1, 0] } } },
      reshapeTo(rw, t, dims, target),
    ];
  }
  return [reshapeTo(rw, w, dims, target)];
}

/** The outliers scattered into the rebuilt weight (flat index in the stored layout). */
function scatterOutliers(rw: Rewrite, layer: LayerInfo, q: QuantizedLayer, dense: string, dims: number[], parts: ExportedLayer['parts']): NewNode[] {
  const o = q.outliers!;
  const nnz = o.values.length;
  const base = layer.tensorName;
  const idx = new Int32Array(nnz);
  for (let r = 0; r < q.rows; r++)
    for (let k = o.rowPtr[r]!; k < o.rowPtr[r + 1]!; k++) idx[k] = layer.transposed ? o.colIdx[k]! * q.rows + r : r * q.cols + o.colIdx[k]!;
  const idxName = uniq(rw, `${base}_oidx`);
  const valName = uniq(rw, `${base}_oval`);
  parts.outliers = addTensor(rw, idxName, 'int32', [nnz], u8(idx)) + addTensor(rw, valName, 'float16', [nnz], u8(o.values));
  parts.nnz = nnz;
  const nodes: NewNode[] = [];
  const ft = floatTypeOf(layer);
  let values = valName;
  if (ft !== 'float16') {
    values = temp(rw);
    nodes.push({ opType: 'Cast', inputs: [valName], outputs: [values], attributes: { to: { i: FLOAT_CODE[ft] } } });
  }
  const flat = temp(rw);
  const scattered = temp(rw);
  nodes.push(reshapeTo(rw, dense, [-1], flat));
  nodes.push({ opType: rw.opset >= 11 ? 'ScatterElements' : 'Scatter', name: uniq(rw, `${base}_outliers`), inputs: [flat, idxName, values], outputs: [scattered], attributes: { axis: { i: 0 } } });
  nodes.push(reshapeTo(rw, scattered, dims, layer.tensorName));
  return nodes;
}

export function toDequantize(rw: Rewrite, layer: LayerInfo, q: QuantizedLayer, plan: LayerPlan): ExportedLayer {
  const stored = rw.editor.tensor(layer.tensorName)!;
  const dims = (stored.dims ?? []).map(Number);
  const consumer = rw.index.consumers.get(layer.tensorName)?.[0];
  const constantNode = rw.editor.graph.node.find((n) => n.opType === 'Constant' && n.output?.[0] === layer.tensorName);
  if (constantNode) rw.editor.graph.node.splice(rw.editor.graph.node.indexOf(constantNode), 1);
  else rw.editor.removeInitializer(layer.tensorName);
  const hasOutliers = !!q.outliers?.values.length;
  const target = hasOutliers ? uniq(rw, `${layer.tensorName}_dense`) : layer.tensorName;
  const built = plan.encoding === 'dequantizelinear' ? dequantizeLinear(rw, layer, q, plan, dims, target) : castSubMul(rw, layer, q, dims, target);
  if (hasOutliers) built.nodes.push(...scatterOutliers(rw, layer, q, target, dims, built.parts));
  // Insert right before the weight's first consumer (found by identity, names may be empty).
  const at = consumer ? rw.editor.graph.node.indexOf(consumer) : -1;
  rw.editor.graph.node.splice(at >= 0 ? at : rw.editor.graph.node.length, 0, ...built.nodes.map(makeNode));
  return {
    name: layer.name, encoding: plan.encoding, bits: q.bits, storedBits: plan.storedBits, parts: built.parts, bytes: partsTotal(built.parts),
    floatBytes: 4 * layer.params, params: layer.params,
  };
}
