/** Gradient rules of the matrix products: MatMul (batched, broadcasting, 1-D operands) and Gemm. */
import type { GraphBuilder } from '../builder';
import type { Rule } from './types';

/** Permutation swapping the last two axes of a rank-r tensor. */
function swapLast(r: number): number[] {
  const p = Array.from({ length: r }, (_, k) => k);
  [p[r - 2], p[r - 1]] = [p[r - 1]!, p[r - 2]!];
  return p;
}

function tr(b: GraphBuilder, x: string, rank: number): string {
  return b.transpose(x, swapLast(rank));
}

const matmul: Rule = (c) => {
  const b = c.b;
  const [a, w] = c.inputs as [string, string];
  const ad = c.info(a).dims;
  const wd = c.info(w).dims;
  const od = c.info(c.outputs[0]!).dims;
  let g = c.gradOut[0]!;
  // Lift 1-D operands to matrices, as MatMul's definition does, and the gradient with them.
  const a2 = ad.length === 1 ? b.unsqueeze(a, [0]) : a;
  const w2 = wd.length === 1 ? b.unsqueeze(w, [1]) : w;
  const ad2 = ad.length === 1 ? [1, ad[0]!] : ad;
  const wd2 = wd.length === 1 ? [wd[0]!, 1] : wd;
  const M = ad2[ad2.length - 2]!;
  const K = ad2[ad2.length - 1]!;
  const N = wd2[wd2.length - 1]!;
  const batch = od.length - (ad.length === 1 ? 0 : 1) - (wd.length === 1 ? 0 : 1);
  const od2 = [...od.slice(0, batch), M, N];
  const lifted: number[] = [];
  if (ad.length === 1) lifted.push(batch);
  if (wd.length === 1) lifted.push(batch + 1);
  g = b.unsqueeze(g, lifted);
  const r = od2.length;
  const out: (string | undefined)[] = [undefined, undefined];
  if (c.needs[0]) {
    const ga = b.op1('MatMul', [g, tr(b, w2, wd2.length)]);
    const gaDims = [...od2.slice(0, r - 2), M, K];
    out[0] = b.reshapeLike(b.sumTo(ga, gaDims, a2, ad2), a);
  }
  if (c.needs[1]) {
    if (wd2.length === 2 && ad2.length >= 2) {
      // A weight matrix shared by every batch row: one [K, rows] x [rows, N] product.
      const a2d = b.reshape(a2, [-1, K]);
      const g2d = b.reshape(g, [-1, N]);
      out[1] = b.reshapeLike(b.op1('MatMul', [b.transpose(a2d, [1, 0]), g2d]), w);
    } else {
      const gw = b.op1('MatMul', [tr(b, a2, ad2.length), g]);
      const gwDims = [...od2.slice(0, r - 2), K, N];
      out[1] = b.reshapeLike(b.sumTo(gw, gwDims, w2, wd2), w);
    }
  }
  return out;
};

const gemm: Rule = (c) => {
  const b = c.b;
  const [a, w, cc] = c.inputs as [string, string, string | undefined];
  const g = c.gradOut[0]!;
  const t = c.info(c.outputs[0]!).dtype;
  const alpha = c.attrF('alpha', 1);
  const beta = c.attrF('beta', 1);
  const ta = c.attrI('transA', 0) !== 0;
  const tb = c.attrI('transB', 0) !== 0;
  const scaled = alpha === 1 ? g : b.mul(g, b.scalar(t, alpha));
  const T = (x: string): string => b.transpose(x, [1, 0]);
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  // Y = A' B' with A' = transA ? Aᵀ : A, B' likewise.
  const bPrime = tb ? T(w) : w;
  const aPrime = ta ? T(a) : a;
  if (c.needs[0]) {
    const gaPrime = b.op1('MatMul', [scaled, T(bPrime)]);
    out[0] = ta ? T(gaPrime) : gaPrime;
  }
  if (c.needs[1]) {
    const gbPrime = b.op1('MatMul', [T(aPrime), scaled]);
    out[1] = tb ? T(gbPrime) : gbPrime;
  }
  if (cc && c.needs[2]) {
    const gc = beta === 1 ? g : b.mul(g, b.scalar(t, beta));
    out[2] = b.sumTo(gc, c.info(c.outputs[0]!).dims, cc, c.info(cc).dims);
  }
  return out;
};

export const matmulRules: Record<string, Rule> = { MatMul: matmul, Gemm: gemm };
