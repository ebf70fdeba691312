// The prune stage for one layer: magnitude, Wanda (input norms) or SparseGPT (Hessian).
import * as native from '../../../native/index';
import { OBS_BLOCK } from '../../../native/limits';
import { deviceLabel } from './context';
import type { PruneStage, PruneParams } from '../../../language-server/core/recipe/resolved';
import type { LayerResult } from '../../../language-server/core/protocol/runner';
import type { RunContext } from './context';
import type { LayerStats } from './quantize';
import { relativeOutputError } from '../engine/calibrate/output-error';

/**
 * SparseGPT's lazy-update block for a recipe's `block`: a multiple of M (it must hold whole N:M
 * groups), the nearest to the one written, within native/limits.ts's maximum (a block the checker
 * accepts is never refused by the native call).
 */
export function sparseGptBlock(block: number, m: number): number {
  return Math.max(m, Math.min(Math.round(block / m), Math.floor(OBS_BLOCK.max / m)) * m);
}

export function pruneParamsOf(stage: PruneStage, name: string): PruneParams {
  return stage.perLayer?.[name] ?? stage.params;
}

export async function pruneLayer(ctx: RunContext, stage: PruneStage, name: string, stats?: LayerStats): Promise<LayerResult> {
  const layer = ctx.state.layer(name);
  const p = pruneParamsOf(stage, name);
  const { rows, cols } = layer;
  const pattern = p.pattern === 'unstructured' ? { sparsity: p.sparsity } : { n: p.pattern.n, m: p.pattern.m };
  const W = await ctx.state.weight(name);
  const opts = { signal: ctx.signal, device: ctx.device };
  let r: native.Pruned;
  let loss: number | undefined;
  if (stage.method === 'magnitude') {
    r = await native.magnitude(W, { rows, cols }, pattern, opts);
  } else if (stage.method === 'wanda') {
    if (!stats) {
      ctx.warn(`layer '${name}': pruned by magnitude instead of Wanda (no calibration statistics)`);
      return pruneLayer(ctx, { ...stage, method: 'magnitude' }, name);
    }
    r = await native.wanda(W, stats.colNorms, { rows, cols }, pattern, opts);
  } else {
    if (!stats) {
      ctx.warn(`layer '${name}': pruned by magnitude instead of SparseGPT (no calibration statistics)`);
      return pruneLayer(ctx, { ...stage, method: 'magnitude' }, name);
    }
    const block = sparseGptBlock(p.block, p.pattern === 'unstructured' ? 1 : p.pattern.m);
    const s = await native.sparsegpt(W, stats.H, { rows, cols }, { ...pattern, blockSize: block, percdamp: p.dampening }, opts);
    r = s;
    loss = s.loss;
  }
  let zeros = 0;
  for (let i = 0; i < r.mask.length; i++) zeros += r.mask[i]!;
  await ctx.state.setWeight(name, r.weights);
  ctx.state.markPruned(name);
  const relError = stats && stats.H.length === cols * cols ? await relativeOutputError(W, r.weights, stats.H, rows, cols) : undefined;
  return {
    name, method: stage.method, sparsity: zeros / (rows * cols),
    ...(loss !== undefined ? { loss } : {}), ...(relError !== undefined ? { relError } : {}), device: deviceLabel(r),
  };
}
