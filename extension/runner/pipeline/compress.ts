// The compression stages (prune, quantize, allocate): which layers, which calibration statistics
// they need, and the per-layer loop with progress. Methods that need data get each layer's Hessian
// and input norms from calibration (sequentially, block by block, for transformer models).
import type { AllocateStage, PruneStage, QuantizeStage } from '../../../language-server/core/recipe/resolved';
import type { LayerResult, StageKind } from '../../../language-server/core/protocol/runner';
import { LayerProgress, StageError, type RunContext } from './context';
import { quantizeLayer, type LayerStats } from './quantize';
import { pruneLayer } from './prune';
import { calibrate } from './calibrate';
import { allocateStage } from './allocate';
import { BlockEta } from './eta';
import type { ResolvedStage } from '../../../language-server/core/recipe/resolved';
import { calibrationBatch } from './calibrate';
import * as native from '../../../native/index';

type Timed = <T>(stage: StageKind, label: string, fn: () => Promise<T>) => Promise<T>;

function needsData(stage: PruneStage | QuantizeStage): boolean {
  return stage.method === 'gptq' || stage.method === 'sparsegpt' || stage.method === 'wanda';
}

/** One line saying what a compression stage does (logs, the export README). */
export function describeStage(stage: PruneStage | QuantizeStage | AllocateStage): string {
  const n = stage.selection.layers?.length ?? 0;
  if (stage.kind === 'quantize') {
    const p = stage.params;
    const widths = [...new Set(Object.values(stage.perLayer ?? {}).map((q) => q.bits))].sort((a, b) => a - b);
    const bits = widths.length > 1 ? widths.join('/') : String(p.bits);
    return `${stage.method} ${bits} bit, group ${p.group}${p.symmetric ? ', symmetric' : ''} on ${n} layers`;
  }
  if (stage.kind === 'prune') {
    const p = stage.params;
    return `${stage.method} ${p.pattern === 'unstructured' ? `${(100 * p.sparsity).toFixed(0)}%` : `${p.pattern.n}:${p.pattern.m}`} on ${n} layers`;
  }
  const b = stage.params.budget;
  return `${stage.method} to ${b.kind === 'bits' ? `${b.bits} bits` : `${b.bytes} bytes`} over ${n} layers (candidates ${stage.params.candidates.join(' ')})`;
}

/**
 * Runs `fn` for every name, as many at once as there are GPUs to take them (the native calls spread
 * over the GPUs, each call taking the least busy one), one at a time on the CPU (one call already
 * uses every core) or with a single GPU. After a failure no further layer starts; the ones already
 * running finish (nothing touches the model after this returns) and the first failure is thrown.
 */
export async function forEachLayer(names: readonly string[], concurrency: number, fn: (name: string) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < names.length) {
      const name = names[next++]!;
      try {
        await fn(name);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, names.length)) }, worker));
  if (failure) throw failure.error;
}

/**
 * What the stages after a calibrated one should take, from the forward rate block-wise calibration
 * measured: each evaluation runs its windows through every part for both models. Undefined when
 * there is no rate yet, or a later stage's cost is unknown (another calibrated stage).
 */
function laterStages(ctx: RunContext, rest: readonly ResolvedStage[], eta: BlockEta): number | undefined {
  const perBatch = eta.forwardSecondsPerBatch;
  const plan = ctx.state.blockPlan();
  if (perBatch === undefined || !plan.ok) return undefined;
  const calib = ctx.recipe.datasets[0];
  const calibTokens = (calib?.seqlen ?? 1) * calibrationBatch(calib?.seqlen);
  let seconds = 0;
  for (const s of rest) {
    if (s.kind === 'evaluate') {
      for (const m of s.metrics) {
        const d = ctx.recipe.datasets.find((x) => x.name === m.data);
        if (!d || (m.metric !== 'perplexity' && m.metric !== 'kl')) continue;
        seconds += (perBatch / calibTokens) * d.samples * (d.seqlen ?? 1) * plan.plan.parts.length * 2;
      }
    } else if (s.kind !== 'export') {
      return undefined;
    }
  }
  return seconds;
}

/** How many layer jobs to run at once on this run's device. */
function layerConcurrency(ctx: RunContext): number {
  return ctx.device === 'cpu' ? 1 : Math.max(1, native.gpuCount());
}

/** `method`: what the layer results say was done (an allocation's GPTQ says `llm-mq/gptq`). */
export async function runCompressionStage(ctx: RunContext, stage: PruneStage | QuantizeStage | AllocateStage, timed: Timed, method?: string): Promise<void> {
  const { layers, tied } = ctx.state.untied(stage.selection.layers ?? []);
  for (const t of tied) ctx.warn(`layer '${t.name}' shares its stored weight with '${t.as}' (tied): compressed once, as '${t.as}'; both read the result`);
  if (stage.kind === 'allocate') {
    const gptq = await timed('allocate', describeStage(stage), () => allocateStage(ctx, stage));
    if (gptq) await runCompressionStage(ctx, gptq, timed, 'llm-mq/gptq');
    return;
  }
  const work = async (name: string, stats?: LayerStats): Promise<LayerResult> => {
    const r = await (stage.kind === 'quantize' ? quantizeLayer(ctx, stage, name, stats) : pruneLayer(ctx, stage, name, stats));
    return method ? { ...r, method } : r;
  };
  const progress = new LayerProgress(ctx, stage.kind, layers.length);
  if (!needsData(stage)) {
    await timed(stage.kind, describeStage(stage), async () => {
      await forEachLayer(layers, layerConcurrency(ctx), (name) => progress.run(name, () => work(name)));
    });
    return;
  }
  const data = stage.data ?? ctx.recipe.datasets[0]?.name;
  const dataset = ctx.recipe.datasets.find((d) => d.name === data);
  if (!dataset) throw new StageError(stage, `${stage.method} needs a calibration data set (write \`on NAME\`)`);
  const eta = new BlockEta();
  const rest = ctx.recipe.stages.slice(ctx.recipe.stages.indexOf(stage) + 1);
  progress.later = () => laterStages(ctx, rest, eta);
  await timed(stage.kind, `${describeStage(stage)}, calibration on ${dataset.name}`, () =>
    calibrate(ctx, stage.kind, dataset, layers, stage.method !== 'wanda', async (group, stats) => {
      await forEachLayer(group, layerConcurrency(ctx), (name) => progress.run(name, () => work(name, stats.get(name))));
    }, { progress, eta }));
}

