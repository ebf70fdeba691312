/**
 * The graph records an export writes for a quantised layer, as protobuf bytes, net of the MatMul /
 * weight records it replaces: tensor headers (names, dims, types), the nodes that rebuild or use
 * the codes, and the small int64 shape tensors of their Reshapes. The tensors' data is cost.ts's
 * exact count; this is the structure around it, estimated from the names and shapes the exporter
 * uses (extension/runner/export/: matmulnbits.ts, dequantize.ts) to within a few bytes a record.
 * It matters for small models only (a few hundred bytes a layer), where it keeps the predicted
 * file size within 1 % of the written one (test/runner/export/cost.test.ts).
 */
import type { LayerInfo } from '../model/types';
import type { LayerPlan } from './formats';

function varint(v: number): number {
  let n = 1;
  for (let x = Math.max(0, Math.floor(v)); x >= 128; x = Math.floor(x / 128)) n++;
  return n;
}
/** A length-delimited field of n bytes. */
const field = (n: number): number => 1 + varint(n) + n;
/** A tensor record without its data: dims, type, name, the data's tag and length. */
function tensor(nameLength: number, dims: number[], dataBytes: number): number {
  const body = dims.reduce((a, d) => a + 1 + varint(d), 0) + 2 + field(nameLength) + 1 + varint(dataBytes);
  return 1 + varint(body + dataBytes) + body;
}
/** A node record: its name, op type, domain, input and output names and attributes (their sizes). */
function node(name: number, op: number, inputs: number[], outputs: number[], attributes: number[] = [], domain = 0): number {
  const body = field(name) + field(op) + (domain ? field(domain) : 0) + [...inputs, ...outputs].reduce((a, n) => a + field(n), 0) + attributes.reduce((a, n) => a + field(n), 0);
  return field(body);
}
/** An integer attribute record (name, type, value); negative values take ten bytes. */
const intAttr = (name: number, v: number): number => field(name) + 2 + 1 + (v < 0 ? 10 : varint(v));
/** A Reshape to a rank-r shape: its int64 shape tensor and its node. */
const reshape = (input: number, output: number, rank: number): number => tensor(output + 6, [rank], 8 * rank) + 8 * rank + node(output + 8, 7, [input, output + 6], [output]);
/** The short names of helper values (`_q` and a counter). */
const TEMP = 6;

