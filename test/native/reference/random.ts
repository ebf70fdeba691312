/** Seeded random data for the native tests: weights, correlated activations, their Hessian. */
import { Rng } from '../../../language-server/core/util/rng';

/** Seeded uniform [0, 1) numbers: the core's generator, so tests and product share one. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

export function gaussian(seed: number): () => number {
  const u = rng(seed);
  return () => {
    const a = Math.max(u(), 1e-12);
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * u());
  };
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const g = gaussian(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = g() * scale;
  return out;
}

/**
 * Activations with realistic correlation: X = Z·A (tokens × cols), Z standard normal, A a random
 * mixing matrix with decaying column scales, plus a few large-magnitude features like in LLMs.
 */
export function correlatedActivations(tokens: number, cols: number, seed: number, latent = Math.max(8, cols >> 2)): Float32Array {
  const Z = randn(tokens * latent, seed);
  const A = randn(latent * cols, seed + 1);
  const colScale = Array.from({ length: cols }, (_, j) => (j % 17 === 3 ? 6 : 0.5 + 1.5 * Math.exp(-j / cols)));
  const X = new Float32Array(tokens * cols);
  for (let t = 0; t < tokens; t++)
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < latent; k++) s += Z[t * latent + k] * A[k * cols + j];
      X[t * cols + j] = (s / Math.sqrt(latent)) * colScale[j];
    }
  return X;
}

/** H = (2/samples)·XᵀX in float64 (samples = number of calibration samples the tokens come from). */
export function hessian64(X: Float32Array, tokens: number, cols: number, samples: number): Float64Array {
  const H = new Float64Array(cols * cols);
  for (let t = 0; t < tokens; t++) {
    const off = t * cols;
    for (let i = 0; i < cols; i++) {
      const xi = X[off + i];
      if (xi === 0) continue;
      for (let j = 0; j <= i; j++) H[i * cols + j] += xi * X[off + j];
    }
  }
  for (let i = 0; i < cols; i++)
    for (let j = 0; j <= i; j++) {
      const v = (2 / samples) * H[i * cols + j];
      H[i * cols + j] = v;
      H[j * cols + i] = v;
    }
  return H;
}

/** ‖W·Xᵀ − Ŵ·Xᵀ‖² = Σ_t ‖(W − Ŵ)x_t‖², the layer's output reconstruction error. */
export function layerLoss(W: ArrayLike<number>, Wq: ArrayLike<number>, rows: number, cols: number, X: Float32Array, tokens: number): number {
  let s = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = W[r * cols + c] - Wq[r * cols + c];
    for (let t = 0; t < tokens; t++) {
      let y = 0;
      for (let c = 0; c < cols; c++) y += d[c] * X[t * cols + c];
      s += y * y;
    }
  }
  return s;
}
