// Calibration statistics for the layers of a stage, through the model layer's capture: the stage's
// data set becomes feed batches for the model's input, then either sequential calibration (the
// layers span two or more transformer blocks: each block is captured on the model with the earlier
// blocks already compressed, as GPTQ's driver does) or one pass on the model as it is now.
import type { ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import type { StageKind } from '../../../language-server/core/protocol/runner';
import type { LayerInfo } from '../../../language-server/core/model/types';
import { calibrateSequential, captureStats, groupLayers, type LayerStats as CapturedStats } from '../engine/calibrate/calibrate';
import { openSession } from '../engine/evaluate/session';
import { describeIo } from '../engine/evaluate/io';
import { feedBatches } from '../engine/evaluate/datasets';
import type { RunContext } from './context';
import type { LayerStats } from './quantize';

/** Folder of a run's scratch files (removed when the run ends; the store sweeps those of dead runs). */
export { SCRATCH_DIR } from '../../../language-server/core/runs/store';

const BLOCK = /(?:^|\.)(?:layers|layer|blocks|block|h)\.(\d+)\./;

/** True when the layers belong to at least two transformer blocks. */
export function isSequential(layers: string[]): boolean {
  return new Set(layers.map((n) => BLOCK.exec(n)?.[1]).filter((b) => b !== undefined)).size >= 2;
}

function toStats(s: Map<string, CapturedStats>): Map<string, LayerStats> {
  return new Map([...s].map(([k, v]) => [k, { H: v.hessian, colNorms: v.colNorms }]));
}

/**
 * Calls `visit` with each group of layers and their statistics, in order; layers the capture cannot
 * serve (embeddings, grouped convolutions) come last with no statistics.
 */
export async function calibrate(ctx: RunContext, stage: StageKind, dataset: ResolvedDataset, layers: string[], needHessian: boolean,
  visit: (group: string[], stats: Map<string, LayerStats>) => Promise<void>): Promise<void> {
  const original = ctx.state.original.path;
  const probe = await openSession(original, { provider: 'cpu' });
  const io = describeIo(probe.session, original);
  await probe.session.release();
  const s = dataset.source;
  const { batches } = await feedBatches(s.path, io, original, {
    ...('labels' in s ? { labels: s.labels } : {}),
    ...(s.kind === 'text' ? { seqlen: dataset.seqlen, count: dataset.samples, seed: dataset.seed, ...(s.tokenizer !== 'byte' ? { tokenizer: s.tokenizer.path } : {}) } : {}),
    limit: dataset.samples,
  });
  const infos = layers.map((n) => ctx.state.layer(n));
  const editor = await ctx.state.editorWithChanges();
  const seen = new Set<string>();
  const sequential = isSequential(layers);
  ctx.sink.emit({ type: 'log', level: 'info', message: `${stage}: ${sequential ? 'sequential calibration, block by block,' : 'one-pass calibration'} on '${dataset.name}' (${dataset.samples} samples)` });
  const opts = { signal: ctx.signal, layers: infos, groups: groupLayers(infos), hessian: needHessian };
  const run = async (group: LayerInfo[], stats: Map<string, CapturedStats>): Promise<void> => {
    const names = group.map((l) => l.name);
    for (const n of names) seen.add(n);
    await visit(names, toStats(stats));
  };
  let skipped: { name: string; reason: string }[];
  if (sequential) {
    const r = await calibrateSequential(editor, batches, async (group, stats) => {
      await run(group, stats);
      const updated = new Map<string, Float32Array>();
      for (const l of group) updated.set(l.name, await ctx.state.weight(l.name));
      return updated;
    }, opts);
    skipped = r.report.skipped;
  } else {
    const r = await captureStats(editor, batches, { ...opts, onGroup: async (stats) => run([...stats.values()].map((v) => v.layer), stats) });
    skipped = r.report.skipped;
  }
  const rest = layers.filter((n) => !seen.has(n));
  if (rest.length) {
    const why = new Map(skipped.map((x) => [x.name, x.reason]));
    for (const n of rest) ctx.warn(`layer '${n}' has no calibration statistics (${why.get(n) ?? 'not captured'})`);
    await visit(rest, new Map());
  }
}
