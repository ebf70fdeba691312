/**
 * The heavy loops of additive vector quantization (engine/extreme/vq.ts drives AQLM; these are its
 * inner loops in float64, native/src/vq.cc and the CUDA twins in native/src/cuda/vq.cu). The CPU
 * path sums in vq.ts's order and gives its numbers exactly; CUDA matches within rounding.
 * Arrays are used in place: the outputs (and the in/out codes, E, P) are filled by the call.
 */
import { check, checkLen } from './checks';
import { call } from './load';
import type { CallOptions, Ran } from './types';

/** A VQ layer's shape: rows × cols weights in groups of `dim`, `codebooks` books of K codewords. */
export interface VqShape {
  rows: number;
  cols: number;
  dim: number;
  codebooks: number;
  K: number;
}

const isPos = (n: number): boolean => Number.isInteger(n) && n > 0;

function checkVqShape(s: VqShape): void {
  for (const k of ['rows', 'cols', 'dim', 'codebooks', 'K'] as const) check(isPos(s[k]), `${k} must be a positive integer, got ${s[k]}`);
  check(s.cols % s.dim === 0, `dim ${s.dim} does not divide cols ${s.cols}`);
}

/** out[r] = H·x[r] for `rows` vectors x[r] of length n (row-major), H n×n symmetric. */
export async function vqRowsTimesH(H: Float64Array, X: Float64Array, rows: number, n: number, out: Float64Array, opts?: CallOptions): Promise<Ran> {
  check(isPos(rows) && isPos(n), `rows and n must be positive integers, got ${rows}, ${n}`);
  checkLen(H, n * n, 'H', `an ${n}×${n} matrix`);
  checkLen(X, rows * n, 'X', `${rows} vectors of ${n}`);
  checkLen(out, rows * n, 'out', `${rows} vectors of ${n}`);
  return call((a) => a.vqRowsTimesH, { rows, cols: n, H, X, out }, opts);
}

/** The nearest of K centroids (dimension `dim`) of each of n points, and its squared distance. */
export async function vqNearest(
  points: Float64Array, n: number, dim: number, centroids: Float64Array, K: number, assign: Int32Array, dist?: Float64Array, opts?: CallOptions,
): Promise<Ran> {
  check(isPos(n) && isPos(dim) && isPos(K), `n, dim and K must be positive integers, got ${n}, ${dim}, ${K}`);
  checkLen(points, n * dim, 'points', `${n} points of ${dim}`);
  checkLen(centroids, K * dim, 'centroids', `${K} centroids of ${dim}`);
  checkLen(assign, n, 'assign', `${n} points`);
  if (dist) checkLen(dist, n, 'dist', `${n} points`);
  return call((a) => a.vqNearest, { n, dim, K, points, centroids, assign, ...(dist ? { dist } : {}) }, opts);
}

/**
 * One greedy pass of every code (vq.ts updateCodes): codes, the residuals E = W − s·V and P = E·H
 * (rows × cols) are updated in place. H must be exactly symmetric. Returns the codes changed.
 */
export async function vqCodes(
  s: VqShape, H: Float64Array, books: Float64Array, scales: Float64Array, codes: Int32Array, E: Float64Array, P: Float64Array, opts?: CallOptions,
): Promise<{ changed: number } & Ran> {
  checkVqShape(s);
  checkLen(H, s.cols * s.cols, 'H', `a ${s.cols}×${s.cols} Hessian`);
  checkLen(books, s.codebooks * s.K * s.dim, 'books', `${s.codebooks} books of ${s.K}×${s.dim}`);
  checkLen(scales, s.rows, 'scales', `${s.rows} rows`);
  checkLen(codes, (s.rows * s.cols / s.dim) * s.codebooks, 'codes', 'the layer\'s groups × codebooks');
  checkLen(E, s.rows * s.cols, 'E', `a ${s.rows}×${s.cols} residual`);
  checkLen(P, s.rows * s.cols, 'P', `a ${s.rows}×${s.cols} residual`);
  return call((a) => a.vqCodes, { ...s, H, books, scales, codes, E, P }, opts);
}

/** N += Σ_r s_r²·A_rᵀ·H·A_r, the normal matrix ((K·dim)², row-major) of codebook `book`'s least squares (CPU only). */
export async function vqNormal(s: VqShape, book: number, H: Float64Array, codes: Int32Array, scales: Float64Array, N: Float64Array, opts?: CallOptions): Promise<Ran> {
  checkVqShape(s);
  check(Number.isInteger(book) && book >= 0 && book < s.codebooks, `book must be in 0..${s.codebooks - 1}, got ${book}`);
  checkLen(H, s.cols * s.cols, 'H', `a ${s.cols}×${s.cols} Hessian`);
  checkLen(codes, (s.rows * s.cols / s.dim) * s.codebooks, 'codes', 'the layer\'s groups × codebooks');
  checkLen(scales, s.rows, 'scales', `${s.rows} rows`);
  checkLen(N, (s.K * s.dim) ** 2, 'N', `a ${s.K * s.dim}-square normal matrix`);
  return call((a) => a.vqNormal, { ...s, book, H, codes, scales, N }, { ...opts, device: 'cpu' });
}
