/**
 * The quantiser every sensitivity metric and every measured point uses, so that scores, sizes and
 * measurements describe the same thing: GPTQ's min-max RTN grid per group (addon), with LLM-MQ's
 * sparse fp16 outliers taken out first at the low widths (core/cost's outlierFractionAt).
 */
import * as native from '../../../../native/index';
import { halfToFloat } from '../../../../language-server/core/model/dtype';
import type { QuantLayout } from '../../../../language-server/core/cost/formats';

export { OUTLIER_MAX_BITS, outlierFractionAt } from '../../../../language-server/core/cost/cost';

/** A weight's shape. */
export interface LayerShape { rows: number; cols: number }

/** W quantised to `bits` and dequantised (rows × cols), outliers restored in fp16. */
export async function quantizeWeight(W: Float32Array, shape: LayerShape, bits: number, layout: Pick<QuantLayout, 'group' | 'symmetric'>, outlierFraction: number, opts: native.CallOptions = {}): Promise<Float32Array> {
  const spec = { bits, groupSize: layout.group === 'channel' ? 0 : layout.group, symmetric: layout.symmetric };
  if (outlierFraction <= 0) return (await native.rtn(W, shape, spec, opts)).weights;
  const o = await native.outliers(W, shape, outlierFraction, spec, opts);
  const Q = Float32Array.from(o.dense.weights);
  const { rowPtr, colIdx, values } = o.outliers;
  for (let r = 0; r < shape.rows; r++) for (let k = rowPtr[r]!; k < rowPtr[r + 1]!; k++) Q[r * shape.cols + colIdx[k]!] = halfToFloat(values[k]!);
  return Q;
}

/** Scores of ΔW = W − Q: ‖ΔW‖²/‖W‖², ½·tr(ΔW H ΔWᵀ) (with H), |⟨G, ΔW⟩| (with G). */
export function errorScores(W: Float32Array, Q: Float32Array, shape: LayerShape, H?: Float32Array, G?: Float32Array): { relError: number; hessian?: number; gradient?: number } {
  const { rows, cols } = shape;
  let dd = 0;
  let ww = 0;
  let g = 0;
  let h = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const x = W[o + c]! - Q[o + c]!;
      d[c] = x;
      dd += x * x;
      ww += W[o + c]! * W[o + c]!;
      if (G) g += G[o + c]! * x;
    }
    if (H) {
      for (let i = 0; i < cols; i++) {
        if (d[i] === 0) continue;
        let a = 0;
        const hi = i * cols;
        for (let j = 0; j < cols; j++) a += H[hi + j]! * d[j]!;
        h += d[i]! * a;
      }
    }
  }
  return { relError: ww > 0 ? dd / ww : 0, ...(H ? { hessian: h / 2 } : {}), ...(G ? { gradient: Math.abs(g) } : {}) };
}
