// A MatMul/Gemm layer as com.microsoft.MatMulNBits: codes in 2-, 4- or 8-bit slots and blocks the
// cost model chose (core/cost/formats.ts), scales per block, zero points unless symmetric, and the
// layer's fp16 outliers added to its output: Y += scatter_add(rows, X[..., cols] · values).
import type { LayerInfo } from '../../../language-server/core/model/types';
import type { NodeProto } from '../../../language-server/core/model/onnx-proto';
import type { LayerPlan } from '../../../language-server/core/cost/formats';
import { attrInt } from '../../../language-server/core/model/graph';
import { makeNode, type NewNode } from '../engine/model/writer';
import { integerZeros, packMatMulNBits } from './pack';
import type { QuantizedLayer } from './quant-store';
import { addTensor, emptyParts, floatData, floatTypeOf, partsTotal, temp, u8, uniq, type ExportedLayer, type Rewrite } from './rewrite';

/** Why MatMulNBits cannot replace this node (undefined: it can). */
export function matmulNBitsBlocker(rw: Rewrite, layer: LayerInfo, node: NodeProto | undefined): string | undefined {
  if (!node) return 'consumer node not found';
  if (node.input?.[1] !== layer.tensorName) return 'its weight is not the direct B input';
  if ((rw.index.consumers.get(layer.tensorName) ?? []).length !== 1) return 'its weight has other consumers';
  if (layer.op === 'Gemm') {
    const alpha = node.attribute?.find((a) => a.name === 'alpha')?.f ?? 1;
    const beta = node.attribute?.find((a) => a.name === 'beta')?.f ?? 1;
    if (attrInt(node, 'transA', 0) !== 0 || alpha !== 1 || (node.input?.[2] && beta !== 1)) return 'Gemm with transA/alpha/beta';
  }
  return undefined;
}

/** Nodes adding a layer's outliers to `y` (shape [..., N]) from its input `x` ([..., K]), written to `out`. */
function outlierNodes(rw: Rewrite, layer: LayerInfo, q: QuantizedLayer, x: string, y: string, out: string, parts: ExportedLayer['parts']): NewNode[] {
  const o = q.outliers!;
  const nnz = o.values.length;
  const base = layer.tensorName;
  const rows = new Int32Array(nnz);
  for (let r = 0; r < q.rows; r++) rows.fill(r, o.rowPtr[r]!, o.rowPtr[r + 1]!);
  const rowName = uniq(rw, `${base}_orow`);
  const colName = uniq(rw, `${base}_ocol`);
  const valName = uniq(rw, `${base}_oval`);
  parts.outliers += addTensor(rw, rowName, 'int32', [nnz], u8(rows));
  parts.outliers += addTensor(rw, colName, 'int32', [nnz], u8(o.colIdx));
  parts.outliers += addTensor(rw, valName, 'float16', [nnz], u8(o.values));
  parts.nnz = nnz;
  const ft = floatTypeOf(layer);
  const nodes: NewNode[] = [];
  let values = valName;
  if (ft !== 'float16') {
    values = temp(rw);
    nodes.push({ opType: 'Cast', inputs: [valName], outputs: [values], attributes: { to: { i: ft === 'float32' ? 1 : 16 } } });
  }
  const [picked, products, shape, index] = [temp(rw), temp(rw), temp(rw), temp(rw)];
  nodes.push(
    { opType: 'Gather', inputs: [x, colName], outputs: [picked], attributes: { axis: { i: -1 } } },
    { opType: 'Mul', inputs: [picked, values], outputs: [products] },
    { opType: 'Shape', inputs: [products], outputs: [shape] },
    { opType: 'Expand', inputs: [rowName, shape], outputs: [index] },
    { opType: 'ScatterElements', name: uniq(rw, `${base}_outliers`), inputs: [y, index, products], outputs: [out], attributes: { axis: { i: -1 }, reduction: { s: 'add' } } },
  );
  return nodes;
}

export function toMatMulNBits(rw: Rewrite, layer: LayerInfo, node: NodeProto, q: QuantizedLayer, plan: LayerPlan): ExportedLayer {
  const p = packMatMulNBits(q, plan.block!, plan.storedBits, integerZeros(q)!);
  const base = layer.tensorName;
  const parts = emptyParts();
  const bName = uniq(rw, `${base}_Q${p.bits}`);
  const sName = uniq(rw, `${base}_scales`);
  parts.codes = addTensor(rw, bName, 'uint8', [q.rows, p.blocks, p.blob], p.B);
  parts.padding = (q.rows * (p.blocks * p.blockSize - q.cols) * p.bits) / 8;
  const st = floatTypeOf(layer);
  parts.scales = addTensor(rw, sName, st, [q.rows * p.blocks], floatData(st, p.scales));
  const inputs = [node.input![0]!, bName, sName];
  if (p.zeroPoints) {
    const zName = uniq(rw, `${base}_zp`);
    parts.zeros = addTensor(rw, zName, 'uint8', [p.zeroPoints.length], p.zeroPoints);
    inputs.push(zName);
  }
  const out = node.output![0]!;
  const bias = layer.op === 'Gemm' ? node.input?.[2] : undefined;
  const hasOutliers = !!q.outliers?.values.length;
  const mmOut = bias || hasOutliers ? uniq(rw, `${out}_matmulnbits`) : out;
  const nodes: NewNode[] = [{
    opType: 'MatMulNBits', domain: 'com.microsoft', name: uniq(rw, `${node.name || out}_MatMulNBits`),
    inputs, outputs: [mmOut], attributes: { K: { i: q.cols }, N: { i: q.rows }, bits: { i: p.bits }, block_size: { i: p.blockSize } },
  }];
  let y = mmOut;
  if (hasOutliers) {
    const withOutliers = bias ? uniq(rw, `${out}_with_outliers`) : out;
    nodes.push(...outlierNodes(rw, layer, q, node.input![0]!, y, withOutliers, parts));
    y = withOutliers;
  }
  if (bias) nodes.push({ opType: 'Add', domain: '', name: uniq(rw, `${node.name || out}_bias`), inputs: [y, bias], outputs: [out], attributes: {} });
  // Nodes are found by identity: exporters leave names empty or repeated. The replaced node's
  // metadata (e.g. the dynamo exporter's module path, which layer naming reads) stays with its op.
  const made = nodes.map(makeNode);
  if (node.metadataProps?.length) made[0]!.metadataProps = node.metadataProps;
  const at = rw.editor.graph.node.indexOf(node);
  rw.editor.graph.node.splice(at, 1, ...made);
  rw.editor.removeInitializer(layer.tensorName);
  return { name: layer.name, encoding: 'matmulnbits', bits: q.bits, storedBits: p.bits, parts, bytes: partsTotal(parts), floatBytes: 4 * layer.params, params: layer.params };
}
