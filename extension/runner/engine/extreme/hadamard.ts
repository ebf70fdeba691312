/**
 * Randomized Hadamard transforms for incoherence processing (QuIP / QuIP#): R = B·diag(s)/√b, with s
 * random signs and B a Hadamard matrix of order b (or, for sizes without one, a block-diagonal of
 * such blocks). R is orthogonal, so a weight rotated on both sides, W' = U·W·Vᵀ, has the same layer
 * loss tr(ΔW'·H'·ΔW'ᵀ) against the rotated Hessian H' = V·H·Vᵀ as the original has against H.
 *
 * Which Hadamard matrix for a size n (`hadamardPlan`):
 * - n = 2^k: Sylvester's, applied as a fast Walsh–Hadamard transform (n·log n);
 * - n = d·2^k with d a Paley order (d − 1 a prime ≡ 3 mod 4, Paley I; or d/2 − 1 a prime ≡ 1 mod
 *   4, Paley II): the Kronecker product H_d ⊗ H_{2^k}, the smallest such d (192 = 12·16, 240 =
 *   60·4, 360 = 180·2, 1440 = 180·8); only the d×d factor is stored (as ±1), up to MAX_PALEY;
 * - otherwise: blocks of the largest Hadamard order that divides n (e.g. 6625 = 53·125 has none:
 *   no rotation on that side, `block` 1, which the caller treats as "not rotated").
 */
import { hadamardPlan, paleyKind, type HadamardPlan } from '../../../../language-server/core/cost/rotations';
import { Rng } from '../../../../language-server/core/util/rng';

// The plan (which Hadamard matrix for each size) is the cost model's, so the sizes it counts are
// the rotations made here.
export { MAX_PALEY, hadamardPlan, paleyKind, type HadamardPlan } from '../../../../language-server/core/cost/rotations';

const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/** ±1 Hadamard matrix of a Paley order d, row-major (H·Hᵀ = d·I). */
export function paleyMatrix(d: number): Int8Array {
  const kind = paleyKind(d);
  if (!kind) throw new Error(`no Paley Hadamard matrix of order ${d}`);
  const q = kind === 'I' ? d - 1 : d / 2 - 1;
  const chi = new Int8Array(q).fill(-1);
  chi[0] = 0;
  for (let x = 1; x < q; x++) chi[(x * x) % q] = 1;
  const Q = (i: number, j: number): number => chi[(((j - i) % q) + q) % q]!;
  const H = new Int8Array(d * d);
  if (kind === 'I') {
    // H = I + S, S = [[0, 1ᵀ], [−1, Q]] skew-symmetric
    const m = q + 1;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        let s: number;
        if (i === 0) s = j === 0 ? 0 : 1;
        else if (j === 0) s = -1;
        else s = Q(i - 1, j - 1);
        H[i * m + j] = (i === j ? 1 : 0) + s;
      }
    }
    return H;
  }
  // Paley II: C = [[0, 1ᵀ], [1, Q]] symmetric conference matrix; 0 → [[1,−1],[−1,−1]], ±1 → ±[[1,1],[1,−1]]
  const m = q + 1;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const c = i === 0 ? (j === 0 ? 0 : 1) : j === 0 ? 1 : Q(i - 1, j - 1);
      const blk = c === 0 ? [1, -1, -1, -1] : [c, c, c, -c];
      for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) H[(2 * i + a) * d + 2 * j + b] = blk[2 * a + b]!;
    }
  }
  return H;
}

const paleyCache = new Map<number, Int8Array>();
function paley(d: number): Int8Array {
  let h = paleyCache.get(d);
  if (!h) paleyCache.set(d, (h = paleyMatrix(d)));
  return h;
}

/** In place: x[off + stride·i] for i < n ← (H_n x) with Sylvester's H_n (n a power of two). */
function fwht(x: Float64Array, off: number, stride: number, n: number): void {
  for (let h = 1; h < n; h *= 2) {
    for (let i = 0; i < n; i += 2 * h) {
      for (let j = i; j < i + h; j++) {
        const a = off + j * stride;
        const b = a + h * stride;
        const u = x[a]!;
        const v = x[b]!;
        x[a] = u + v;
        x[b] = u - v;
      }
    }
  }
}

