/** Float64 references of Wanda and magnitude pruning (lowest scores first, ties by lower index). */

function lowestFirst(score: ArrayLike<number>, idx: number[]): number[] {
  return [...idx].sort((a, b) => score[a] - score[b] || a - b);
}

function nm(score: ArrayLike<number>, rows: number, cols: number, n: number, m: number): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < cols; j += m) {
      const idx = lowestFirst(score, Array.from({ length: m }, (_, t) => r * cols + j + t));
      for (let t = 0; t < n; t++) mask[idx[t]] = 1;
    }
  return mask;
}

export function wandaRef(W: ArrayLike<number>, norms: ArrayLike<number>, rows: number, cols: number, p: { sparsity?: number; n?: number; m?: number }): Uint8Array {
  const score = Array.from({ length: rows * cols }, (_, i) => Math.abs(W[i]) * norms[i % cols]);
  if (p.n && p.m) return nm(score, rows, cols, p.n, p.m);
  const mask = new Uint8Array(rows * cols);
  const k = Math.floor(cols * (p.sparsity ?? 0.5));
  for (let r = 0; r < rows; r++) {
    const idx = lowestFirst(score, Array.from({ length: cols }, (_, j) => r * cols + j));
    for (let t = 0; t < k; t++) mask[idx[t]] = 1;
  }
  return mask;
}

export function magnitudeRef(W: ArrayLike<number>, rows: number, cols: number, p: { sparsity?: number; n?: number; m?: number }): Uint8Array {
  const score = Array.from({ length: rows * cols }, (_, i) => Math.abs(W[i]));
  if (p.n && p.m) return nm(score, rows, cols, p.n, p.m);
  const mask = new Uint8Array(rows * cols);
  const k = Math.floor(rows * cols * (p.sparsity ?? 0.5));
  const idx = lowestFirst(score, Array.from({ length: rows * cols }, (_, i) => i));
  for (let t = 0; t < k; t++) mask[idx[t]] = 1;
  return mask;
}
