// Calibration statistics for the layers of a stage: the stage's data set becomes feed batches for
// the model's input, then either sequential calibration (the layers span two or more transformer
// blocks: each block is captured on the model with the earlier blocks already compressed, as GPTQ's
// driver does) or one pass on the model as it is now. Sequential calibration runs block by block
// on parts cut from the graph (engine/calibrate/blockwise.ts) when the graph can be cut, else
// through the whole model once per block (said in the log).
import path from 'node:path';
import type { ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import type { CalibrationRecord, StageKind } from '../../../language-server/core/protocol/runner';
import type { LayerInfo } from '../../../language-server/core/model/types';
import { calibrateSequential, captureStats, groupLayers, type CalibrationReport, type LayerStats as CapturedStats } from '../engine/calibrate/calibrate';
import { activationBudget, calibrateBlockwise } from '../engine/calibrate/blockwise';
import { availableGpuMemory, availableMemory, memoryShortfall, partPlacement } from '../engine/blocks/memory';
import { providerChoice } from '../engine/evaluate/session';
import type { BlockPlan } from '../engine/blocks/plan';
import { weightBudget } from './weight-store';
import { spansBlocks } from '../engine/blocks/labels';
import { describeIoFromModel } from '../engine/evaluate/io';
import { feedBatches } from '../engine/evaluate/datasets';
import type { LayerProgress, RunContext } from './context';
import type { BlockEta } from './eta';
import type { LayerStats } from './quantize';

/** Folder of a run's scratch files (removed when the run ends; the store sweeps those of dead runs). */
import { SCRATCH_DIR } from '../../../language-server/core/runs/store';
export { SCRATCH_DIR };

/** True when the layers belong to at least two transformer blocks. */
export function isSequential(layers: string[]): boolean {
  return spansBlocks(layers);
}

/** Calibration batch size: today's 4 windows up to 512 tokens, fewer for longer windows (one run stays short). */
export function calibrationBatch(seqlen: number | undefined): number {
  return !seqlen || seqlen <= 512 ? 4 : Math.max(1, Math.floor(2048 / seqlen));
}

/**
 * Refuses, before any work, a model whose largest block does not fit the memory this machine has
 * (and its GPU's, when the native executor runs the blocks on CUDA), for the provider asked.
 */
function checkMemory(plan: BlockPlan, layers: readonly LayerInfo[], d: ResolvedDataset): void {
  const seqlen = d.seqlen ?? 1;
  const width = plan.parts.find((p) => p.kind === 'block')?.layers[0]?.cols ?? 0;
  const codes = layers.reduce((a, l) => a + l.params, 0);
  const placement = partPlacement(providerChoice());
  const why = memoryShortfall(plan, {
    batchTokens: calibrationBatch(seqlen) * seqlen,
    cacheBytes: Math.min(activationBudget(), 4 * d.samples * seqlen * width),
    storeBytes: Math.min(weightBudget(), codes),
  }, placement, { host: availableMemory(), ...(placement.engine === 'native' && placement.device === 'cuda' ? { gpu: availableGpuMemory() } : {}) });
  if (why) throw new Error(why);
}

function recordOf(stage: StageKind, driver: CalibrationRecord['driver'], r: CalibrationReport): CalibrationRecord {
  return { stage, driver, passes: r.passes, seconds: r.seconds, provider: r.provider, hessianBackend: r.hessianBackend, peakRssMB: r.peakRssMB };
}

function fmtMB(n: number): string {
  return `${(n / 1048576).toFixed(0)} MB`;
}

function toStats(s: Map<string, CapturedStats>): Map<string, LayerStats> {
  return new Map([...s].map(([k, v]) => [k, { H: v.hessian, colNorms: v.colNorms }]));
}

/**
 * Calls `visit` with each group of layers and their statistics, in order; layers the capture cannot
 * serve (embeddings, grouped convolutions) come last with no statistics.
 */
export async function calibrate(ctx: RunContext, stage: StageKind, dataset: ResolvedDataset, layers: string[], needHessian: boolean,
  visit: (group: string[], stats: Map<string, LayerStats>) => Promise<void>, report: { progress?: LayerProgress; eta?: BlockEta } = {}): Promise<void> {
  const original = ctx.state.original.path;
  // The inputs from the graph: no session on a model that may be many GB just to read them.
  const io = describeIoFromModel(ctx.state.original);
  const s = dataset.source;
  const { batches } = await feedBatches(s.path, io, original, {
    ...('labels' in s ? { labels: s.labels } : {}),
    ...(s.kind === 'text' ? { seqlen: dataset.seqlen, count: dataset.samples, seed: dataset.seed, batch: calibrationBatch(dataset.seqlen), ...(s.tokenizer !== 'byte' ? { tokenizer: s.tokenizer.path } : {}) } : {}),
    limit: dataset.samples,
  });
  const infos = layers.map((n) => ctx.state.layer(n));
  const seen = new Set<string>();
  const sequential = isSequential(layers);
  const planned = sequential ? ctx.state.blockPlan() : undefined;
  // QRECIPE_BLOCKWISE=0 keeps the whole-model path (to compare the two).
  const allowed = process.env.QRECIPE_BLOCKWISE !== '0';
  const blockwise = allowed && planned?.ok && (planned.plan.named || planned.plan.transformer) ? planned.plan : undefined;
  const how = !sequential ? 'one-pass calibration'
    : blockwise ? `sequential calibration, block by block on ${blockwise.blocks} blocks cut from the graph,`
      : `sequential calibration through the whole model once per block (${!allowed ? 'QRECIPE_BLOCKWISE=0' : `the graph cannot be cut into blocks: ${planned?.ok ? 'its blocks are not transformer blocks' : planned?.reason ?? 'not planned'}`}),`;
  ctx.sink.emit({ type: 'log', level: 'info', message: `${stage}: ${how} on '${dataset.name}' (${dataset.samples} samples)` });
  const opts = { signal: ctx.signal, layers: infos, groups: groupLayers(infos), hessian: needHessian };
  const run = async (group: LayerInfo[], stats: Map<string, CapturedStats>): Promise<void> => {
    const names = group.map((l) => l.name);
    for (const n of names) seen.add(n);
    await visit(names, toStats(stats));
  };
  let skipped: { name: string; reason: string }[];
  if (blockwise) {
    checkMemory(blockwise, infos, dataset);
    if (report.progress && report.eta) { const eta = report.eta; report.progress.eta = () => eta.stageEta(); }
    const r = await calibrateBlockwise(ctx.state.original, batches(), run, {
      plan: blockwise, layers: infos, hessian: needHessian, signal: ctx.signal, scratchDir: path.join(ctx.runDir, SCRATCH_DIR),
      current: (ls) => ctx.state.changedWeights(ls.map((l) => l.name)),
      onFallback: (message) => ctx.sink.emit({ type: 'log', level: 'info', message: `${stage}: ${message}` }),
      onPart: (e) => {
        report.eta?.onPart(e);
        if (!report.progress) return;
        const block = e.group >= 0 ? `block ${e.group + 1}/${e.groups} ` : '';
        const left = report.eta?.blockEta();
        report.progress.note(`${block}${e.part.label}: ${e.phase} ${e.done}/${e.total}${left !== undefined && e.group >= 0 ? ` (block ETA ${Math.ceil(left)} s)` : ''}`);
      },
    });
    if (report.progress) report.progress.eta = undefined;
    skipped = r.skipped;
    const p = r.phases;
    ctx.calibration?.push({
      stage, driver: 'blockwise', blocks: r.blocks, passes: r.passes, seconds: r.seconds, ...p, provider: r.provider, hessianBackend: r.hessianBackend,
      activationMemoryMB: Math.round(r.activations.peakMemoryBytes / 1048576), activationSpilledMB: Math.round(r.activations.fileBytes / 1048576), peakRssMB: r.peakRssMB,
    });
    if (r.nativeParts) ctx.sink.emit({ type: 'log', level: 'info', message: `${stage}: the native executor ran ${r.nativeParts} part${r.nativeParts === 1 ? '' : 's'} of ${r.partsRun} (on ${r.nativeDevice === 'cuda' ? 'the GPU' : 'the CPU'})` });
    ctx.sink.emit({ type: 'log', level: 'info', message: `${stage}: ${r.passes} part runs in ${r.seconds.toFixed(1)} s (forward ${p.forwardSeconds.toFixed(1)} s on ${r.provider}, Hessians ${p.hessianSeconds.toFixed(1)} s by ${r.hessianBackend}, ${stage} ${p.compressSeconds.toFixed(1)} s); activations ${fmtMB(r.activations.peakMemoryBytes)} in memory, ${fmtMB(r.activations.fileBytes)} spilled; peak RSS ${r.peakRssMB} MB` });
  } else if (sequential) {
    const editor = await ctx.state.editorWithChanges();
    const r = await calibrateSequential(editor, batches, async (group, stats) => {
      await run(group, stats);
      const updated = new Map<string, Float32Array>();
      for (const l of group) updated.set(l.name, await ctx.state.weight(l.name));
      return updated;
    }, opts);
    skipped = r.report.skipped;
    ctx.calibration?.push(recordOf(stage, 'whole-model', r.report));
  } else {
    const editor = await ctx.state.editorWithChanges();
    const r = await captureStats(editor, batches, { ...opts, onGroup: async (stats) => run([...stats.values()].map((v) => v.layer), stats) });
    skipped = r.report.skipped;
    ctx.calibration?.push(recordOf(stage, 'one-pass', r.report));
  }
  const rest = layers.filter((n) => !seen.has(n));
  if (rest.length) {
    const why = new Map(skipped.map((x) => [x.name, x.reason]));
    for (const n of rest) ctx.warn(`layer '${n}' has no calibration statistics (${why.get(n) ?? 'not captured'})`);
    await visit(rest, new Map());
  }
}
