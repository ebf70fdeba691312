/**
 * The checks every call of the native API makes before the addon runs (the addon checks again):
 * shapes, array lengths, quantiser and sparsity options against native/limits.ts.
 */
import { NM_MAX_M, OBS_BLOCK, QUANT_BITS } from './limits';
import type { QuantSpec, Shape, SparsityPattern } from './types';

export function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new RangeError(msg);
}

export function checkShape(s: Shape, what = 'weight'): void {
  check(Number.isInteger(s.rows) && s.rows > 0 && Number.isInteger(s.cols) && s.cols > 0,
    `${what} shape must be positive integers, got ${s.rows}×${s.cols}`);
}

export function checkLen(a: { length: number } | undefined, n: number, name: string, kind: string): void {
  if (!a) throw new TypeError(`${name} is missing`);
  check(a.length === n, `${name} has ${a.length} elements but ${kind} needs ${n}`);
}

/** W (rows × cols) of a call, and H (cols × cols) when given. */
export function checkWeight(W: Float32Array, shape: Shape, H?: Float32Array): void {
  checkShape(shape);
  const { rows, cols } = shape;
  checkLen(W, rows * cols, 'W', `a ${rows}×${cols} weight`);
  if (H) checkLen(H, cols * cols, 'H', `a ${cols}×${cols} Hessian`);
}

/** A quantiser bit width: an integer of QUANT_BITS. */
export function isQuantBits(bits: number): boolean {
  return Number.isInteger(bits) && bits >= QUANT_BITS.min && bits <= QUANT_BITS.max;
}

/** Checks q against a layer of `cols` columns; returns the groups per row (⌈cols/groupSize⌉: a shorter last group). */
export function checkQuant(q: QuantSpec, cols: number): number {
  check(isQuantBits(q.bits), `bits must be an integer in ${QUANT_BITS.min}..${QUANT_BITS.max}, got ${q.bits}`);
  const g = q.groupSize ?? 0;
  check(Number.isInteger(g) && g >= 0, `groupSize must be a non-negative integer, got ${g}`);
  return g === 0 ? 1 : Math.ceil(cols / g);
}

/** GPTQ's hold array: one of HOLD's values per entry (rows × cols). */
export function checkHold(hold: Uint8Array, n: number): void {
  checkLen(hold, n, 'hold', `${n} entries`);
  for (let i = 0; i < hold.length; i++) check(hold[i]! <= 2, `hold[${i}] is ${hold[i]}: 0 (quantise), 1 (pruned) or 2 (outlier)`);
}

/** The lazy-update block of GPTQ / SparseGPT (default OBS_BLOCK.default). */
export function checkBlockSize(blockSize: number = OBS_BLOCK.default): number {
  check(Number.isInteger(blockSize) && blockSize >= 1 && blockSize <= OBS_BLOCK.max,
    `blockSize must be 1..${OBS_BLOCK.max}, got ${blockSize}`);
  return blockSize;
}

export function checkPattern(p: SparsityPattern, cols: number): { sparsity: number; n: number; m: number } {
  const n = p.n ?? 0;
  const m = p.m ?? 0;
  if (n || m) {
    check(Number.isInteger(n) && Number.isInteger(m) && n > 0 && n < m && m <= NM_MAX_M,
      `N:M must satisfy 0 < n < m ≤ ${NM_MAX_M}, got ${n}:${m}`);
    check(cols % m === 0, `cols ${cols} is not a multiple of m=${m} for ${n}:${m} sparsity`);
  }
  const sparsity = p.sparsity ?? 0.5;
  check(sparsity >= 0 && sparsity < 1, `sparsity must be in [0, 1), got ${sparsity}`);
  return { sparsity, n, m };
}

/** The quantiser fields of a raw job. */
export function quantFields(q: QuantSpec): Record<string, unknown> {
  return { bits: q.bits, groupSize: q.groupSize ?? 0, symmetric: !!q.symmetric, mse: !!q.mse };
}
