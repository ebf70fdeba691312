/**
 * Where VQ's inner loops run: the native addon (native/vq.ts: C++ with OpenMP, or CUDA) when it
 * loads, else the TypeScript here and in vq.ts. Both sum every output in the same order in
 * float64, so the native CPU path gives vq.ts's numbers exactly (test/unit/extreme/vq-native.test.ts);
 * CUDA agrees within rounding (test/gpu/vq-cuda.test.ts).
 */
import * as native from '../../../../native/index';
import type { Device } from '../../../../native/index';

/** Which implementation a VQ run uses; `used` collects the devices the native calls ran on. */
export interface VqBackend {
  native: boolean;
  device: Device;
  used: Set<'cpu' | 'cuda'>;
}

/** 'native' (the default when the addon loads) or 'ts' (the reference, also the fallback). */
export type VqEngine = 'native' | 'ts';

export function vqBackend(engine: VqEngine | undefined, device: Device = 'auto'): VqBackend {
  const useNative = engine === 'ts' ? false : native.isAvailable();
  if (engine === 'native' && !useNative) throw new Error('vq: the native addon was asked for but does not load');
  return { native: useNative, device, used: new Set() };
}

function note(b: VqBackend, r: { device: string }): void {
  b.used.add(r.device === 'cuda' ? 'cuda' : 'cpu');
}

/**
 * out[r] = H·x[r] for `rows` vectors x[r] of length n (row-major), H symmetric: blocks of rows that
 * fit in ~256 KB share one pass over H, so a large H (2880² doubles = 66 MB on PP-OCRv4's neck) is
 * read rows/block times instead of once per row.
 */
export async function rowsTimesH(b: VqBackend, H: Float64Array, X: Float64Array, rows: number, n: number, out: Float64Array): Promise<void> {
  if (b.native) { note(b, await native.vqRowsTimesH(H, X, rows, n, out, { device: b.device })); return; }
  const block = Math.max(1, Math.min(rows, Math.floor(32768 / n)));
  for (let r0 = 0; r0 < rows; r0 += block) {
    const r1 = Math.min(rows, r0 + block);
    for (let i = 0; i < n; i++) {
      const hi = i * n;
      for (let r = r0; r < r1; r++) {
        const xo = r * n;
        let s = 0;
        for (let j = 0; j < n; j++) s += H[hi + j]! * X[xo + j]!;
        out[xo + i] = s;
      }
    }
  }
}

/** The nearest of K centroids of each of n points (first on ties) and its squared distance. */
export async function nearest(b: VqBackend, points: Float64Array, n: number, g: number, C: Float64Array, K: number, assign: Int32Array, dist: Float64Array): Promise<void> {
  if (b.native) { note(b, await native.vqNearest(points, n, g, C, K, assign, dist, { device: b.device })); return; }
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bd = Infinity;
    for (let c = 0; c < K; c++) {
      let d = 0;
      for (let p = 0; p < g; p++) { const t = points[i * g + p]! - C[c * g + p]!; d += t * t; }
      if (d < bd) { bd = d; best = c; }
    }
    assign[i] = best;
    dist[i] = bd;
  }
}
