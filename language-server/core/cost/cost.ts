/**
 * The one cost model: the bytes a quantised layer takes in an exported file, by encoding (formats.ts
 * says which encoding and code width a layer gets), and the size of a compressed model. The
 * recipe checker (budgets QR206, inlay hints), the allocator, the `size` metric, the Runs view,
 * Compare and the exporter's record all count with these functions, and the exporter writes
 * exactly these tensors (test/runner/export/cost.test.ts checks every byte against written files).
 *
 * Definitions:
 * - a layer's bytes: its codes (padding of a partial MatMulNBits block included), scales (the
 *   layer's half type in fp16/bf16 graphs, else float32), zero points (none when symmetric: every
 *   encoding then stores signed codes or relies on MatMulNBits' default zero point 2^(b−1)) and
 *   outliers (fp16 value + int32 indices: row and column beside MatMulNBits, which adds them to its
 *   output; one flat index where the weight is rebuilt);
 * - a model's size: the source file's bytes with each compressed layer's weight replaced by its
 *   bytes and the graph records written around them (graph.ts; a tensor shared by tied layers once),
 *   plus the incoherence rotations' shared sign vectors and Hadamard factors (rotations.ts), which
 *   count as bytes of the quantised layers;
 * - bits per weight: 8 × bytes of the quantised layers / their parameters (everything they store
 *   counted: codes, scales, zero points, outliers, padding, shared rotations).
 */
import type { LayerInfo } from '../model/types';
import { outlierCount } from '../../../native/limits';
import { planLayer, type ExportFormat, type GraphFacts, type LayerPlan, type QuantLayout } from './formats';
import { rotationTensors } from './rotations';

export { outlierCount };

/** LLM-MQ keeps outliers at the widths up to this (it protects its low-precision layers). */
export const OUTLIER_MAX_BITS = 3;

/** The outlier fraction an allocate stage's layer gets at `bits` under its `outliers` setting. */
export function outlierFractionAt(bits: number, outliers: number): number {
  return bits <= OUTLIER_MAX_BITS ? outliers : 0;
}

/** Bytes per outlier: fp16 value + int32 row + int32 column (MatMulNBits), fp16 value + int32 flat index (rebuilt weights). */
export const OUTLIER_BYTES = { matmulnbits: 10, rebuilt: 6 } as const;

export interface LayerCost {
  /** Code bytes, padding included. */
  codes: number;
  /** Of the code bytes, those padding a last partial block. */
  padding: number;
  scales: number;
  /** Zero points (0 when symmetric). */
  zeros: number;
  /** Outlier values and indices. */
  outliers: number;
  /** Outliers kept. */
  nnz: number;
  /** Codebooks (and their offsets) of vector codes (onnx-decode). */
  books?: number;
  /** Hadamard factors and sign vectors the export wrote at this layer (onnx-decode; shared by size, so not in a layer's planned cost: modelSize counts them once). */
  rotations?: number;
  total: number;
}

type Shape = Pick<LayerInfo, 'rows' | 'cols' | 'dtype' | 'bytes'>;

/** Bytes of one quantised layer written as `plan` says (the float encoding: the layer as stored). */
export function layerCost(layer: Shape, q: QuantLayout, plan: LayerPlan): LayerCost {
  const { rows, cols } = layer;
  if (plan.encoding === 'float') return { codes: layer.bytes, padding: 0, scales: 0, zeros: 0, outliers: 0, nnz: 0, total: layer.bytes };
  if (plan.encoding === 'decode') return decodeCost(layer, q, plan);
  const sb = plan.scaleBytes;
  const c = plan.storedBits;
  const nnz = outlierCount(rows * cols, q.outliers ?? 0);
  let codes: number;
  let padding = 0;
  let scales: number;
  let zeros: number;
  let outliers: number;
  if (plan.encoding === 'matmulnbits') {
    const b = plan.block!;
    const nb = Math.ceil(cols / b);
    codes = (rows * nb * b * c) / 8;
    padding = (rows * (nb * b - cols) * c) / 8;
    scales = rows * nb * sb;
    zeros = q.symmetric ? 0 : rows * Math.ceil((nb * c) / 8);
    outliers = nnz * OUTLIER_BYTES.matmulnbits;
  } else {
    const g = q.group === 'channel' || q.group >= cols ? cols : q.group;
    const groups = rows * Math.ceil(cols / g);
    codes = Math.ceil((rows * cols * c) / 8);
    // Cast/Sub/Mul rebuilds [rows, groups, g]: a shorter last group is padded
    if (plan.encoding === 'cast-sub-mul') { padding = rows * (Math.ceil(cols / g) * g - cols); codes += padding; }
    scales = groups * sb;
    zeros = q.symmetric ? 0 : plan.encoding === 'cast-sub-mul' ? groups * sb : Math.ceil((groups * c) / 8);
    outliers = nnz * OUTLIER_BYTES.rebuilt;
  }
  return { codes, padding, scales, zeros, outliers, nnz, total: codes + scales + zeros + outliers };
}

