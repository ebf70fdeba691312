/**
 * Float64 reference of GPTQ (the reference fasterquant, column by column, no lazy batching), with a
 * shorter last group and held entries: hold 1 (pruned) stays 0, hold 2 (outlier) keeps fp16 of its
 * value when its column is reached; held entries do not shape the grids and their code is that of 0.
 */
import { prepareHessian } from './linalg';
import { roundToHalf } from './pack';
import { dequant, fitParams, quantCode, type RefParams, type RefQuantSpec } from './quant';

export interface RefGptqOptions extends RefQuantSpec {
  actOrder?: boolean;
  staticGroups?: boolean;
  percdamp?: number;
  hold?: Uint8Array;
}

/** The entries of x whose hold is 0. */
function kept(x: ArrayLike<number>, hold: ArrayLike<number> | undefined, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) if (!hold || !hold[i]) out.push(x[i]);
  return out;
}

export function gptqRef(
  W0: ArrayLike<number>,
  H: ArrayLike<number>,
  rows: number,
  cols: number,
  o: RefGptqOptions,
): { Q: Float64Array; codes: Uint8Array; loss: number; perm: number[] } {
  const g = o.groupSize || 0;
  const maxq = 2 ** o.bits - 1;
  let perm = Array.from({ length: cols }, (_, i) => i);
  const diag = perm.map((j) => (H[j * cols + j] === 0 ? 1 : H[j * cols + j]));
  if (o.actOrder) perm = [...perm].sort((a, b) => diag[b] - diag[a] || a - b);
  const { U, dead } = prepareHessian(H, cols, perm, o.percdamp ?? 0.01);
  // W in quantisation order, dead columns zeroed
  const W = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) W[r * cols + j] = dead[perm[j]] ? 0 : W0[r * cols + perm[j]];
  const holdRow = (r: number): Uint8Array | undefined => (o.hold ? Uint8Array.from(perm, (c) => o.hold![r * cols + c]) : undefined);
  const staticParams: RefParams[][] = [];
  if (g && o.staticGroups)
    for (let r = 0; r < rows; r++) {
      const orig = new Float64Array(cols);
      for (let j = 0; j < cols; j++) orig[perm[j]] = W[r * cols + j];
      const h = o.hold?.subarray(r * cols, (r + 1) * cols);
      staticParams.push(Array.from({ length: Math.ceil(cols / g) }, (_, k) => fitParams(kept(orig, h, k * g, Math.min(cols, (k + 1) * g)), o)));
    }
  const Q = new Float64Array(rows * cols);
  const codes = new Uint8Array(rows * cols);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const w = W.subarray(r * cols, (r + 1) * cols);
    const h = holdRow(r);
    let p: RefParams = fitParams(kept(w, h, 0, cols), o);
    for (let j = 0; j < cols; j++) {
      if (g && !o.staticGroups && j % g === 0) p = fitParams(kept(w, h, j, Math.min(cols, j + g)), o);
      const pj = g && o.staticGroups ? staticParams[r][Math.floor(perm[j] / g)] : p;
      const held = h?.[j] ?? 0;
      const code = quantCode(held ? 0 : w[j], pj, maxq);
      const q = held === 2 ? roundToHalf(w[j]) : held === 1 ? 0 : dequant(code, pj);
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
