// The allocate stage (LLM-MQ): the sensitivity engine scores every selected layer at each
// candidate width, the MCKP allocator picks one width per layer under the recipe's budget, and
// each layer is then quantised at its width with the quantiser the scores assumed (min-max RTN
// grid, LLM-MQ's fp16 outliers at the low widths). Sensitivities are measured on the original
// model (stages before an allocate stage do not change its scores).
import type { AllocateStage, QuantizeStage } from '../../../language-server/core/recipe/resolved';
import { computeSensitivity } from '../engine/sensitivity/engine';
import { Allocator } from '../../../language-server/core/sensitivity/allocate';
import { outlierFractionAt } from '../engine/sensitivity/quantize';
import { LayerProgress, StageError, type RunContext } from './context';
import { quantizeLayer } from './quantize';

export async function allocateStage(ctx: RunContext, stage: AllocateStage): Promise<void> {
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
  const progress = new LayerProgress(ctx, 'allocate', result.layers.length);
  for (const [i, layer] of result.layers.entries()) {
    const bits = alloc.bits[i]!;
    const q: QuantizeStage = {
      kind: 'quantize', method: 'rtn', index: stage.index, range: stage.range, selection: stage.selection, overrides: [],
      params: { bits, group: p.group, symmetric: p.symmetric, actorder: false, dampening: 0.01, block: 128, outliers: outlierFractionAt(bits, p.outliers) },
    };
    await progress.run(layer.name, async () => ({ ...(await quantizeLayer(ctx, q, layer.name)), method: 'llm-mq' }));
  }
}