/**
 * onnx-decode's bytes of a layer: vector codes (one uint8/uint16 per vector and codebook) with fp16
 * codebooks (int32 offsets beside several) and optional fp16 row scales; or scalar codes packed at
 * decodeBits with an fp16 scale and a uint8 zero point per group (written even when symmetric).
 */
function decodeCost(layer: Shape, q: QuantLayout, plan: LayerPlan): LayerCost {
  const { rows, cols } = layer;
  if (q.vq) {
    const { dim, codebooks: M, codebits } = q.vq;
    const codes = rows * (cols / dim) * M * (plan.storedBits / 8);
    const books = M * 2 ** codebits * dim * 2 + (M > 1 ? 4 * M : 0);
    const scales = q.vq.rowScales ? 2 * rows : 0;
    return { codes, padding: 0, scales, zeros: 0, outliers: 0, nnz: 0, books, total: codes + books + scales };
  }
  const g = q.group === 'channel' || q.group >= cols ? cols : q.group;
  const groups = rows * Math.ceil(cols / g);
  const codes = Math.ceil((rows * cols * plan.storedBits) / 8);
  return { codes, padding: 0, scales: 2 * groups, zeros: groups, outliers: 0, nnz: 0, total: codes + 3 * groups };
}

/** Whether a layer planned as `plan` stores incoherence rotations (only onnx-decode writes them). */
export function storesRotations(q: QuantLayout, plan: LayerPlan): boolean {
  return plan.encoding === 'decode' && !!q.incoherence;
}

/** A compressed model's size: the file bytes and bits per weight of its quantised layers. */
export interface ModelSize {
  /** The model file's bytes (external data included) after compression. */
  bytes: number;
  /** Bytes and parameters of the quantised layers (a shared tensor once). */
  quantizedBytes: number;
  quantizedParams: number;
  /** Of quantizedBytes, the shared rotation sign vectors and factors (present when any). */
  rotationBytes?: number;
  /** 8 · quantizedBytes / quantizedParams; undefined when no layer is quantised. */
  bitsPerWeight?: number;
}

/**
 * The size of a model (`fileBytes`: its file with external data) whose listed layers are written
 * with the given bytes (and `graph` bytes of records around them, graph.ts); the other layers stay
 * as they are. Layers sharing one tensor count once. `rotated` layers (storesRotations) add the
 * shared rotation tensors of all of them once (rotations.ts).
 */
export function modelSize(fileBytes: number, layers: Iterable<{ layer: Pick<LayerInfo, 'tensorName' | 'bytes' | 'params' | 'rows' | 'cols'>; bytes: number; graph?: number; quantized: boolean; rotated?: boolean }>): ModelSize {
  const seen = new Set<string>();
  let bytes = fileBytes;
  let quantizedBytes = 0;
  let quantizedParams = 0;
  const rotated: { rows: number; cols: number }[] = [];
  for (const { layer, bytes: b, graph, quantized, rotated: r } of layers) {
    if (seen.has(layer.tensorName)) continue;
    seen.add(layer.tensorName);
    bytes += b - layer.bytes + (graph ?? 0);
    if (quantized) { quantizedBytes += b; quantizedParams += layer.params; }
    if (r) rotated.push(layer);
  }
  const rotationBytes = rotationTensors(rotated).bytes;
  bytes += rotationBytes;
  quantizedBytes += rotationBytes;
  return {
    bytes, quantizedBytes, quantizedParams, ...(rotationBytes ? { rotationBytes } : {}),
    ...(quantizedParams ? { bitsPerWeight: (8 * quantizedBytes) / quantizedParams } : {}),
  };
}

/** What an allocator counts for one candidate: a LayerCost with scales and zero points together. */
export interface AllocationBytes { codes: number; scales: number; outliers: number; total: number }

/** A layer's bytes at one width as `format` writes it in a graph like `g` (the allocator's cost). */
export function allocationBytes(layer: Pick<LayerInfo, 'op' | 'sharedWith' | 'via' | 'rows' | 'cols' | 'dtype' | 'bytes'>, q: QuantLayout, format: ExportFormat, g: GraphFacts): AllocationBytes {
  const c = layerCost(layer, q, planLayer(layer, format, g, q));
  return { codes: c.codes, scales: c.scales + c.zeros, outliers: c.outliers, total: c.total };
}

/** The allocation bytes of a float32 MatMul of this shape in `format` (tests and benchmarks of the allocator). */
export function layerBytes(shape: { rows: number; cols: number }, q: QuantLayout, format: ExportFormat = 'onnx-matmulnbits'): AllocationBytes {
  const layer = { op: 'MatMul' as const, rows: shape.rows, cols: shape.cols, dtype: 'float32', bytes: 4 * shape.rows * shape.cols };
  return allocationBytes(layer, q, format, { opset: 21, opTypes: [] });
}
