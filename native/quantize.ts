/** Quantisation calls: the min-max grid, round-to-nearest and GPTQ. */
import { check, checkBlockSize, checkHold, checkQuant, checkWeight, quantFields } from './checks';
import { call } from './load';
import type { CallOptions, GptqOptions, GptqResult, QuantGrid, QuantSpec, Quantized, Ran, Shape } from './types';

/** Fits the min-max grid of every row / group of W. */
export async function quantGrid(W: Float32Array, shape: Shape, q: QuantSpec, opts?: CallOptions): Promise<QuantGrid & Ran> {
  checkWeight(W, shape);
  const groups = checkQuant(q, shape.cols);
  const scales = new Float32Array(shape.rows * groups);
  const zeros = new Float32Array(shape.rows * groups);
  const r = await call((a) => a.quantGrid, { ...shape, ...quantFields(q), W, scales, zeros }, opts);
  return { scales, zeros, groups, device: r.device, gpu: r.gpu };
}

/** Round-to-nearest quantisation with the min-max grid (GPTQ's `--nearest` baseline). */
export async function rtn(W: Float32Array, shape: Shape, q: QuantSpec, opts?: CallOptions): Promise<Quantized> {
  checkWeight(W, shape);
  const groups = checkQuant(q, shape.cols);
  const n = shape.rows * shape.cols;
  const scales = new Float32Array(shape.rows * groups);
  const zeros = new Float32Array(shape.rows * groups);
  const codes = new Uint8Array(n);
  const weights = new Float32Array(n);
  const r = await call((a) => a.quantGrid, { ...shape, ...quantFields(q), W, scales, zeros, codes, Q: weights }, opts);
  const g = q.groupSize || shape.cols;
  const gIdx = Int32Array.from({ length: shape.cols }, (_, c) => (q.groupSize ? Math.floor(c / g) : 0));
  return { weights, codes, scales, zeros, groups, gIdx, device: r.device, gpu: r.gpu };
}

/** GPTQ: quantise W against its input Hessian H (cols × cols). */
export async function gptq(W: Float32Array, H: Float32Array, shape: Shape, o: GptqOptions, opts?: CallOptions): Promise<GptqResult> {
  checkWeight(W, shape, H);
  const { rows, cols } = shape;
  const groups = checkQuant(o, cols);
  const blockSize = checkBlockSize(o.blockSize);
  const percdamp = o.percdamp ?? 0.01;
  check(percdamp >= 0, `percdamp must be ≥ 0, got ${percdamp}`);
  if (o.hold) checkHold(o.hold, rows * cols);
  const weights = new Float32Array(rows * cols);
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const zeros = new Float32Array(rows * groups);
  const gIdx = new Int32Array(cols);
  const perm = new Int32Array(cols);
  const r = await call((a) => a.gptq, {
    rows, cols, ...quantFields(o), blockSize, percdamp, actOrder: !!o.actOrder, staticGroups: !!o.staticGroups,
    ...(o.hold ? { hold: o.hold } : {}), W, H, Q: weights, codes, scales, zeros, gIdx, perm,
  }, opts);
  return { weights, codes, scales, zeros, groups, gIdx, perm, loss: r.loss, device: r.device, gpu: r.gpu };
}