/** In place: the n values at off + stride·i ← M·x (transposed: Mᵀ·x), M a d×d ±1 matrix. */
function denseApply(x: Float64Array, off: number, stride: number, M: Int8Array, d: number, transposed: boolean, tmp: Float64Array): void {
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (transposed ? M[j * d + i]! : M[i * d + j]!) * x[off + j * stride]!;
    tmp[i] = s;
  }
  for (let i = 0; i < d; i++) x[off + i * stride] = tmp[i]!;
}

/** One randomized Hadamard transform of size n: R = blockdiag(H_block)·diag(signs)/√block. */
export class Rotation {
  readonly plan: HadamardPlan;
  private readonly tmp: Float64Array;

  constructor(readonly n: number, readonly signs: Int8Array) {
    if (signs.length !== n) throw new Error(`rotation of size ${n} with ${signs.length} signs`);
    this.plan = hadamardPlan(n);
    this.tmp = new Float64Array(Math.max(...this.plan.factors, 1));
  }

  /** A rotation with signs drawn from `seed`. */
  static random(n: number, seed: number): Rotation {
    const rng = new Rng(seed);
    const s = new Int8Array(n);
    for (let i = 0; i < n; i++) s[i] = rng.next() < 0.5 ? -1 : 1;
    return new Rotation(n, s);
  }

  /** Whether this side mixes anything (sizes without a Hadamard block of at least 2 do not). */
  get mixes(): boolean {
    return this.plan.block > 1;
  }

  /** The unnormalised Kronecker transform of one block, in place (transposed: its transpose). */
  private blockTransform(x: Float64Array, off: number, stride: number, transposed: boolean): void {
    const f = this.plan.factors;
    if (f.length === 1) {
      if (isPow2(f[0]!)) fwht(x, off, stride, f[0]!);
      else denseApply(x, off, stride, paley(f[0]!), f[0]!, transposed, this.tmp);
      return;
    }
    // (A ⊗ B)·x with x viewed as a [a][b] matrix: A acts along the outer axis, B along the inner
    const [a, b] = f as [number, number];
    for (let i = 0; i < a; i++) fwht(x, off + i * b * stride, stride, b);
    const A = paley(a);
    for (let j = 0; j < b; j++) denseApply(x, off + j * stride, b * stride, A, a, transposed, this.tmp);
  }

  /** In place on the n values at off + stride·i: x ← R·x (inverse: x ← Rᵀ·x). */
  applyStrided(x: Float64Array, off: number, stride: number, inverse = false): void {
    const { n, signs } = this;
    const { block } = this.plan;
    if (block <= 1) {
      if (!inverse) for (let i = 0; i < n; i++) x[off + i * stride]! *= signs[i]!;
      else for (let i = 0; i < n; i++) x[off + i * stride]! *= signs[i]!;
      return;
    }
    const norm = 1 / Math.sqrt(block);
    if (!inverse) for (let i = 0; i < n; i++) x[off + i * stride]! *= signs[i]!;
    for (let s = 0; s < n; s += block) this.blockTransform(x, off + s * stride, stride, inverse);
    for (let i = 0; i < n; i++) x[off + i * stride]! *= inverse ? norm * signs[i]! : norm;
  }

  /** A dense n×n copy (tests, small exports). */
  matrix(): Float64Array {
    const M = new Float64Array(this.n * this.n);
    for (let j = 0; j < this.n; j++) {
      M[j * this.n + j] = 1;
      this.applyStrided(M, j, this.n); // column j ← R·e_j
    }
    return M;
  }
}

/**
 * Rotates a rows×cols matrix in place: A ← L·A·Rᵀ (or, inverse, A ← Lᵀ·A·R), with L acting on
 * rows (size rows) and R on columns (size cols); either may be undefined (identity).
 */
export function rotateMatrix(A: Float64Array, rows: number, cols: number, left: Rotation | undefined, right: Rotation | undefined, inverse = false): void {
  if (right) for (let r = 0; r < rows; r++) right.applyStrided(A, r * cols, 1, inverse);
  if (left) for (let c = 0; c < cols; c++) left.applyStrided(A, c, cols, inverse);
}

/** H' = V·H·Vᵀ for a symmetric cols×cols Hessian, in float64. */
export function rotateHessian(H: ArrayLike<number>, cols: number, V: Rotation): Float64Array {
  const out = Float64Array.from(H as ArrayLike<number>);
  rotateMatrix(out, cols, cols, V, V);
  return out;
}
