/**
 * What the native backend accepts, as pure facts: this file loads no addon and imports nothing, so
 * the shared core (the recipe schema) may import it and check a recipe against the same numbers
 * the calls of native/index.ts check before they run. The addon checks them again in C++
 * (native/src/bindings.cc); test/native/api.test.ts keeps the two sides equal.
 */

/** Bit widths of the quantisers (QuantSpec.bits, quantError's widths, MatMulNBits packing). */
export const QUANT_BITS = { min: 2, max: 8 } as const;

/** GPTQ / SparseGPT lazy-update block (`blockSize`), in columns: the default and the largest accepted. */
export const OBS_BLOCK = { default: 128, max: 4096 } as const;

/**
 * Outliers kept for a fraction of a layer's n weights: ⌊fraction·n⌋ (the small epsilon keeps a
 * fraction written in percent, e.g. 1% of 100, from rounding down). The outlier call and the cost
 * model both count with it.
 */
export function outlierCount(n: number, fraction: number): number {
  return Math.floor(fraction * n + 1e-9);
}

/** N:M sparsity: 0 < n < m ≤ NM_MAX_M. */
export const NM_MAX_M = 64;

/**
 * Bit widths ONNX Runtime 1.30's CPU MatMulNBits accepts (3, 5, 6 and 7 are refused at session
 * creation; test/native/pack.test.ts keeps the list honest).
 */
export const MATMUL_NBITS_BITS: readonly number[] = [2, 4, 8];

/** MatMulNBits stores blocks of a power of two of at least this many columns. */
export const MATMUL_NBITS_MIN_BLOCK = 16;

/** Block sizes ONNX Runtime 1.30's MatMulNBits accepts, largest first (512 and up are refused). */
export const MATMUL_NBITS_BLOCKS: readonly number[] = [256, 128, 64, 32, 16];

/** Whether MatMulNBits can store quantisation blocks (groups) of `columns` columns. */
export function isMatMulNBitsBlock(columns: number): boolean {
  return Number.isInteger(columns) && columns >= MATMUL_NBITS_MIN_BLOCK && (columns & (columns - 1)) === 0;
}

/**
 * Options the CUDA GPTQ / SparseGPT kernels cover (`cuda::supports`): block 128, group sizes that
 * are multiples of 32, N:M with m dividing 32. Other options run on the CPU (and report 'cpu').
 */
export const CUDA_OBS = { blockSize: 128, groupMultiple: 32, mDivides: 32 } as const;
