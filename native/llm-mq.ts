/** LLM-MQ's native pieces: sparse outlier protection and the per-bit-width quantisation error. */
import { check, checkLen, checkQuant, checkWeight, quantFields } from './checks';
import { call, cpuUnlessCuda } from './load';
import { outlierCount } from './limits';
import type { CallOptions, OutlierResult, QuantErrorResult, QuantSpec, Shape } from './types';

/**
 * Sparse outlier protection: the outlierCount(rows·cols, fraction) largest |w| (ties: lower index) go to an fp16
 * CSR matrix; the rest is quantised with groups fitted without them.
 */
export async function outliers(W: Float32Array, shape: Shape, fraction: number, q: QuantSpec, opts?: CallOptions): Promise<OutlierResult> {
  checkWeight(W, shape);
  const { rows, cols } = shape;
  check(fraction >= 0 && fraction < 1, `outlier fraction must be in [0, 1), got ${fraction}`);
  const groups = checkQuant(q, cols);
  const nnz = outlierCount(rows * cols, fraction);
  const out = {
    rowPtr: new Int32Array(rows + 1), colIdx: new Int32Array(nnz), values: new Uint16Array(nnz),
    codes: new Uint8Array(rows * cols), scales: new Float32Array(rows * groups), zeros: new Float32Array(rows * groups),
    dense: new Float32Array(rows * cols),
  };
  const r = await call((a) => a.outliers, { rows, cols, ...quantFields(q), W, nnz, ...out }, cpuUnlessCuda(opts));
  return {
    outliers: { rowPtr: out.rowPtr, colIdx: out.colIdx, values: out.values },
    dense: { weights: out.dense, codes: out.codes, scales: out.scales, zeros: out.zeros, groups },
    device: r.device,
    gpu: r.gpu,
  };
}

/** Quantisation error of W under RTN for each bit width (plain, Hessian-weighted, gradient-weighted). */
export async function quantError(
  W: Float32Array, shape: Shape, bits: number[], q: Omit<QuantSpec, 'bits'>,
  extra: { H?: Float32Array; G?: Float32Array } = {}, opts?: CallOptions,
): Promise<QuantErrorResult> {
  checkWeight(W, shape);
  const { rows, cols } = shape;
  check(bits.length > 0, 'bits list is empty');
  for (const b of bits) checkQuant({ ...q, bits: b }, cols);
  if (extra.H) checkLen(extra.H, cols * cols, 'H', `a ${cols}×${cols} Hessian`);
  if (extra.G) checkLen(extra.G, rows * cols, 'G', `a ${rows}×${cols} gradient`);
  const squared = new Float64Array(bits.length);
  const hessian = new Float64Array(bits.length);
  const gradient = new Float64Array(bits.length);
  const r = await call((a) => a.quantError, {
    rows, cols, ...quantFields({ ...q, bits: bits[0] }), bitsList: Int32Array.from(bits), W, H: extra.H, G: extra.G,
    squared, hessian, gradient,
  }, cpuUnlessCuda(opts));
  return { bits: [...bits], squared: [...squared], hessian: [...hessian], gradient: [...gradient], device: r.device, gpu: r.gpu };
}
