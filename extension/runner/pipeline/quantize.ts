// The quantize stage for one layer: RTN or GPTQ (with the layer's Hessian), optionally keeping a
// fraction of outliers in FP16. Keeps the codes for export and the dequantised weight for the
// fake-quant model.
import * as native from '../../../native/index';
import { deviceLabel } from './context';
import type { QuantizeStage, QuantParams } from '../../../language-server/core/recipe/resolved';
import type { LayerResult } from '../../../language-server/core/protocol/runner';
import { halfToFloat } from '../../../language-server/core/model/dtype';
import type { QuantizedLayer } from '../export/quant-store';
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

export async function quantizeLayer(ctx: RunContext, stage: QuantizeStage, name: string, stats?: LayerStats): Promise<LayerResult> {
  const layer = ctx.state.layer(name);
  const p = quantParamsOf(stage, name);
  const { rows, cols } = layer;
  const groupSize = p.group === 'channel' ? 0 : p.group;
  const spec = { bits: p.bits, groupSize, symmetric: p.symmetric };
  const W = await ctx.state.weight(name);
  const opts = { signal: ctx.signal, device: ctx.device };
  let q: native.Quantized;
  let loss: number | undefined;
  let outlierFraction: number | undefined;
  let weights: Float32Array;
  if (p.outliers > 0) {
    // LLM-MQ's sparse outliers: kept in FP16 beside the codes, so the layer has no pure packed form.
    const o = await native.outliers(W, { rows, cols }, p.outliers, spec, opts);
    weights = Float32Array.from(o.dense.weights);
    const { rowPtr, colIdx, values } = o.outliers;
    for (let r = 0; r < rows; r++) for (let k = rowPtr[r]!; k < rowPtr[r + 1]!; k++) weights[r * cols + colIdx[k]!] = halfToFloat(values[k]!);
    outlierFraction = values.length / (rows * cols);
    await ctx.state.setWeight(name, weights);
    ctx.state.dropQuantized(name);
    ctx.state.outlierLayers.set(name, { bits: p.bits, groups: rows * o.dense.groups, nnz: values.length });
    return { name, method: stage.method, bits: p.bits, groupSize: groupSize || cols, outlierFraction, device: deviceLabel(o) };
  }
  if (stage.method === 'gptq') {
    if (!stats) {
      // Layers the capture cannot serve (e.g. depthwise convolutions) fall back to RTN.
      ctx.warn(`layer '${name}': quantised with RTN instead of GPTQ (no calibration statistics)`);
      return quantizeLayer(ctx, { ...stage, method: 'rtn' }, name);
    }
    const r = await native.gptq(W, stats.H, { rows, cols }, {
      ...spec, blockSize: p.block, percdamp: p.dampening, actOrder: p.actorder,
      // Static groups keep each group's grid on contiguous columns, which packed formats need.
      staticGroups: p.actorder && groupSize > 0,
    }, opts);
    q = r;
    loss = r.loss;
  } else {
    q = await native.rtn(W, { rows, cols }, spec, opts);
  }
  weights = q.weights;
  const contiguous = q.gIdx.every((g, c) => g === (groupSize ? Math.floor(c / groupSize) : 0));
  const ql: QuantizedLayer = {
    name, rows, cols, bits: p.bits, groupSize: groupSize || cols, symmetric: p.symmetric, codes: q.codes, scales: q.scales, zeros: q.zeros,
    ...(contiguous ? {} : { gIdx: q.gIdx }),
  };
  await ctx.state.setQuantized(ql);
  const relError = stats && stats.H.length === cols * cols ? await relativeOutputError(W, weights, stats.H, rows, cols) : undefined;
  return { name, method: stage.method, bits: p.bits, groupSize: groupSize || cols, ...(loss !== undefined ? { loss } : {}), ...(relError !== undefined ? { relError } : {}), device: deviceLabel(q) };
}
