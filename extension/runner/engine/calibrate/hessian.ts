/**
 * Per-layer calibration statistics: the GPTQ/SparseGPT Hessian H = (2/n)·Σ x·xᵀ (running mean over
 * n calibration samples, algorithms.md §0) and Wanda's per-input-column norms ‖X_j‖₂. The XᵀX
 * update goes through one function, `accumulateHessian`, with a blocked TypeScript loop; the
 * native addon's accumulator is used instead when it loads.
 */
import * as native from '../../../../native/index';

const TOKEN_BLOCK = 64;

/**
 * Folds a chunk X (T rows × C, row-major) holding `samples` calibration samples into H (C×C,
 * row-major) that currently averages `n` samples: H ← H·n/(n+b) + (2/(n+b))·XᵀX. Returns n + b.
 */
export function accumulateHessian(H: Float32Array, n: number, X: Float32Array, T: number, C: number, samples = 1): number {
  const total = n + samples;
  const decay = n / total;
  if (decay !== 1) for (let i = 0; i < H.length; i++) H[i]! *= decay;
  const scale = 2 / total;
  // Column-major copy of a block of rows: the inner loop becomes a contiguous dot product, and
  // H is swept once per block instead of once per token.
  const xt = new Float64Array(C * TOKEN_BLOCK);
  for (let t0 = 0; t0 < T; t0 += TOKEN_BLOCK) {
    const tb = Math.min(TOKEN_BLOCK, T - t0);
    for (let t = 0; t < tb; t++) {
      const row = (t0 + t) * C;
      for (let c = 0; c < C; c++) xt[c * tb + t] = X[row + c]!;
    }
    for (let i = 0; i < C; i++) {
      const oi = i * tb;
      const hrow = i * C;
      for (let j = i; j < C; j++) {
        const oj = j * tb;
        let s = 0;
        for (let t = 0; t < tb; t++) s += xt[oi + t]! * xt[oj + t]!;
        if (s !== 0) H[hrow + j]! += scale * s;
      }
    }
  }
  for (let i = 0; i < C; i++) for (let j = 0; j < i; j++) H[i * C + j] = H[j * C + i]!;
  return total;
}

/** Statistics of one activation (shared by every layer that reads it, e.g. q/k/v projections). */
export class InputStats {
  /** Calibration samples folded in (the n of the running mean). */
  samples = 0;
  /** Activation rows seen (tokens, or unfolded conv positions). */
  rows = 0;
  private readonly sq: Float64Array;
  private readonly host: Float32Array;
  private nativeAcc: native.HessianAccumulator | undefined;

  /**
   * @param keepOnDevice with a CUDA accumulator, H stays in GPU memory between batches (only the
   * activations cross the bus) until `takeH()` brings it back.
   */
  constructor(readonly cols: number, readonly withHessian: boolean, useNative: boolean, keepOnDevice = false) {
    this.sq = new Float64Array(cols);
    if (withHessian && useNative && native.isAvailable()) {
      this.nativeAcc = new native.HessianAccumulator(cols, { keepOnDevice });
      this.host = new Float32Array(0);
    } else {
      this.host = new Float32Array(withHessian ? cols * cols : 0);
    }
  }

  /** (2/n)·Σ x·xᵀ, cols × cols row-major; empty when Hessians are not collected. */
  get H(): Float32Array {
    return this.nativeAcc ? this.nativeAcc.H : this.host;
  }

  /** H, brought back from the GPU if it was kept there (whose memory is then freed). */
  takeH(): Float32Array {
    this.nativeAcc?.dispose();
    return this.H;
  }

  /** The native accumulator, which a graph executor's tap can add to directly (undefined: H is summed here). */
  get accumulator(): native.HessianAccumulator | undefined {
    return this.nativeAcc;
  }

  /** Counts a chunk the graph executor folded into `accumulator` through a tap. */
  tapped(rows: number, samples: number): void {
    this.samples += samples;
    this.rows += rows;
  }

  /** Which implementation accumulates H. */
  get backend(): 'native' | 'typescript' | 'none' {
    return !this.withHessian ? 'none' : this.nativeAcc ? 'native' : 'typescript';
  }

  /** Adds `rows` activation rows (rows × cols) that belong to `samples` calibration samples. */
  async add(X: Float32Array, rows: number, samples: number, signal?: AbortSignal): Promise<void> {
    const C = this.cols;
    // With a Hessian the column norms come from its diagonal; without one (Wanda) they are summed here.
    if (!this.withHessian) {
      for (let r = 0; r < rows; r++) {
        const o = r * C;
        for (let c = 0; c < C; c++) { const v = X[o + c]!; this.sq[c]! += v * v; }
      }
    } else {
      if (this.nativeAcc) {
        await this.nativeAcc.add(X, rows, samples, { signal });
      } else {
        accumulateHessian(this.host, this.samples, X, rows, C, samples);
      }
    }
    this.samples += samples;
    this.rows += rows;
  }

  /** ‖X_j‖₂ over every row seen (Wanda's input norms). */
  columnNorms(): Float32Array {
    if (!this.withHessian) return Float32Array.from(this.sq, Math.sqrt);
    // ‖X_j‖² = Σ x_j² = diag(H)_j · n / 2
    const H = this.H;
    const C = this.cols;
    const out = new Float32Array(C);
    for (let j = 0; j < C; j++) out[j] = Math.sqrt(Math.max(0, (H[j * C + j]! * this.samples) / 2));
    return out;
  }
}
