/**
 * Per-batch first-order statistics of one layer's quantisation error ΔW_b = W − Q_b(W) at each
 * candidate width, accumulated while the calibration gradients stream past (no batch gradient kept):
 *
 * - `taylor`: E_batches |⟨g_batch, ΔW⟩| — LLM-MQ's first-order term taken per batch before the
 *   absolute value, so that the batch gradients of a trained model (which nearly cancel in the
 *   mean) still count. By the triangle inequality it is ≥ |⟨E g, ΔW⟩| (the `gradient` metric).
 * - `fisher`: ½·E_batches ⟨g_batch, ΔW⟩² — the empirical-Fisher quadratic form ½·ΔWᵀ F ΔW with
 *   F = E g gᵀ (the second-order Taylor term when the Fisher stands in for the Hessian).
 */
export class BatchTaylorStats {
  private readonly abs: Float64Array;
  private readonly sq: Float64Array;
  private batches = 0;

  /** `deltas[k]`: ΔW at the k-th candidate, rows × cols like the gradients `add` receives. */
  constructor(private readonly deltas: Float32Array[]) {
    this.abs = new Float64Array(deltas.length);
    this.sq = new Float64Array(deltas.length);
  }

  /** One batch's gradient ∂L_batch/∂W (rows × cols). */
  add(grad: ArrayLike<number>): void {
    for (const [k, d] of this.deltas.entries()) {
      if (d.length !== grad.length) throw new Error(`batch gradient has ${grad.length} values, ΔW has ${d.length}`);
      let dot = 0;
      for (let i = 0; i < d.length; i++) dot += grad[i]! * d[i]!;
      this.abs[k]! += Math.abs(dot);
      this.sq[k]! += dot * dot;
    }
    this.batches++;
  }

  get count(): number {
    return this.batches;
  }

  /** E|⟨g_b, ΔW⟩| per candidate (zeros before any batch). */
  taylor(): number[] {
    return Array.from(this.abs, (x) => (this.batches ? x / this.batches : 0));
  }

  /** ½·E⟨g_b, ΔW⟩² per candidate (zeros before any batch). */
  fisher(): number[] {
    return Array.from(this.sq, (x) => (this.batches ? x / (2 * this.batches) : 0));
  }
}
