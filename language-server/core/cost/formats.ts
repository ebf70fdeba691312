/**
 * What each export format stores, as pure facts the checker, the allocator, the size metric and the
 * exporter share: how a quantised layer is encoded (its `Encoding`), in which code width (the
 * container a width is stored in) and whether the model's graph allows blocked / 4-bit
 * DequantizeLinear (opset 21, reached by raising the model's opset when nothing in its graph
 * changes meaning on the way). The bytes of each encoding are in cost.ts.
 */
import type { LayerInfo } from '../model/types';
import { MATMUL_NBITS_BITS, MATMUL_NBITS_BLOCKS } from '../../../native/limits';

export type ExportFormat = 'onnx-matmulnbits' | 'onnx-qdq' | 'onnx-decode' | 'onnx-fakequant';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['onnx-matmulnbits', 'onnx-qdq', 'onnx-decode', 'onnx-fakequant'];

/** The format sizes are counted in when a recipe exports nothing (what `qrecipe export` is usually asked for). */
export const DEFAULT_EXPORT_FORMAT: ExportFormat = 'onnx-matmulnbits';

/**
 * How one quantised layer is written:
 * - `matmulnbits`: com.microsoft.MatMulNBits (2-, 4- or 8-bit blocks of 16–256 columns);
 * - `dequantizelinear`: DequantizeLinear of int4/uint4 or int8/uint8 codes, per output channel or
 *   in blocks of the group size (blocked and 4-bit need opset 21);
 * - `cast-sub-mul`: 8-bit codes rebuilt with Cast/Sub/Mul (graphs that cannot reach opset 21);
 * - `decode`: onnx-decode (issue #23): scalar codes packed 1/2/4/8 bits a byte with fp16 scales and
 *   uint8 zero points, or vector codes (uint8/uint16) with fp16 codebooks and optional fp16 row
 *   scales, rebuilt by standard ops; incoherence rotations are shared per size and not counted per
 *   layer (rotations.ts counts them once a model; the export where it writes them);
 * - `float`: the layer's own float type (the fake-quant format, or a layer no packed form takes).
 */
export type Encoding = 'matmulnbits' | 'dequantizelinear' | 'cast-sub-mul' | 'decode' | 'float';

/** What the model's graph allows the exporter: its default-domain opset and op types. */
export interface GraphFacts {
  opset: number;
  /** Distinct op types of the default domain in the main graph. */
  opTypes: readonly string[];
}

/** The opset that has 4-bit and blocked DequantizeLinear. */
export const QDQ_BLOCKED_OPSET = 21;

/**
 * Ops a plain opset bump to 21 would change, with the opset that changed them: RoiAlign's default
 * coordinates (16), DFT's axis attribute (20), GridSample's mode names (20), GroupNormalization's
 * scale and bias shapes (21). Bodies of If/Loop/Scan are not inspected, so those refuse the bump too.
 */
const CHANGED_BEFORE_21: Record<string, number> = { RoiAlign: 16, DFT: 20, GridSample: 20, GroupNormalization: 21, If: 99, Loop: 99, Scan: 99 };

/** Reduce ops whose `axes` attribute became an input at opset 18: the exporter rewrites them. */
export const REDUCE_AXES_AT_18: readonly string[] = [
  'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare',
];

/** Whether DequantizeLinear may be blocked and 4-bit in this graph; `why` says why not. */
export function blockedQdq(g: GraphFacts): { ok: boolean; why?: string } {
  if (g.opset >= QDQ_BLOCKED_OPSET) return { ok: true };
  if (g.opset < 13) return { ok: false, why: `opset ${g.opset} is below 13` };
  const blocking = g.opTypes.filter((op) => (CHANGED_BEFORE_21[op] ?? 0) > g.opset);
  if (blocking.length) return { ok: false, why: `${blocking.join(', ')} would change meaning from opset ${g.opset} to ${QDQ_BLOCKED_OPSET}` };
  return { ok: true };
}

