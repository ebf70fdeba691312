/** Adam (Kingma & Ba) on a Float32Array in place, with bias correction; β1 = 0 gives RMSProp-like steps. */
export class Adam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private t = 0;

  constructor(n: number, private readonly beta1 = 0.9, private readonly beta2 = 0.95, private readonly eps = 1e-8) {
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
  }

  /** p ← p − lr·m̂/(√v̂ + ε) for gradient g. */
  step(p: Float32Array, g: ArrayLike<number>, lr: number): void {
    if (g.length !== p.length) throw new Error(`Adam: ${g.length} gradients for ${p.length} parameters`);
    this.t++;
    const { beta1: b1, beta2: b2, eps, m, v } = this;
    const c1 = b1 > 0 ? 1 - b1 ** this.t : 1;
    const c2 = 1 - b2 ** this.t;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * gi;
      v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      p[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
    }
  }
}
