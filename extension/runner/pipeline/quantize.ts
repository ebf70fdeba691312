// The quantize stage for one layer: RTN or GPTQ (with the layer's Hessian), optionally keeping a
// fraction of outliers in FP16 (GPTQ then runs on the inliers), and keeping the mask of a layer an
// earlier stage pruned. Keeps the codes and outliers for export and the dequantised weight for the
// fake-quant model.
import * as native from '../../../native/index';
import { deviceLabel } from './context';
import type { QuantizeStage, QuantParams } from '../../../language-server/core/recipe/resolved';
import type { LayerResult } from '../../../language-server/core/protocol/runner';
import { floatToHalf, halfToFloat } from '../../../language-server/core/model/dtype';
import type { OutlierCsr, QuantizedLayer } from '../export/quant-store';
import type { RunContext } from './context';
import { relativeOutputError } from '../engine/calibrate/output-error';

/** Calibration statistics of one layer's inputs. */
export interface LayerStats {
  /** Hessian H = (2/n)·Σ x·xᵀ, cols × cols. */
  H: Float32Array;
  /** ‖X_j‖₂ per input column. */
  colNorms: Float32Array;
}

export function quantParamsOf(stage: QuantizeStage, name: string): QuantParams {
  return stage.perLayer?.[name] ?? stage.params;
}

/**
 * The entries GPTQ must not quantise: the pruned ones (they stay 0, so the mask survives) and the
 * outliers (kept in fp16, GPTQ runs on the inliers as LLM-MQ does). Undefined when there are none.
 */
function holdOf(W: Float32Array, rows: number, cols: number, pruned: boolean, outliers: native.CsrF16 | undefined): Uint8Array | undefined {
  if (!pruned && !outliers?.values.length) return undefined;
  const hold = new Uint8Array(rows * cols);
  // a pruned layer's mask is its exact zeros (pruning writes them, nothing else does)
  if (pruned) for (let i = 0; i < hold.length; i++) if (W[i] === 0) hold[i] = native.HOLD.pruned;
  if (outliers) for (let r = 0; r < rows; r++) for (let k = outliers.rowPtr[r]!; k < outliers.rowPtr[r + 1]!; k++) hold[r * cols + outliers.colIdx[k]!] = native.HOLD.outlier;
  return hold;
}

export async function quantizeLayer(ctx: RunContext, stage: QuantizeStage, name: string, stats?: LayerStats): Promise<LayerResult> {
  const layer = ctx.state.layer(name);
  const p = quantParamsOf(stage, name);
  const { rows, cols } = layer;
  const groupSize = p.group === 'channel' ? 0 : p.group;
  const spec = { bits: p.bits, groupSize, symmetric: p.symmetric };
  const W = await ctx.state.weight(name);
  const opts = { signal: ctx.signal, device: ctx.device };
  if (stage.method === 'gptq' && !stats) {
    // Layers the capture cannot serve (e.g. depthwise convolutions) fall back to RTN.
    ctx.warn(`layer '${name}': quantised with RTN instead of GPTQ (no calibration statistics)`);
    return quantizeLayer(ctx, { ...stage, method: 'rtn' }, name);
  }
  // LLM-MQ's sparse outliers: the largest |w| kept in fp16 beside the codes (RTN fits the grid of the
  // rest; GPTQ holds them out of its grids and error loop); the export writes them beside the codes.
  const o = p.outliers > 0 ? await native.outliers(W, { rows, cols }, p.outliers, spec, opts) : undefined;
  let q: native.Quantized;
  let loss: number | undefined;
  let outliers: OutlierCsr | undefined;
  if (stage.method === 'gptq') {
    const r = await native.gptq(W, stats!.H, { rows, cols }, {
      ...spec, blockSize: p.block, percdamp: p.dampening, actOrder: p.actorder,
      // Static groups keep each group's grid on contiguous columns, which packed formats need.
      staticGroups: p.actorder && groupSize > 0, hold: holdOf(W, rows, cols, ctx.state.wasPruned(name), o?.outliers),
    }, opts);
    q = r;
    loss = r.loss;
    // held outliers end as fp16 of their value when GPTQ reached them
    if (o) outliers = { ...o.outliers, values: Uint16Array.from(o.outliers.colIdx, (c, k) => floatToHalf(r.weights[rowOf(o.outliers, k) * cols + c]!)) };
  } else if (o) {
    // RTN: pruned entries are 0, which every grid holds exactly, so the mask survives as it is
    const weights = Float32Array.from(o.dense.weights);
    const { rowPtr, colIdx, values } = o.outliers;
    for (let r = 0; r < rows; r++) for (let k = rowPtr[r]!; k < rowPtr[r + 1]!; k++) weights[r * cols + colIdx[k]!] = halfToFloat(values[k]!);
    const g = groupSize || cols;
    q = { ...o.dense, weights, gIdx: Int32Array.from({ length: cols }, (_, c) => (groupSize ? Math.floor(c / g) : 0)), device: o.device, gpu: o.gpu };
    outliers = o.outliers;
  } else {
    q = await native.rtn(W, { rows, cols }, spec, opts);
  }
  const weights = q.weights;
  const contiguous = q.gIdx.every((g, c) => g === (groupSize ? Math.floor(c / groupSize) : 0));
  const ql: QuantizedLayer = {
    name, rows, cols, bits: p.bits, groupSize: groupSize || cols, symmetric: p.symmetric, codes: q.codes, scales: q.scales, zeros: q.zeros,
    ...(contiguous ? {} : { gIdx: q.gIdx }), ...(outliers?.values.length ? { outliers } : {}),
  };
  await ctx.state.setQuantized(ql);
  const relError = stats && stats.H.length === cols * cols ? await relativeOutputError(W, weights, stats.H, rows, cols) : undefined;
  return {
    name, method: stage.method, bits: p.bits, groupSize: groupSize || cols, ...(loss !== undefined ? { loss } : {}), ...(relError !== undefined ? { relError } : {}),
    ...(outliers ? { outlierFraction: outliers.values.length / (rows * cols) } : {}), device: deviceLabel(q),
  };
}

/** The row of the k-th entry of a CSR matrix. */
function rowOf(m: native.CsrF16, k: number): number {
  let lo = 0;
  let hi = m.rowPtr.length - 2;
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (m.rowPtr[mid]! <= k) lo = mid; else hi = mid - 1; }
  return lo;
}