/** Whether MatMulNBits can hold this layer (a MatMul/Gemm reading its own weight directly). */
export function matmulNBitsLayer(layer: Pick<LayerInfo, 'op' | 'sharedWith' | 'via'>): boolean {
  return (layer.op === 'MatMul' || layer.op === 'Gemm') && !layer.sharedWith?.length && !layer.via?.length;
}

/**
 * MatMulNBits block size for a layer of `cols` columns quantised in groups of `group` (blocks must
 * not straddle a group, so a block divides the group unless one group spans the row): among the
 * supported blocks, the one with the fewest bytes (padding of a last partial block, one scale and
 * zero point per block); ties go to the larger block. Undefined when no supported block fits.
 */
export function matmulNBitsBlock(cols: number, group: number | 'channel', bits: number, symmetric: boolean, scaleBytes: number): number | undefined {
  const perRow = group === 'channel' || group >= cols;
  const c = containerBits('matmulnbits', bits, true);
  let best: number | undefined;
  let bestBytes = Infinity;
  for (const b of MATMUL_NBITS_BLOCKS) {
    if (!perRow && (group as number) % b !== 0) continue;
    const nb = Math.ceil(cols / b);
    const bytes = (nb * b * c) / 8 + nb * scaleBytes + (symmetric ? 0 : Math.ceil((nb * c) / 8));
    if (bytes < bestBytes) { best = b; bestBytes = bytes; }
  }
  return best;
}

/** A quantised layer's parameters as the cost model needs them. */
export interface QuantLayout {
  bits: number;
  /** Columns per group, or one group per output row. */
  group: number | 'channel';
  symmetric: boolean;
  /** Fraction of the layer's weights kept as fp16 outliers (0: none). */
  outliers?: number;
  /** Vector codes (`quantize vq`): `bits` is then codebooks·codebits/dim. */
  vq?: { dim: number; codebooks: number; codebits: number; rowScales: boolean };
  /** Incoherence rotations: only onnx-decode stores them. */
  incoherence?: 'hadamard';
}

/** The width onnx-decode packs scalar codes of `bits` in (1, 2, 4 or 8 bits, whole codes a byte). */
export function decodeBits(bits: number): number {
  return bits <= 1 ? 1 : bits <= 2 ? 2 : bits <= 4 ? 4 : 8;
}

/** How one layer is written: its encoding, code width in the file, block size (MatMulNBits). */
export interface LayerPlan {
  encoding: Encoding;
  /** Bits per code in the file (0 for float). */
  storedBits: number;
  /** The model reaches opset 21: DequantizeLinear may be blocked and 4-bit. */
  int4: boolean;
  /** MatMulNBits block size. */
  block?: number;
  /** Bytes of one scale: the layer's half type where the encoding yields it, else float32. */
  scaleBytes: number;
}

/** Outliers beside MatMulNBits are added to its output by ScatterElements(reduction add): opset 16. */
export const OUTLIER_ADD_OPSET = 16;

/** Formats that store vector codes and incoherence rotations (onnx-fakequant stores their decode); the others cannot. */
export const OWN_FORM_FORMATS: readonly ExportFormat[] = ['onnx-decode', 'onnx-fakequant'];

/**
 * Whether a run record's layer method (LayerResult.method) is a form of its own: `vq`, or a method
 * with incoherence processing (`gptq+hadamard`, `vq+hadamard`, ...).
 */
export function isOwnFormMethod(method: string | undefined): boolean {
  return method === 'vq' || !!method?.includes('+');
}

/**
 * Why `format` cannot take layers in a form of their own (vector codes when `vq`, else incoherence
 * rotations): one message for the checker (QR122), a run's export stage and `qrecipe export RUN`.
 */
export function ownFormRefusal(format: string, vq: boolean): string {
  return `${format} cannot store ${vq ? 'vector codes (quantize vq)' : 'incoherence rotations'}: export onnx-decode (standard ops that rebuild the weights) or onnx-fakequant.`;
}

