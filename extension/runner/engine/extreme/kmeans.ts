/**
 * k-means (Lloyd, k-means++ seeding) of VQ's codebook initialisation; the assignment step, its
 * hot loop, runs where the VQ backend says (vq-loops.ts).
 */
import type { Rng } from '../../../../language-server/core/util/rng';
import { nearest, type VqBackend } from './vq-loops';

/**
 * k-means of n points of dimension g into K centroids; returns the assignment of every point. With
 * more than `sample` points the iterations run on a random sample of that many and the last
 * assignment covers all points (the rounds after it refine the codebook on the layer loss anyway).
 */
export async function kmeans(
  b: VqBackend, all: Float64Array, nAll: number, g: number, K: number, iters: number, rng: Rng, centroids: Float64Array, sample: number,
): Promise<Int32Array> {
  let points = all;
  let n = nAll;
  if (nAll > sample) {
    const pick = Int32Array.from({ length: nAll }, (_, i) => i);
    for (let i = 0; i < sample; i++) { const j = i + rng.int(nAll - i); const t = pick[i]!; pick[i] = pick[j]!; pick[j] = t; }
    n = sample;
    points = new Float64Array(n * g);
    for (let i = 0; i < n; i++) for (let p = 0; p < g; p++) points[i * g + p] = all[pick[i]! * g + p]!;
  }
  const assign0 = await lloyd(b, points, n, g, K, iters, rng, centroids);
  if (points === all) return assign0;
  const assign = new Int32Array(nAll);
  await nearest(b, all, nAll, g, centroids, K, assign, new Float64Array(nAll));
  return assign;
}

async function lloyd(b: VqBackend, points: Float64Array, n: number, g: number, K: number, iters: number, rng: Rng, centroids: Float64Array): Promise<Int32Array> {
  const assign = new Int32Array(n);
  const d2 = new Float64Array(n).fill(Infinity);
  const dist = (i: number, c: number): number => {
    let s = 0;
    for (let p = 0; p < g; p++) { const d = points[i * g + p]! - centroids[c * g + p]!; s += d * d; }
    return s;
  };
  // k-means++ seeding on a sample of at most 64·K points keeps it O(K²·g·64)
  const sample = Math.min(n, 64 * K);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < sample; i++) { const j = i + rng.int(n - i); const t = idx[i]!; idx[i] = idx[j]!; idx[j] = t; }
  const first = idx[rng.int(sample)]!;
  for (let p = 0; p < g; p++) centroids[p] = points[first * g + p]!;
  for (let c = 1; c < K; c++) {
    let total = 0;
    for (let s = 0; s < sample; s++) { const i = idx[s]!; d2[i] = Math.min(d2[i]!, dist(i, c - 1)); total += d2[i]!; }
    let pick = idx[rng.int(sample)]!;
    if (total > 0) {
      let u = rng.next() * total;
      for (let s = 0; s < sample; s++) { const i = idx[s]!; u -= d2[i]!; if (u <= 0) { pick = i; break; } }
    }
    // more centroids than distinct points: jitter a copy
    for (let p = 0; p < g; p++) centroids[c * g + p] = points[pick * g + p]! + (total > 0 ? 0 : 1e-3 * rng.normal());
  }
  const sums = new Float64Array(K * g);
  const counts = new Int32Array(K);
  for (let it = 0; it <= iters; it++) {
    await nearest(b, points, n, g, centroids, K, assign, d2);
    if (it === iters) break;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) { const c = assign[i]!; counts[c]!++; for (let p = 0; p < g; p++) sums[c * g + p]! += points[i * g + p]!; }
    for (let c = 0; c < K; c++) {
      if (counts[c]) { for (let p = 0; p < g; p++) centroids[c * g + p] = sums[c * g + p]! / counts[c]!; continue; }
      // an empty cluster takes the point worst served so far
      let far = 0;
      for (let i = 1; i < n; i++) if (d2[i]! > d2[far]!) far = i;
      for (let p = 0; p < g; p++) centroids[c * g + p] = points[far * g + p]!;
      d2[far] = 0;
    }
  }
  return assign;
}
