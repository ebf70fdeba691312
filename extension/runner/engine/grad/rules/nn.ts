/**
 * Gradient rules of the neural-network ops: Softmax/LogSoftmax (both axis semantics), the
 * normalisations (LayerNormalization, BatchNormalization in inference), Conv (input gradient by
 * ConvTranspose, weight gradient by a convolution over swapped axes) and pooling.
 */
import type { GraphBuilder } from '../builder';
import { ai, aints } from '../builder';
import { UnsupportedForm, normAxis, range, type Rule, type RuleContext } from './types';

/** Softmax reduces over `axis` alone from opset 13, over axis..end (2-D coercion) before. */
function softmaxAxes(c: RuleContext): number[] {
  const rank = c.info(c.inputs[0]!).dims.length;
  if (c.b.opset >= 13) return [normAxis(c.attrI('axis', -1), rank)];
  return range(normAxis(c.attrI('axis', 1), rank), rank);
}

const softmax: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const y = c.outputs[0]!;
  const g = c.gradOut[0]!;
  const dot = b.reduceSum(b.mul(g, y), softmaxAxes(c), true);
  return [b.mul(y, b.sub(g, dot))];
};

const logSoftmax: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const g = c.gradOut[0]!;
  const total = b.reduceSum(g, softmaxAxes(c), true);
  return [b.sub(g, b.mul(b.op1('Exp', [c.outputs[0]!]), total))];
};

const layerNorm: Rule = (c) => {
  if (c.gradOut[1] || c.gradOut[2]) throw new UnsupportedForm('LayerNormalization mean/inv-std outputs used downstream');
  const b = c.b;
  const [x, scale, bias] = c.inputs as [string, string, string | undefined];
  const xd = c.info(x).dims;
  const t = c.info(x).dtype;
  const axes = range(normAxis(c.attrI('axis', -1), xd.length), xd.length);
  const g = c.gradOut[0]!;
  const mean = b.reduce('ReduceMean', x, axes, true);
  const d = b.sub(x, mean);
  const variance = b.reduce('ReduceMean', b.mul(d, d), axes, true);
  const rstd = b.op1('Reciprocal', [b.op1('Sqrt', [b.add(variance, b.scalar(t, c.attrF('epsilon', 1e-5)))])]);
  const xhat = b.mul(d, rstd);
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  if (c.needs[1]) out[1] = b.sumTo(b.mul(g, xhat), xd, scale, c.info(scale).dims);
  if (bias && c.needs[2]) out[2] = b.sumTo(g, xd, bias, c.info(bias).dims);
  if (c.needs[0]) {
    const gx = b.mul(g, scale);
    const m1 = b.reduce('ReduceMean', gx, axes, true);
    const m2 = b.reduce('ReduceMean', b.mul(gx, xhat), axes, true);
    out[0] = b.mul(rstd, b.sub(b.sub(gx, m1), b.mul(xhat, m2)));
  }
  return out;
};