/** How a quantised layer is written in `format`. */
export function planLayer(layer: Pick<LayerInfo, 'op' | 'sharedWith' | 'via' | 'cols' | 'dtype'>, format: ExportFormat, g: GraphFacts, q: QuantLayout): LayerPlan {
  const int4 = blockedQdq(g).ok;
  const half = scaleBytesOf(layer.dtype);
  if (format === 'onnx-fakequant') return { encoding: 'float', storedBits: 0, int4, scaleBytes: half };
  if (format === 'onnx-decode') return { encoding: 'decode', storedBits: q.vq ? (q.vq.codebits <= 8 ? 8 : 16) : decodeBits(q.bits), int4, scaleBytes: 2 };
  // vector codes and rotated layers have no form in the other formats (checker QR122): float
  if (q.vq || q.incoherence) return { encoding: 'float', storedBits: 0, int4, scaleBytes: half };
  if (format === 'onnx-matmulnbits' && matmulNBitsLayer(layer) && (!q.outliers || g.opset >= OUTLIER_ADD_OPSET)) {
    const block = matmulNBitsBlock(layer.cols, q.group, q.bits, q.symmetric, half);
    if (block !== undefined) return { encoding: 'matmulnbits', storedBits: containerBits('matmulnbits', q.bits, int4), int4, block, scaleBytes: half };
  }
  const perRow = q.group === 'channel' || q.group >= layer.cols;
  const encoding: Encoding = int4 || (g.opset >= 13 && perRow) ? 'dequantizelinear' : 'cast-sub-mul';
  // DequantizeLinear yields half values from half scales from opset 19 (before: float32 scales and a Cast)
  const scaleBytes = encoding === 'dequantizelinear' && !int4 && g.opset < 19 ? 4 : half;
  return { encoding, storedBits: containerBits(encoding, q.bits, int4), int4, scaleBytes };
}

/**
 * The code width an encoding stores `bits` in: MatMulNBits 2, 4 or 8 (3 in 4-bit slots, 5–7 in
 * 8); DequantizeLinear int4 for ≤ 4 bits when 4-bit is allowed, else int8; Cast/Sub/Mul 8; float
 * none (0).
 */
export function containerBits(e: Encoding, bits: number, int4: boolean): number {
  if (e === 'matmulnbits') return MATMUL_NBITS_BITS.find((b) => b >= bits) ?? 8;
  if (e === 'dequantizelinear') return int4 && bits <= 4 ? 4 : 8;
  if (e === 'cast-sub-mul') return 8;
  if (e === 'decode') return decodeBits(bits);
  return 0;
}

/** The widths an encoding stores without a wider container (of the quantisers' 2–8). */
export function nativeWidths(e: Encoding, int4: boolean): number[] {
  if (e === 'matmulnbits') return [...MATMUL_NBITS_BITS];
  if (e === 'dequantizelinear') return int4 ? [4, 8] : [8];
  if (e === 'cast-sub-mul') return [8];
  if (e === 'decode') return [2, 4, 8];
  return [2, 3, 4, 5, 6, 7, 8];
}

/**
 * The widths an allocator is offered for a candidate list under this encoding: each candidate
 * replaced by the width of the slot it would be stored in (a 3-bit layer in 4-bit MatMulNBits slots
 * costs what a 4-bit one does, with more error), without repeats, ascending. Float keeps the list.
 */
export function offeredWidths(candidates: readonly number[], e: Encoding, int4: boolean): number[] {
  return [...new Set(candidates.map((b) => (e === 'float' ? b : containerBits(e, b, int4))))].sort((a, b) => a - b);
}

/** Bytes of one scale: the layer's half type (fp16/bf16 graphs), else float32. */
export function scaleBytesOf(dtype: string): number {
  return dtype === 'float16' || dtype === 'bfloat16' ? 2 : 4;
}
