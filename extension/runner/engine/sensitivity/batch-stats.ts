/**
 * Sensitivity metrics from per-batch calibration gradients g_b = ∂L_b/∂W, for one layer's
 * quantisation error ΔW_b = W − Q_b(W) at each candidate width:
 *
 * - `taylor` (`BatchTaylorStats`): E_batches |⟨g_batch, ΔW⟩| — LLM-MQ's first-order term taken per
 *   batch before the absolute value, so that the batch gradients of a trained model (which nearly
 *   cancel in the mean) still count. By the triangle inequality it is ≥ |⟨E g, ΔW⟩| (the
 *   `gradient` metric). Accumulated while the gradients stream past, no batch gradient kept.
 * - `fisher` (`fisherDiagonal`): ½·Σ_i F_ii ΔW_i² with the diagonal empirical Fisher
 *   F_ii = E_batches g_{b,i}² (the second-order Taylor term with the Fisher standing in for the
 *   Hessian, as Fisher-based mixed-precision work uses it); needs only the mean squared gradient.
 */
export class BatchTaylorStats {
  private readonly abs: Float64Array;
  private batches = 0;

  /** `deltas[k]`: ΔW at the k-th candidate, rows × cols like the gradients `add` receives. */
  constructor(private readonly deltas: Float32Array[]) {
    this.abs = new Float64Array(deltas.length);
  }

  /** One batch's gradient ∂L_batch/∂W (rows × cols). */
  add(grad: ArrayLike<number>): void {
    for (const [k, d] of this.deltas.entries()) {
      if (d.length !== grad.length) throw new Error(`batch gradient has ${grad.length} values, ΔW has ${d.length}`);
      let dot = 0;
      for (let i = 0; i < d.length; i++) dot += grad[i]! * d[i]!;
      this.abs[k]! += Math.abs(dot);
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
}

/** ½·Σ_i F_ii (W_i − Q_i)² with F_ii = `squares[i]`, the mean squared batch gradient (rows × cols). */
export function fisherDiagonal(squares: ArrayLike<number>, W: ArrayLike<number>, Q: ArrayLike<number>): number {
  if (squares.length !== W.length || Q.length !== W.length) throw new Error(`Fisher diagonal has ${squares.length} values, W ${W.length}, Q ${Q.length}`);
  let s = 0;
  for (let i = 0; i < W.length; i++) {
    const d = W[i]! - Q[i]!;
    s += squares[i]! * d * d;
  }
  return s / 2;
}
