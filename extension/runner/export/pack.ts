// Byte layouts of the packed formats: ONNX Runtime's MatMulNBits blobs and the codes of the
// DequantizeLinear form. Stopgap in the runner until native/index.ts offers the same packing.
import { MATMUL_NBITS_BITS, MATMUL_NBITS_BLOCKS } from '../../../native/limits';
import { groupOf, groupsOf, type QuantizedLayer } from './quant-store';

/** The smallest supported container for `bits`: 3-bit codes go into 4-bit slots, 5–7 into 8. */
export function containerBits(bits: number): number {
  const c = MATMUL_NBITS_BITS.find((b) => b >= bits);
  if (c === undefined) throw new Error(`no MatMulNBits width holds ${bits}-bit codes`);
  return c;
}

/**
 * MatMulNBits block size for a layer: one group per row uses the next power of two ≥ cols (at most
 * 256, each block repeating the row's scale and zero); groups use the largest supported block that
 * divides the group size (blocks of one group repeat its scale and zero, which is exact).
 */
export function blockSizeFor(q: QuantizedLayer): number | undefined {
  if (q.gIdx) return undefined;
  if (q.groupSize >= q.cols) return Math.min(256, Math.max(16, 2 ** Math.ceil(Math.log2(q.cols))));
  return MATMUL_NBITS_BLOCKS.find((b) => q.groupSize % b === 0);
}

/** Integer zero points (asymmetric GPTQ/RTN zeros are rounded already); undefined if one is not. */
export function integerZeros(q: QuantizedLayer): Uint8Array | undefined {
  const out = new Uint8Array(q.zeros.length);
  const maxq = (1 << q.bits) - 1;
  for (let k = 0; k < q.zeros.length; k++) {
    const z = q.zeros[k]!;
    if (!Number.isInteger(z) || z < 0 || z > maxq) return undefined;
    out[k] = z;
  }
  return out;
}

function packBits(values: ArrayLike<number>, n: number, bits: number, out: Uint8Array, outOffset: number): void {
  // Low bits first, value k at bit k·bits of the blob (4-bit: even k in the low nibble).
  for (let k = 0; k < n; k++) {
    const bit = k * bits;
    out[outOffset + (bit >> 3)]! |= (values[k]! << (bit & 7)) & 0xff;
  }
}

export interface MatMulNBitsTensors {
  /** uint8 [N][blocks][blob] */
  B: Uint8Array;
  /** float32 [N·blocks] */
  scales: Float32Array;
  /** uint8 [N·⌈blocks·bits/8⌉] */
  zeroPoints: Uint8Array;
  bits: number;
  blockSize: number;
  blocks: number;
  blob: number;
}

/** Packs a layer for MatMulNBits (N = rows, K = cols); padding codes equal the zero point (value 0). */
export function packMatMulNBits(q: QuantizedLayer, blockSize: number, zeros: Uint8Array): MatMulNBitsTensors {
  const bits = containerBits(q.bits);
  const K = q.cols;
  const N = q.rows;
  const blocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const groups = groupsOf(q);
  const B = new Uint8Array(N * blocks * blob);
  const scales = new Float32Array(N * blocks);
  const zpRow = Math.ceil((blocks * bits) / 8);
  const zeroPoints = new Uint8Array(N * zpRow);
  const vals = new Uint8Array(blockSize);
  const zpVals = new Uint8Array(blocks);
  for (let r = 0; r < N; r++) {
    for (let b = 0; b < blocks; b++) {
      const g = groupOf(q, b * blockSize);
      const z = zeros[r * groups + g]!;
      scales[r * blocks + b] = q.scales[r * groups + g]!;
      zpVals[b] = z;
      for (let k = 0; k < blockSize; k++) {
        const c = b * blockSize + k;
        vals[k] = c < K ? q.codes[r * K + c]! : z;
      }
      packBits(vals, blockSize, bits, B, (r * blocks + b) * blob);
    }
    packBits(zpVals, blocks, bits, zeroPoints, r * zpRow);
  }
  return { B, scales, zeroPoints, bits, blockSize, blocks, blob };
}
