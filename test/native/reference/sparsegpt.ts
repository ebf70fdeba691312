/** Float64 reference of SparseGPT (block-wise masks, OBS update), optionally joint with quantisation. */
import { prepareHessian } from './linalg';
import { dequant, fitParams, quantCode, type RefParams, type RefQuantSpec } from './quant';

export interface RefSparseOptions {
  sparsity?: number;
  n?: number;
  m?: number;
  quant?: RefQuantSpec;
  blockSize?: number;
}

export function sparsegptRef(W0: ArrayLike<number>, H: ArrayLike<number>, rows: number, cols: number, o: RefSparseOptions): { Q: Float64Array; mask: Uint8Array; loss: number } {
  const B = o.blockSize ?? 128;
  const { U, dead } = prepareHessian(H, cols, undefined, 0.01);
  const W = new Float64Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) W[i] = dead[i % cols] ? 0 : W0[i];
  const mask = new Uint8Array(rows * cols);
  const params: RefParams[] = [];
  if (o.quant) for (let r = 0; r < rows; r++) params.push(fitParams(W.subarray(r * cols, (r + 1) * cols), o.quant));
  let loss = 0;
  const d = (j: number): number => U[j * cols + j];
  for (let i1 = 0; i1 < cols; i1 += B) {
    const i2 = Math.min(cols, i1 + B);
    if (!o.n) {
      // block quantile of w²/d² on the current weights
      const scores: number[] = [];
      for (let r = 0; r < rows; r++) for (let j = i1; j < i2; j++) scores.push(W[r * cols + j] ** 2 / d(j) ** 2);
      const sorted = [...scores].sort((a, b) => a - b);
      const s = o.sparsity ?? 0.5;
      const thresh = s > 0 ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * s))] : -1;
      let k = 0;
      for (let r = 0; r < rows; r++) for (let j = i1; j < i2; j++) mask[r * cols + j] = scores[k++] <= thresh ? 1 : 0;
    }
    for (let r = 0; r < rows; r++) {
      const w = W.subarray(r * cols, (r + 1) * cols);
      for (let j = i1; j < i2; j++) {
        if (o.n && o.m && (j - i1) % o.m === 0) {
          const idx = Array.from({ length: o.m }, (_, t) => t);
          const sc = idx.map((t) => w[j + t] ** 2 / d(j + t) ** 2);
          idx.sort((a, b) => sc[a] - sc[b] || a - b);
          for (let t = 0; t < o.m; t++) mask[r * cols + j + t] = 0;
          for (let t = 0; t < o.n; t++) mask[r * cols + j + idx[t]] = 1;
        }
        let q = mask[r * cols + j] ? 0 : w[j];
        if (o.quant) q = dequant(quantCode(q, params[r], 2 ** o.quant.bits - 1), params[r]);
        const e = (w[j] - q) / d(j);
        loss += ((w[j] - q) ** 2 / d(j) ** 2) / 2;
        for (let k = j + 1; k < cols; k++) w[k] -= e * U[j * cols + k];
        w[j] = q;
      }
    }
  }
  return { Q: W, mask, loss };
}