const batchNorm: Rule = (c) => {
  if (c.attrI('training_mode', 0) !== 0 || c.outputs.length > 1 && c.outputs.slice(1).some((o) => o)) {
    throw new UnsupportedForm('BatchNormalization in training mode');
  }
  const b = c.b;
  const [x, scale, , mean, variance] = c.inputs as [string, string, string, string, string];
  const rank = c.info(x).dims.length;
  const t = c.info(x).dtype;
  const g = c.gradOut[0]!;
  const spatial = range(2, rank);
  const others = [0, ...spatial];
  const perChannel = (p: string): string => b.unsqueeze(p, range(1, rank - 1));
  const rstd = b.op1('Reciprocal', [b.op1('Sqrt', [b.add(variance, b.scalar(t, c.attrF('epsilon', 1e-5)))])]);
  const a = b.mul(scale, rstd);
  const centered = b.sub(x, perChannel(mean));
  const out: (string | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  if (c.needs[0]) out[0] = b.mul(g, perChannel(a));
  if (c.needs[1]) out[1] = b.mul(b.reduceSum(b.mul(g, centered), others, false), rstd);
  if (c.needs[2]) out[2] = b.reduceSum(g, others, false);
  if (c.needs[3]) out[3] = b.neg(b.mul(b.reduceSum(g, others, false), a));
  if (c.needs[4]) {
    const r3 = b.mul(rstd, b.mul(rstd, rstd));
    out[4] = b.mul(b.reduceSum(b.mul(g, centered), others, false), b.mul(scale, b.mul(r3, b.scalar(t, -0.5))));
  }
  return out;
};

/** Window geometry of a Conv or pooling node, resolved against the probed shapes. */
interface Window {
  S: number[]; O: number[]; K: number[]; s: number[]; d: number[]; pb: number[]; pe: number[];
}

function window(c: RuleContext, K: number[], withDilations: boolean): Window {
  const xd = c.info(c.inputs[0]!).dims;
  const S = xd.slice(2);
  const O = c.info(c.outputs[0]!).dims.slice(2);
  const n = S.length;
  const s = c.attrInts('strides') ?? new Array<number>(n).fill(1);
  const d = (withDilations ? c.attrInts('dilations') : undefined) ?? new Array<number>(n).fill(1);
  const autoPad = c.attrS('auto_pad') ?? 'NOTSET';
  let pb = new Array<number>(n).fill(0);
  let pe = new Array<number>(n).fill(0);
  if (autoPad === 'NOTSET') {
    const p = c.attrInts('pads');
    if (p) { pb = p.slice(0, n); pe = p.slice(n); }
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    for (let k = 0; k < n; k++) {
      const total = Math.max(0, (O[k]! - 1) * s[k]! + (K[k]! - 1) * d[k]! + 1 - S[k]!);
      const small = Math.floor(total / 2);
      pb[k] = autoPad === 'SAME_UPPER' ? small : total - small;
      pe[k] = total - pb[k]!;
    }
  }
  return { S, O, K, s, d, pb, pe };
}

/**
 * From a tensor laid out over the padded input extent starting at -pb (length F per axis), takes
 * the part over the real input [0, S), zero-filling where F falls short.
 */
function cropToInput(b: GraphBuilder, v: string, w: Window, F: number[], dtype: number): string {
  const n = w.S.length;
  const axes = range(2, 2 + n);
  const ends = w.S.map((S, k) => Math.min(F[k]!, w.pb[k]! + S));
  const cropped = b.slice(v, w.pb, ends, axes);
  const short = w.S.map((S, k) => S - (ends[k]! - w.pb[k]!));
  if (short.every((x) => x === 0)) return cropped;
  return b.pad(cropped, [0, 0, ...new Array<number>(n).fill(0), 0, 0, ...short], 0, dtype);
}

function fullExtent(w: Window): number[] {
  return w.O.map((o, k) => (o - 1) * w.s[k]! + (w.K[k]! - 1) * w.d[k]! + 1);
}

const conv: Rule = (c) => {
  const b = c.b;
  const [x, wt, bias] = c.inputs as [string, string, string | undefined];
  const wd = c.info(wt).dims;
  const t = c.info(x).dtype;
  const K = wd.slice(2);
  const w = window(c, K, true);
  const G = c.attrI('group', 1);
  const g = c.gradOut[0]!;
  const n = K.length;
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  if (c.needs[0]) {
    const full = b.op1('ConvTranspose', [g, wt], [aints('strides', w.s), aints('dilations', w.d), ai('group', G), aints('kernel_shape', K)]);
    out[0] = cropToInput(b, full, w, fullExtent(w), t);
  }
  if (c.needs[1]) out[1] = convWeightGrad(c, w, G);
  if (bias && c.needs[2]) out[2] = b.reduceSum(g, [0, ...range(2, 2 + n)], false);
  return out;
};

/**
 * gW[m, c, k] = Σ_n,o g[n, m, o] · Xpad[n, c, o·s + k·d]. Pointwise convolutions are one MatMul;
 * group-1 and depthwise kernels take the input window of each kernel offset with one strided Slice
 * and contract it with g by a MatMul or Mul + ReduceSum; other grouped kernels (and strided
 * kernels before opset 10, which has no strided Slice) use a convolution of X by g with stride and
 * dilation exchanged.
 */
function convWeightGrad(c: RuleContext, w: Window, G: number): string {
  const b = c.b;
  const [x, wt] = c.inputs as [string, string];
  const g = c.gradOut[0]!;
  const xd = c.info(x).dims;
  const wd = c.info(wt).dims;
  const t = c.info(x).dtype;
  const K = wd.slice(2);
  const n = K.length;
  const [N, C] = [xd[0]!, xd[1]!];
  const M = wd[0]!;
  const OHW = w.O.reduce((a, v) => a * v, 1);
  const P = K.reduce((a, v) => a * v, 1);
  const depthwise = G === C && G === M;
  const unpadded = [...w.pb, ...w.pe].every((p) => p === 0);
  const unit = (v: number[]): boolean => v.every((q) => q === 1);
  if (G === 1 && P === 1 && unpadded && unit(w.s)) {
    const gm = b.reshape(b.transpose(b.reshape(g, [N, M, OHW]), [1, 0, 2]), [M, N * OHW]);
    const xm = b.reshape(b.transpose(b.reshape(x, [N, C, OHW]), [0, 2, 1]), [N * OHW, C]);
    return b.reshape(b.op1('MatMul', [gm, xm]), wd);
  }
  if ((G === 1 || depthwise) && (b.opset >= 10 || unit(w.s))) {
    // One kernel offset at a time, so no [N, C, P, O] patch tensor is ever materialised.
    const xp = b.pad(x, [0, 0, ...w.pb, 0, 0, ...w.pe], 0, t);
    const g3 = b.reshape(g, [N, M, OHW]);
    const parts = offsets(K).map((o) => {
      const starts = o.map((i, k) => i * w.d[k]!);
      const ends = starts.map((s0, k) => s0 + (w.O[k]! - 1) * w.s[k]! + 1);
      const win = b.reshape(b.slice(xp, starts, ends, range(2, 2 + n), unit(w.s) ? undefined : w.s), [N, C, OHW]);
      if (depthwise) return b.reshape(b.reduceSum(b.mul(win, g3), [0, 2], false), [C, 1]);
      // [N, M, O] x [N, O, C] → [N, M, C], summed over the batch.
      const prod = b.op1('MatMul', [g3, b.transpose(win, [0, 2, 1])]);
      return b.reshape(N === 1 ? prod : b.reduceSum(prod, [0], false), [M, C, 1]);
    });
    const stacked = parts.length === 1 ? parts[0]! : b.op1('Concat', parts, [ai('axis', depthwise ? 1 : 2)]);
    return b.reshape(stacked, wd);
  }
  const attrs = [aints('strides', w.d), aints('dilations', w.s), aints('pads', [...w.pb, ...w.pe])];
  let r: string;
  if (G === 1) {
    const perm = [1, 0, ...range(2, 2 + n)];
    r = b.transpose(b.op1('Conv', [b.transpose(x, perm), b.transpose(g, perm)], attrs), perm); // [M, C, K']
  } else {
    const Cg = C / G;
    const Mg = M / G;
    const xr = b.reshape(x, [1, N * C, ...w.S]);
    let gw = b.reshape(g, [N, G, 1, Mg, ...w.O]);
    if (Cg > 1) gw = b.op1('Expand', [gw, b.ints([N, G, Cg, Mg, ...w.O])]);
    gw = b.reshape(gw, [N * C * Mg, 1, ...w.O]);
    r = b.op1('Conv', [xr, gw], [...attrs, ai('group', N * C)]); // [1, N·C·Mg, *K']
    const Kp = range(0, n).map((k) => Math.floor((w.S[k]! + w.pb[k]! + w.pe[k]! - w.s[k]! * (w.O[k]! - 1) - 1) / w.d[k]!) + 1);
    r = b.reduceSum(b.reshape(r, [N, G, Cg, Mg, ...Kp]), [0], false); // [G, Cg, Mg, K']
    r = b.transpose(r, [0, 2, 1, ...range(3, 3 + n)]);
    r = b.reshape(r, [M, Cg, ...Kp]);
  }
  return b.slice(r, new Array<number>(n).fill(0), K, range(2, 2 + n));
}

/** Kernel offsets of a pooling window in row-major order. */
function offsets(K: number[]): number[][] {
  let acc: number[][] = [[]];
  for (const k of K) acc = acc.flatMap((o) => range(0, k).map((i) => [...o, i]));
  return acc;
}

/** Places `parts[p]` ([N·C, P, *O]) at window offset p of each output position and sums overlaps. */
function scatterWindows(b: GraphBuilder, stacked: string, w: Window, dtype: number, P: number, ones: boolean): string {
  const kernelSize = w.K.reduce((a, k) => a * k, 1);
  const weights = new Array<number>(P * kernelSize).fill(ones ? 1 : 0);
  if (!ones) for (let p = 0; p < P; p++) weights[p * kernelSize + p] = 1;
  const kernel = b.constant(dtype, [P, 1, ...w.K], weights);
  return b.op1('ConvTranspose', [stacked, kernel], [aints('strides', w.s), aints('dilations', w.d), aints('kernel_shape', w.K)]);
}

/**
 * Non-overlapping windows (kernel = stride, no padding, no dilation): the input is viewed as
 * [N, C, O1, k1, O2, k2, ...] and compared with the output broadcast over the k axes; tied maxima
 * share the gradient (the general path below gives it to the first one, as the forward argmax).
 */
function maxPoolTiled(c: RuleContext, w: Window): string {
  const b = c.b;
  const x = c.inputs[0]!;
  const xd = c.info(x).dims;
  const t = c.info(x).dtype;
  const n = w.K.length;
  const [N, C] = [xd[0]!, xd[1]!];
  const used = w.O.map((o, k) => o * w.K[k]!);
  const xc = used.every((u, k) => u === w.S[k]) ? x : b.slice(x, new Array<number>(n).fill(0), used, range(2, 2 + n));
  const tiled = [N, C, ...w.O.flatMap((o, k) => [o, w.K[k]!])];
  const flat = [N, C, ...w.O.flatMap((o) => [o, 1])];
  const kAxes = range(0, n).map((k) => 3 + 2 * k);
  const mask = b.cast(b.equal(b.reshape(xc, tiled), b.reshape(c.outputs[0]!, flat)), t);
  // Divide the small gradient by the tie count, then one broadcasting Mul spreads it.
  const perWindow = b.div(b.reshape(c.gradOut[0]!, flat), b.reduceSum(mask, kAxes, true));
  const gx = b.reshape(b.mul(mask, perWindow), [N, C, ...used]);
  const short = w.S.map((s, k) => s - used[k]!);
  return short.every((v) => v === 0) ? gx : b.pad(gx, [0, 0, ...new Array<number>(n).fill(0), 0, 0, ...short], 0, t);
}

/**
 * The forward argmax, recomputed by a MaxPool with its Indices output (flat positions in the whole
 * input), receives each window's gradient through ScatterElements; overlapping windows add up
 * (reduction 'add', opset 16).
 */
function maxPoolScatter(c: RuleContext, overlapping: boolean): string {
  const b = c.b;
  const x = c.inputs[0]!;
  const xi = c.info(x);
  const total = xi.dims.reduce((a, v) => a * v, 1);
  const [, indices] = b.copyOf(c.node, [x], 2) as [string, string];
  const attrs = [ai('axis', 0), ...(overlapping ? [{ name: 'reduction', s: 'add' }] : [])];
  const flat = b.op1('ScatterElements', [b.zeros([total], xi.dtype), b.reshape(indices, [-1]), b.reshape(c.gradOut[0]!, [-1])], attrs);
  return b.reshapeLike(flat, x);
}

const maxPool: Rule = (c) => {
  if (!c.needs[0]) return [];
  if (c.gradOut[1]) throw new UnsupportedForm('MaxPool indices used downstream');
  const b = c.b;
  const x = c.inputs[0]!;
  const xd = c.info(x).dims;
  const t = c.info(x).dtype;
  const K = c.attrInts('kernel_shape')!;
  const w = window(c, K, true);
  const n = K.length;
  const overlapping = w.K.some((k, i) => (k - 1) * w.d[i]! + 1 > w.s[i]!);
  if (c.attrI('storage_order', 0) === 0 && (b.opset >= 16 || (b.opset >= 11 && !overlapping))) return [maxPoolScatter(c, overlapping)];
  if (c.attrI('ceil_mode', 0) === 0 && w.K.every((k, i) => k === w.s[i] && w.d[i] === 1) && [...w.pb, ...w.pe].every((p) => p === 0)) {
    return [maxPoolTiled(c, w)];
  }
  const F = fullExtent(w);
  if (b.opset < 10 && w.s.some((s) => s !== 1)) throw new UnsupportedForm('MaxPool gradient with strides needs opset 10 (strided Slice)');
  const endPad = w.S.map((S, k) => Math.max(w.pe[k]!, F[k]! - S - w.pb[k]!));
  const lowest = t === 11 ? -1.7976931348623157e308 : -3.4028234663852886e38;
  const xp = b.pad(x, [0, 0, ...w.pb, 0, 0, ...endPad], lowest, t);
  const y = c.outputs[0]!;
  const g = c.gradOut[0]!;
  const zero = b.scalar(t, 0);
  const NC = xd[0]! * xd[1]!;
  let taken: string | undefined;
  const parts: string[] = [];
  for (const o of offsets(K)) {
    const starts = o.map((i, k) => i * w.d[k]!);
    const ends = starts.map((s0, k) => s0 + (w.O[k]! - 1) * w.s[k]! + 1);
    const win = b.slice(xp, starts, ends, range(2, 2 + n), w.s);
    const eq = b.equal(win, y);
    // First maximum of each window takes the gradient (as the argmax of the forward pass does).
    const sel = taken ? b.op1('And', [eq, b.op1('Not', [taken])]) : eq;
    taken = taken ? b.op1('Or', [taken, eq]) : eq;
    parts.push(b.reshape(b.op1('Where', [sel, g, zero]), [NC, 1, ...w.O]));
  }
  const stacked = parts.length === 1 ? parts[0]! : b.op1('Concat', parts, [ai('axis', 1)]);
  const full = scatterWindows(b, stacked, w, t, parts.length, false);
  return [b.reshapeLike(cropToInput(b, full, w, F, t), x)];
};

/** Divisor of each average window, per output position (separable over the spatial axes). */
function divisors(w: Window, includePad: boolean): number[] {
  const perAxis = w.O.map((O, k) => range(0, O).map((o) => {
    let count = 0;
    for (let i = 0; i < w.K[k]!; i++) {
      const pos = o * w.s[k]! - w.pb[k]! + i * w.d[k]!;
      if (includePad ? pos >= -w.pb[k]! && pos < w.S[k]! + w.pe[k]! : pos >= 0 && pos < w.S[k]!) count++;
    }
    return count;
  }));
  let acc = [1];
  for (const ax of perAxis) acc = acc.flatMap((a) => ax.map((v) => a * v));
  return acc;
}

const averagePool: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const x = c.inputs[0]!;
  const xd = c.info(x).dims;
  const t = c.info(x).dtype;
  const K = c.attrInts('kernel_shape')!;
  const w = window(c, K, true);
  const div = divisors(w, c.attrI('count_include_pad', 0) !== 0);
  const inv = b.constant(t, w.O, div.map((v) => 1 / v));
  const scaled = b.reshape(b.mul(c.gradOut[0]!, inv), [xd[0]! * xd[1]!, 1, ...w.O]);
  const full = scatterWindows(b, scaled, w, t, 1, true);
  return [b.reshapeLike(cropToInput(b, full, w, fullExtent(w), t), x)];
};

const globalAveragePool: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const x = c.inputs[0]!;
  const xd = c.info(x).dims;
  const count = xd.slice(2).reduce((a, v) => a * v, 1);
  return [b.mul(b.op1('Expand', [c.gradOut[0]!, b.shape(x)]), b.scalar(c.info(x).dtype, 1 / count))];
};

const globalMaxPool: Rule = (c) => {
  if (!c.needs[0]) return [];
  const b = c.b;
  const x = c.inputs[0]!;
  const t = c.info(x).dtype;
  const rank = c.info(x).dims.length;
  const y = b.op1('Expand', [c.outputs[0]!, b.shape(x)]);
  const mask = b.cast(b.equal(x, y), t);
  const share = b.div(mask, b.reduceSum(mask, range(2, rank), true));
  return [b.mul(b.op1('Expand', [c.gradOut[0]!, b.shape(x)]), share)];
};

export const nnRules: Record<string, Rule> = {
  Softmax: softmax, LogSoftmax: logSoftmax, LayerNormalization: layerNorm,
  BatchNormalization: batchNorm, Conv: conv, MaxPool: maxPool, AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool, GlobalMaxPool: globalMaxPool,
};
