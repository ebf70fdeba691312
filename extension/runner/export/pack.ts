// Byte layouts of the packed formats: ONNX Runtime's MatMulNBits blobs and the codes of the
// DequantizeLinear forms (int4/uint4 two per byte, low nibble first, or one byte per code).
// Which encoding, block and code width a layer gets is the cost model's (core/cost/formats.ts).
import { groupOf, groupsOf, type QuantizedLayer } from './quant-store';

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

/** Whether every zero point is the symmetric one, 2^(bits−1) (no zero points need storing). */
export function isSymmetric(q: QuantizedLayer): boolean {
  const half = 1 << (q.bits - 1);
  return q.zeros.every((z) => z === half);
}

function packBits(values: ArrayLike<number>, n: number, bits: number, out: Uint8Array, outOffset: number): void {
  // Low bits first, value k at bit k·bits of the blob (4-bit: even k in the low nibble).
  for (let k = 0; k < n; k++) {
    const bit = k * bits;
    out[outOffset + (bit >> 3)]! |= (values[k]! << (bit & 7)) & 0xff;
  }
}

/** n 4-bit values (0..15, or −8..7 as two's complement nibbles) two per byte, the first in the low nibble. */
export function packNibbles(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let k = 0; k < values.length; k++) out[k >> 1]! |= (values[k]! & 0xf) << ((k & 1) * 4);
  return out;
}

export interface MatMulNBitsTensors {
  /** uint8 [N][blocks][blob] */
  B: Uint8Array;
  /** [N·blocks], one per block (a group's scale repeated over its blocks) */
  scales: Float32Array;
  /** uint8 [N·⌈blocks·bits/8⌉]; absent when symmetric (MatMulNBits' default zero point 2^(bits−1)) */
  zeroPoints?: Uint8Array;
  bits: number;
  blockSize: number;
  blocks: number;
  blob: number;
}

/**
 * Packs a layer for MatMulNBits (N = rows, K = cols) in `bits`-wide slots (≥ the layer's width) and
 * blocks of `blockSize` columns that do not straddle its groups. Symmetric codes are shifted so that
 * their zero is the slot's default 2^(bits−1) and no zero points are written; padding codes are the
 * zero point (value 0).
 */
export function packMatMulNBits(q: QuantizedLayer, blockSize: number, bits: number, zeros: Uint8Array): MatMulNBitsTensors {
  const symmetric = isSymmetric(q);
  const shift = symmetric ? (1 << (bits - 1)) - (1 << (q.bits - 1)) : 0;
  const K = q.cols;
  const N = q.rows;
  const blocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const groups = groupsOf(q);
  const B = new Uint8Array(N * blocks * blob);
  const scales = new Float32Array(N * blocks);
  const zpRow = Math.ceil((blocks * bits) / 8);
  const zeroPoints = symmetric ? undefined : new Uint8Array(N * zpRow);
  const vals = new Uint8Array(blockSize);
  const zpVals = new Uint8Array(blocks);
  for (let r = 0; r < N; r++) {
    for (let b = 0; b < blocks; b++) {
      const g = groupOf(q, b * blockSize);
      const z = zeros[r * groups + g]! + shift;
      scales[r * blocks + b] = q.scales[r * groups + g]!;
      zpVals[b] = z;
      for (let k = 0; k < blockSize; k++) {
        const c = b * blockSize + k;
        vals[k] = c < K ? q.codes[r * K + c]! + shift : z;
      }
      packBits(vals, blockSize, bits, B, (r * blocks + b) * blob);
    }
    if (zeroPoints) packBits(zpVals, blocks, bits, zeroPoints, r * zpRow);
  }
  return { B, scales, zeroPoints, bits, blockSize, blocks, blob };
}
