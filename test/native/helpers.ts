/** Shared fixtures of the native tests: a random layer with correlated calibration activations. */
import { correlatedActivations, hessian64, randn } from './reference/random';

export interface TestLayer {
  rows: number;
  cols: number;
  tokens: number;
  W: Float32Array;
  X: Float32Array;
  /** float32 Hessian (2/samples)·XᵀX, samples = tokens/64 */
  H: Float32Array;
  H64: Float64Array;
  samples: number;
}

export function makeLayer(rows: number, cols: number, tokens: number, seed: number): TestLayer {
  const W = randn(rows * cols, seed, 0.05);
  // a few large weights, as real layers have
  for (let i = 0; i < W.length; i += 97) W[i] *= 4;
  const X = correlatedActivations(tokens, cols, seed + 100);
  const samples = Math.max(1, tokens / 64);
  const H64 = hessian64(X, tokens, cols, samples);
  return { rows, cols, tokens, W, X, H: Float32Array.from(H64), H64, samples };
}

/** Number of positions where two code arrays differ. */
export function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

export function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30);
}
