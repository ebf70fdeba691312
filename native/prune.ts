/** Pruning calls: SparseGPT (OBS update, optionally joint with quantisation), Wanda and magnitude. */
import { check, checkBlockSize, checkLen, checkPattern, checkQuant, checkWeight, quantFields } from './checks';
import { call, cpuUnlessCuda } from './load';
import type { CallOptions, Pruned, Shape, SparseGptOptions, SparseGptResult, SparsityPattern } from './types';

/** SparseGPT: prune (unstructured or N:M) with the OBS update, optionally quantising what is kept. */
export async function sparsegpt(W: Float32Array, H: Float32Array, shape: Shape, o: SparseGptOptions, opts?: CallOptions): Promise<SparseGptResult> {
  checkWeight(W, shape, H);
  const { rows, cols } = shape;
  const p = checkPattern(o, cols);
  const blockSize = checkBlockSize(o.blockSize);
  check(!p.m || blockSize % p.m === 0, `blockSize ${blockSize} must be a multiple of m=${p.m}`);
  const groups = o.quant ? checkQuant(o.quant, cols) : 1;
  const weights = new Float32Array(rows * cols);
  const mask = new Uint8Array(rows * cols);
  const quantized = o.quant
    ? { codes: new Uint8Array(rows * cols), scales: new Float32Array(rows * groups), zeros: new Float32Array(rows * groups), groups }
    : undefined;
  const r = await call((a) => a.sparsegpt, {
    rows, cols, ...p, blockSize, percdamp: o.percdamp ?? 0.01, W, H, Q: weights, mask,
    ...(o.quant && quantized
      ? { quantize: true, ...quantFields(o.quant), codes: quantized.codes, scales: quantized.scales, zeros: quantized.zeros }
      : {}),
  }, opts);
  return { weights, mask, loss: r.loss, quantized, device: r.device, gpu: r.gpu };
}

/** Wanda: prune the lowest |W_ij|·‖X_j‖₂ within each row (or each N:M group). No weight update. */
export async function wanda(W: Float32Array, colNorms: Float32Array, shape: Shape, p: SparsityPattern, opts?: CallOptions): Promise<Pruned> {
  checkWeight(W, shape);
  checkLen(colNorms, shape.cols, 'colNorms', `${shape.cols} input features`);
  const pat = checkPattern(p, shape.cols);
  const weights = new Float32Array(W.length);
  const mask = new Uint8Array(W.length);
  const r = await call((a) => a.wanda, { ...shape, ...pat, W, colNorms, Q: weights, mask }, cpuUnlessCuda(opts));
  return { weights, mask, device: r.device, gpu: r.gpu };
}

/** Magnitude pruning: layer-wide |W| threshold (unstructured) or per-row N:M. */
export async function magnitude(W: Float32Array, shape: Shape, p: SparsityPattern, opts?: CallOptions): Promise<Pruned> {
  checkWeight(W, shape);
  const pat = checkPattern(p, shape.cols);
  const weights = new Float32Array(W.length);
  const mask = new Uint8Array(W.length);
  const r = await call((a) => a.magnitude, { ...shape, ...pat, W, Q: weights, mask }, cpuUnlessCuda(opts));
  return { weights, mask, device: r.device, gpu: r.gpu };
}
