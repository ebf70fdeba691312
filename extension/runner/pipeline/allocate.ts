// The allocate stage (LLM-MQ): the sensitivity engine scores every selected layer at each
// candidate width (the widths the export stores: the resolved recipe's per-layer candidates), the
// MCKP allocator picks one width per layer under the recipe's budget (bytes counted by the one
// cost model, in the export's format), and each layer is then quantised at its width with the
// stage's `quantizer`: the min-max RTN grid the scores assumed, here, or GPTQ, which the caller
// runs as a quantize stage with the allocated widths (calibration block by block); both keep
// LLM-MQ's fp16 outliers at the low widths. Sensitivities are measured on the original model
// (stages before an allocate stage do not change its scores).
import type { AllocateStage, QuantizeStage, QuantParams } from '../../../language-server/core/recipe/resolved';
import { quantDefaults } from '../../../language-server/core/recipe/analysis/params';
import { computeSensitivity } from '../engine/sensitivity/engine';
import { Allocator } from '../../../language-server/core/sensitivity/allocate';
import { outlierFractionAt } from '../engine/sensitivity/quantize';
import { LayerProgress, StageError, type RunContext } from './context';
import { quantizeLayer } from './quantize';

/** Allocates and quantises with RTN; with `quantizer gptq`, returns the quantize stage to run instead. */
export async function allocateStage(ctx: RunContext, stage: AllocateStage): Promise<QuantizeStage | undefined> {
  const which = ctx.recipe.stages.filter((s) => s.kind === 'allocate').indexOf(stage);
  const p = stage.params;
  const result = await computeSensitivity(ctx.recipe, {
    // The engine's model-level measured points are not used here: one window keeps them cheap.
    which, metrics: [p.metric], evalWindows: 1, signal: ctx.signal,
    onProgress: (x) => ctx.sink.emit({ type: 'progress', stage: 'allocate', done: x.done, total: x.total, ...(x.label ? { layer: x.label } : {}) }),
  });
  for (const n of result.notes) ctx.sink.emit({ type: 'log', level: 'info', message: `allocate: ${n}` });
  const alloc = new Allocator(result.layers, { metric: p.metric }).solve(p.budget);
  if (!alloc.feasible) throw new StageError(stage, `the budget is below the smallest allocation of the selected layers (${alloc.bytes} bytes at the lowest widths)`);
  ctx.sink.emit({ type: 'log', level: 'info', message: `allocate: ${alloc.averageBits.toFixed(2)} bits on average, ${alloc.bytes.toLocaleString('en-US')} bytes, predicted ${p.metric} loss ${alloc.predicted.toPrecision(4)}` });
  const paramsAt = (bits: number): QuantParams => ({
    ...quantDefaults(), bits, group: p.group, symmetric: p.symmetric, outliers: outlierFractionAt(bits, p.outliers),
  });
  if (p.quantizer === 'gptq') {
    const perLayer = Object.fromEntries(result.layers.map((l, i) => [l.name, paramsAt(alloc.bits[i]!)]));
    return {
      kind: 'quantize', method: 'gptq', index: stage.index, range: stage.range, data: stage.data, overrides: [], perLayer,
      selection: { ...stage.selection, layers: result.layers.map((l) => l.name) }, params: paramsAt(Math.max(...alloc.bits)),
    };
  }
  const progress = new LayerProgress(ctx, 'allocate', result.layers.length);
  for (const [i, layer] of result.layers.entries()) {
    const q: QuantizeStage = {
      kind: 'quantize', method: 'rtn', index: stage.index, range: stage.range, selection: stage.selection, overrides: [], params: paramsAt(alloc.bits[i]!),
    };
    await progress.run(layer.name, async () => ({ ...(await quantizeLayer(ctx, q, layer.name)), method: 'llm-mq' }));
  }
  return undefined;
}
