/** Packing codes into ONNX tensors: MatMulNBits (native) and per-channel int8 for QDQ (TypeScript). */
import { check, checkLen, checkShape, isQuantBits } from './checks';
import { isMatMulNBitsBlock, MATMUL_NBITS_MIN_BLOCK, QUANT_BITS } from './limits';
import { call } from './load';
import type { CallOptions, MatMulNBitsPacked, Shape } from './types';

function nbitsLayout(shape: Shape, bits: number, blockSize: number): { nBlocks: number; blobSize: number; zpRow: number } {
  checkShape(shape);
  check(isQuantBits(bits), `bits must be ${QUANT_BITS.min}..${QUANT_BITS.max}, got ${bits}`);
  check(isMatMulNBitsBlock(blockSize), `blockSize must be a power of two ≥ ${MATMUL_NBITS_MIN_BLOCK}, got ${blockSize}`);
  const nBlocks = Math.ceil(shape.cols / blockSize);
  return { nBlocks, blobSize: Math.ceil((blockSize * bits) / 8), zpRow: Math.ceil((nBlocks * bits) / 8) };
}

/**
 * Packs codes (rows = N output features × cols = K) into MatMulNBits' B, and per-block zeros
 * (uint8 [N][nBlocks], optional) into its packed zero_points. Scales need no packing: float
 * [N·nBlocks] in the same order as QuantGrid.scales when groupSize = blockSize.
 */
export async function packMatMulNBits(codes: Uint8Array, shape: Shape, bits: number, blockSize: number, zeros?: Uint8Array, opts?: CallOptions): Promise<MatMulNBitsPacked> {
  const { nBlocks, blobSize, zpRow } = nbitsLayout(shape, bits, blockSize);
  checkLen(codes, shape.rows * shape.cols, 'codes', `a ${shape.rows}×${shape.cols} matrix`);
  if (zeros) checkLen(zeros, shape.rows * nBlocks, 'zeros', `${shape.rows} rows × ${nBlocks} blocks`);
  const B = new Uint8Array(shape.rows * nBlocks * blobSize);
  const zeroPoints = zeros ? new Uint8Array(shape.rows * zpRow) : undefined;
  await call((a) => a.packNBits, { ...shape, bits, blockSize, codes, zeros, B, zeroPoints }, { ...opts, device: 'cpu' });
  return { B, zeroPoints, nBlocks, blobSize };
}

/** Inverse of packMatMulNBits. */
export async function unpackMatMulNBits(
  B: Uint8Array,
  shape: Shape,
  bits: number,
  blockSize: number,
  zeroPoints?: Uint8Array,
  opts?: CallOptions,
): Promise<{ codes: Uint8Array; zeros?: Uint8Array }> {
  const { nBlocks, blobSize, zpRow } = nbitsLayout(shape, bits, blockSize);
  checkLen(B, shape.rows * nBlocks * blobSize, 'B', `${shape.rows} rows × ${nBlocks} blocks × ${blobSize} bytes`);
  if (zeroPoints) checkLen(zeroPoints, shape.rows * zpRow, 'zeroPoints', `${shape.rows} rows × ${zpRow} bytes`);
  const codes = new Uint8Array(shape.rows * shape.cols);
  const zeros = zeroPoints ? new Uint8Array(shape.rows * nBlocks) : undefined;
  await call((a) => a.unpackNBits, { ...shape, bits, blockSize, codes, zeros, B, zeroPoints }, { ...opts, device: 'cpu' });
  return { codes, zeros };
}

/**
 * Per-channel int8 for QuantizeLinear/DequantizeLinear: 8-bit codes (0..255, zero per row) become
 * int8 values q − 128 with zero points z − 128, so (q − z)·scale is unchanged. Per-row grids only.
 */
export function packInt8PerChannel(codes: Uint8Array, zeros: Float32Array, shape: Shape): { values: Int8Array; zeroPoints: Int8Array } {
  checkShape(shape);
  checkLen(codes, shape.rows * shape.cols, 'codes', `a ${shape.rows}×${shape.cols} matrix`);
  checkLen(zeros, shape.rows, 'zeros', `one zero per row (${shape.rows})`);
  const values = new Int8Array(codes.length);
  for (let i = 0; i < codes.length; i++) values[i] = codes[i] - 128;
  const zeroPoints = new Int8Array(shape.rows);
  for (let r = 0; r < shape.rows; r++) {
    check(Number.isInteger(zeros[r]) && zeros[r] >= 0 && zeros[r] <= 255, `zero ${zeros[r]} of row ${r} is not an 8-bit code`);
    zeroPoints[r] = zeros[r] - 128;
  }
  return { values, zeroPoints };
}

/** Inverse of packInt8PerChannel. */
export function unpackInt8PerChannel(values: Int8Array, zeroPoints: Int8Array): { codes: Uint8Array; zeros: Float32Array } {
  return { codes: Uint8Array.from(values, (v) => v + 128), zeros: Float32Array.from(zeroPoints, (z) => z + 128) };
}