/** Structure bytes an export adds for one layer written as `plan` (0 for float). */
export function graphBytes(layer: Pick<LayerInfo, 'tensorName' | 'nodeName' | 'inputName' | 'shape' | 'rows' | 'cols' | 'op' | 'transposed' | 'dtype' | 'bytes'>,
  plan: LayerPlan, q: { symmetric: boolean; group: number | 'channel' }, nnz: number): number {
  if (plan.encoding === 'float') return 0;
  // onnx-decode: an estimate (about 12 small nodes and 4 tensor records a layer); the export's record counts the file
  if (plan.encoding === 'decode') return 12 * node(12, 8, [12, 12], [12]) + 4 * tensor(layer.tensorName.length + 10, [layer.rows, 1], 0) - tensor(layer.tensorName.length, layer.shape, layer.bytes);
  const L = layer.tensorName.length;
  const x = layer.inputName.length;
  const out = x; // the consumer's output name: assumed as long as its input's
  const { rows, cols } = layer;
  const groups = q.group === 'channel' || q.group >= cols ? 1 : Math.ceil(cols / q.group);
  const removed = tensor(L, layer.shape, layer.bytes);
  const halfValues = layer.dtype === 'float16';
  let b = -removed;
  if (plan.encoding === 'matmulnbits') {
    const nb = Math.ceil(cols / plan.block!);
    const nodeName = (layer.nodeName || 'x').length;
    b += tensor(L + 3, [rows, nb, (plan.block! * plan.storedBits) / 8], 0) + tensor(L + 7, [rows * nb], 0) + (q.symmetric ? 0 : tensor(L + 3, [rows], 0));
    const inputs = [x, L + 3, L + 7, ...(q.symmetric ? [] : [L + 3])];
    const attrs = [intAttr(1, cols), intAttr(1, rows), intAttr(4, plan.storedBits), intAttr(10, plan.block!)];
    const gemm = layer.op === 'Gemm';
    const through = gemm || nnz > 0;
    b += node(nodeName + 12, 11, inputs, [through ? out + 13 : out], attrs, 13) - node(nodeName, layer.op.length, [x, L, ...(gemm ? [L] : [])], [out], gemm ? [intAttr(6, 1)] : []);
    if (gemm) b += node(nodeName + 5, 3, [out + 13, L], [out]);
    if (nnz) {
      b += tensor(L + 5, [nnz], 0) * 3;
      b += (halfValues ? 0 : node(TEMP, 4, [L + 5], [TEMP], [intAttr(2, 1)]))
        + node(TEMP, 6, [x, L + 5], [TEMP], [intAttr(4, -1)]) + node(TEMP, 3, [TEMP, TEMP], [TEMP]) + node(TEMP, 5, [TEMP], [TEMP])
        + node(TEMP, 6, [L + 5, TEMP], [TEMP]) + node(L + 9, 15, [out + 13, TEMP, TEMP], [out], [intAttr(4, -1), field(9) + 2 + field(3)]);
    }
    return b;
  }
  const storedOrient = layer.transposed && layer.shape.length === 2;
  const sym = q.symmetric;
  if (plan.encoding === 'dequantizelinear') {
    const sDims = groups === 1 ? [rows] : [rows, groups];
    b += tensor(L + 10, [rows, cols], 0) + tensor(L + 6, sDims, 0) + (sym ? 0 : tensor(L + 11, sDims, 0));
    const target = nnz ? L + 6 : L;
    const dq = storedOrient ? target : L + 12;
    b += node(L + 17, 16, [L + 10, L + 6, ...(sym ? [] : [L + 11])], [dq], [intAttr(4, 1), ...(groups === 1 ? [] : [intAttr(10, q.group as number)])]);
    if (!storedOrient) b += (layer.transposed ? node(L + 10, 9, [dq], [L + 12], [field(4) + 2 + 4]) : 0) + reshape(L + 12, target, layer.shape.length);
  } else {
    const padded = groups * (groups === 1 ? cols : (q.group as number));
    b += tensor(L + 6, [rows, groups, padded / groups], 0) + tensor(L + 7, [rows, groups, 1], 0) + (sym ? 0 : tensor(L + 6, [rows, groups, 1], 0));
    b += node(L + 5, 4, [L + 6], [L + 12], [intAttr(2, 1)]) + (sym ? 0 : node(L + 4, 3, [L + 12, L + 6], [L + 9])) + node(L + 4, 3, [L + 9, L + 7], [L + 8]);
    b += reshape(L + 8, L + 10, 2) + (padded === cols ? 0 : node(L + 16, 5, [L + 10, L + 17, L + 15, L + 15], [L + 10]) + 3 * (tensor(L + 16, [1], 8) + 8));
    b += layer.transposed
      ? node(L + 10, 9, [L + 10], [L], [field(4) + 2 + 4]) + (storedOrient ? 0 : reshape(L + 12, L, layer.shape.length))
      : reshape(L + 10, L, layer.shape.length);
  }
  if (nnz) {
    b += tensor(L + 5, [nnz], 0) * 2 + (halfValues ? 0 : node(TEMP, 4, [L + 5], [TEMP], [intAttr(2, 1)]));
    b += reshape(L + 6, TEMP, 1) + node(L + 9, 15, [TEMP, L + 5, TEMP], [TEMP], [intAttr(4, 0)]) + reshape(TEMP, L, layer.shape.length);
  }
  return b;
}
