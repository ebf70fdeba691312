/** Float64 reference of GPTQ (the reference fasterquant, column by column, no lazy batching). */
import { prepareHessian } from './linalg';
import { dequant, fitParams, quantCode, type RefParams, type RefQuantSpec } from './quant';

export interface RefGptqOptions extends RefQuantSpec {
  actOrder?: boolean;
  staticGroups?: boolean;
  percdamp?: number;
}

export function gptqRef(W0: ArrayLike<number>, H: ArrayLike<number>, rows: number, cols: number, o: RefGptqOptions): { Q: Float64Array; codes: Uint8Array; loss: number; perm: number[] } {
  const g = o.groupSize || 0;
  const maxq = 2 ** o.bits - 1;
  let perm = Array.from({ length: cols }, (_, i) => i);
  const diag = perm.map((j) => (H[j * cols + j] === 0 ? 1 : H[j * cols + j]));
  if (o.actOrder) perm = [...perm].sort((a, b) => diag[b] - diag[a] || a - b);
  const { U, dead } = prepareHessian(H, cols, perm, o.percdamp ?? 0.01);
  // W in quantisation order, dead columns zeroed
  const W = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) W[r * cols + j] = dead[perm[j]] ? 0 : W0[r * cols + perm[j]];
  const staticParams: RefParams[][] = [];
  if (g && o.staticGroups)
    for (let r = 0; r < rows; r++) {
      const orig = new Float64Array(cols);
      for (let j = 0; j < cols; j++) orig[perm[j]] = W[r * cols + j];
      staticParams.push(Array.from({ length: cols / g }, (_, k) => fitParams(orig.subarray(k * g, (k + 1) * g), o)));
    }
  const Q = new Float64Array(rows * cols);
  const codes = new Uint8Array(rows * cols);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const w = W.subarray(r * cols, (r + 1) * cols);
    let p: RefParams = fitParams(w, o);
    for (let j = 0; j < cols; j++) {
      if (g && !o.staticGroups && j % g === 0) p = fitParams(w.subarray(j, j + g), o);
      const pj = g && o.staticGroups ? staticParams[r][Math.floor(perm[j] / g)] : p;
      const code = quantCode(w[j], pj, maxq);
      const q = dequant(code, pj);
      const d = U[j * cols + j];
      const e = (w[j] - q) / d;
      loss += ((w[j] - q) ** 2 / d ** 2) / 2;
      for (let k = j + 1; k < cols; k++) w[k] -= e * U[j * cols + k];
      Q[r * cols + perm[j]] = q;
      codes[r * cols + perm[j]] = code;
    }
  }
  return { Q, codes, loss, perm };
}
