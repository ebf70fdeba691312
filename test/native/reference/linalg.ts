/** Float64 dense linear algebra for the references, written the plain (unblocked) way. */

/** Lower Cholesky factor of a symmetric positive-definite n×n matrix. */
export function cholesky(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = A[j * n + j];
    for (let k = 0; k < j; k++) d -= L[j * n + k] ** 2;
    if (!(d > 0)) throw new Error('not positive definite');
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  return L;
}

/** A⁻¹ from its lower Cholesky factor (torch.cholesky_inverse). */
export function choleskyInverse(L: Float64Array, n: number): Float64Array {
  // X = L⁻¹ by forward substitution, then A⁻¹ = Xᵀ·X
  const X = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    X[j * n + j] = 1 / L[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += L[i * n + k] * X[k * n + j];
      X[i * n + j] = -s / L[i * n + i];
    }
  }
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += X[k * n + i] * X[k * n + j];
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  return inv;
}

/** Upper Cholesky factor U (A = UᵀU). */
export function choleskyUpper(A: Float64Array, n: number): Float64Array {
  const L = cholesky(A, n);
  const U = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) U[j * n + i] = L[i * n + j];
  return U;
}

/**
 * GPTQ/SparseGPT preparation: dead inputs, optional permutation, dampening, U = chol(H⁻¹)ᵀ-upper.
 * Returns U in permuted order and the dead flags by original column.
 */
export function prepareHessian(H: ArrayLike<number>, n: number, perm: number[] | undefined, percdamp: number): { U: Float64Array; dead: boolean[] } {
  const dead = Array.from({ length: n }, (_, j) => H[j * n + j] === 0);
  const p = perm ?? Array.from({ length: n }, (_, i) => i);
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = H[p[i] * n + p[j]];
  for (let i = 0; i < n; i++) if (dead[p[i]]) A[i * n + i] = 1;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += A[i * n + i];
  const damp = (percdamp * mean) / n;
  for (let i = 0; i < n; i++) A[i * n + i] += damp;
  const inv = choleskyInverse(cholesky(A, n), n);
  return { U: choleskyUpper(inv, n), dead };
}
