// Comparisons of the graph executor tests (CPU and GPU; no onnxruntime, so the GPU bundle can use them).

/** max |a−b| / max(|b|) over the tensor (relative to its scale). */
export function maxRel(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return s ? d / s : d;
}

/** max |Hij − Rij| / √(Rii·Rjj): the Hessian's entries relative to their diagonal scale. */
export function hessianRel(H: Float32Array, R: Float32Array): number {
  const n = Math.round(Math.sqrt(R.length));
  let m = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const s = Math.sqrt(Math.abs(R[i * n + i]! * R[j * n + j]!)) || 1;
      m = Math.max(m, Math.abs(H[i * n + j]! - R[i * n + j]!) / s);
    }
  return m;
}
