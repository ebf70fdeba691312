/**
 * The bytes of incoherence rotations in an onnx-decode export (issue #23), as the checker, the
 * runner's predicted size and the exporter count them. A rotated layer's weight is rebuilt as
 * Uᵀ·Ŵ'·V with U (rows) and V (columns) randomized Hadamard transforms R = B·diag(s)/√b. The
 * export stores, once per file and shared by every layer that uses them:
 * - one int8 sign vector per size n that a rotated layer rotates (rows or columns; the signs come
 *   from a seed per size, so every side of size n has the same vector);
 * - one int8 ±1 transposed factor of f×f per distinct Hadamard factor order f (Sylvester powers of
 *   two above MAX_SYLVESTER_FACTOR split into factors of at most that order; Paley orders whole).
 * A side whose size has no Hadamard block of at least 2 is not rotated and stores nothing.
 *
 * `hadamardPlan` is the definition of which Hadamard matrix a size gets (the engine's
 * engine/extreme/hadamard.ts builds the same plan; test/unit/extreme/rotation-cost.test.ts checks
 * they agree for every size up to 8192).
 */

/** Largest Paley factor built (its d×d ±1 matrix is stored in exports). */
export const MAX_PALEY = 1024;

/** Largest Sylvester factor written as one matrix (a power of two above it is split into factors). */
export const MAX_SYLVESTER_FACTOR = 32;

/** How a size-n Hadamard transform is made. */
export interface HadamardPlan {
  n: number;
  /** Size of each diagonal block (n when the transform is one full Hadamard; 1: no rotation). */
  block: number;
  /** Kronecker factors of one block, outermost first: an optional Paley order, then a power of two. */
  factors: number[];
}

function isPrime(q: number): boolean {
  if (q < 2) return false;
  for (let i = 2; i * i <= q; i++) if (q % i === 0) return false;
  return true;
}

/** Whether a Paley construction gives a Hadamard matrix of order d. */
export function paleyKind(d: number): 'I' | 'II' | undefined {
  if (d % 4 !== 0) return undefined;
  if (isPrime(d - 1) && (d - 1) % 4 === 3) return 'I';
  if (d % 2 === 0 && isPrime(d / 2 - 1) && (d / 2 - 1) % 4 === 1) return 'II';
  return undefined;
}

const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/** The Kronecker factors of a Hadamard matrix of order n, or undefined when none is built. */
function fullFactors(n: number): number[] | undefined {
  if (isPow2(n)) return [n];
  let two = 1;
  while ((n / two) % 2 === 0) two *= 2;
  const odd = n / two;
  // the smallest Paley order odd·2^j (j ≥ 2) whose cofactor is a power of two
  for (let p = 4; p <= two && odd * p <= MAX_PALEY; p *= 2) {
    const d = odd * p;
    if (paleyKind(d)) return n / d > 1 ? [d, n / d] : [d];
  }
  return undefined;
}

/** The transform used for size n: one Hadamard if possible, else blocks of the largest that divides n. */
export function hadamardPlan(n: number): HadamardPlan {
  const f = fullFactors(n);
  if (f) return { n, block: n, factors: f };
  let best: { block: number; factors: number[] } = { block: 1, factors: [1] };
  for (let b = 2; b <= n / 2; b++) {
    if (n % b !== 0) continue;
    const fb = fullFactors(b);
    if (fb && b > best.block) best = { block: b, factors: fb };
  }
  return { n, ...best };
}

/** The factor matrices an export writes for a plan, in the order it applies them. */
export function storedFactors(plan: HadamardPlan): number[] {
  const out: number[] = [];
  for (const f of plan.factors) {
    if (f > MAX_SYLVESTER_FACTOR && isPow2(f)) {
      for (let rest = f; rest > 1; rest /= Math.min(MAX_SYLVESTER_FACTOR, rest)) out.push(Math.min(MAX_SYLVESTER_FACTOR, rest));
    } else out.push(f);
  }
  return out;
}

/** Whether a side of size n is rotated (it has a Hadamard block of at least 2). */
export function rotates(n: number): boolean {
  return hadamardPlan(n).block > 1;
}

/** The shared rotation tensors of an export: which sign vectors and factors, and their bytes. */
export interface RotationTensors {
  /** Sizes with a sign vector (int8, n bytes each), ascending. */
  signs: number[];
  /** Factor orders with a stored f×f int8 matrix, ascending. */
  factors: number[];
  bytes: number;
}

/** The rotation tensors an onnx-decode export of these rotated layers (rows × cols) stores. */
export function rotationTensors(layers: Iterable<{ rows: number; cols: number }>): RotationTensors {
  const sizes = new Set<number>();
  for (const { rows, cols } of layers) for (const n of [rows, cols]) if (rotates(n)) sizes.add(n);
  const factors = new Set<number>();
  for (const n of sizes) for (const f of storedFactors(hadamardPlan(n))) factors.add(f);
  const signs = [...sizes].sort((a, b) => a - b);
  const fs = [...factors].sort((a, b) => a - b);
  return { signs, factors: fs, bytes: signs.reduce((a, n) => a + n, 0) + fs.reduce((a, f) => a + f * f, 0) };
}
