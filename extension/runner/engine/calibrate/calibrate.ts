/**
 * Calibration capture with onnxruntime: the inputs of the target layers are exposed as extra graph
 * outputs, the calibration batches are run, and per layer input the Hessian (2/n)·Σ x·xᵀ and the
 * column norms ‖X_j‖₂ are accumulated (hessian.ts). Memory stays bounded by working in groups
 * (default: one transformer block, `layers.N`, per group): only one group's activations and
 * statistics exist at a time.
 *
 * One-pass mode (`captureStats`): every group sees the original model.
 * Sequential mode (`calibrateSequential`): after each group the caller's `compressGroup` returns new
 * weights, which are written into the model before the next group is captured, so later blocks
 * see the outputs of the already-compressed earlier ones (as GPTQ does).
 */
import os from 'node:os';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { ModelEditor } from '../model/writer';
import { loadModel, isExternal } from '../../../../language-server/core/model/reader';
import { inventoryOf } from '../../../../language-server/core/model/inventory';
import { setLayerWeight } from '../model/weights';
import { GraphIndex, attrInt } from '../../../../language-server/core/model/graph';
import { StatsCollector, type LayerStats } from './collect';
import { blockLabel } from '../blocks/labels';
import { openSession, runSession, MemoryPeak, type ProviderChoice } from '../evaluate/session';
import { tempPathFor } from '../../../../language-server/core/util/atomic';
import { throwIfAborted, yieldToLoop, type LongRunOptions } from '../../../../language-server/core/util/cancel';
import type { FeedBatch } from '../evaluate/agreement';

export type { LayerStats } from './collect';

export interface CalibrationOptions extends LongRunOptions {
  /** Layers to calibrate (default: every MatMul/Gemm/Conv layer of the inventory). */
  layers?: LayerInfo[];
  /** Layer groups processed one pass each (default: by transformer block, else `groupLayers` at a time). */
  groups?: LayerInfo[][];
  groupLayers?: number;
  /** Collect Hessians (default true); false collects only column norms (Wanda). */
  hessian?: boolean;
  /** Use the native addon's accumulator when it loads (default true). */
  useNative?: boolean;
  provider?: ProviderChoice;
}

export interface CalibrationReport {
  /** Layers left out, with the reason (embeddings, grouped convolutions, ...). */
  skipped: { name: string; reason: string }[];
  groups: number;
  /** onnxruntime passes over the calibration data. */
  passes: number;
  seconds: number;
  peakRssMB: number;
  peakArrayBuffersMB: number;
  provider: string;
  hessianBackend: string;
}

export type CalibrationBatches = FeedBatch[] | (() => AsyncIterable<FeedBatch>);

async function* iterate(b: CalibrationBatches): AsyncIterable<FeedBatch> {
  if (Array.isArray(b)) yield* b; else yield* b();
}

/** Why a layer cannot be calibrated, or undefined when it can. */
export function calibrationSkipReason(layer: LayerInfo): string | undefined {
  if (layer.op === 'Gather') return 'embedding lookup: its input is token ids, there is no activation Hessian';
  if (layer.op === 'Conv') {
    if ((layer.groups ?? 1) > 1) return `grouped/depthwise convolution (group=${layer.groups}): per-group Hessians are not supported`;
    if ((layer.kernel?.length ?? 0) > 2) return `${layer.kernel!.length}-D convolution: only 1-D and 2-D are unfolded`;
  }
  return undefined;
}

/** Groups layers by transformer block (`…layers.N…`), otherwise `size` consecutive layers per group. */
export function groupLayers(layers: LayerInfo[], size = 8): LayerInfo[][] {
  const out: LayerInfo[][] = [];
  const byBlock = new Map<string, LayerInfo[]>();
  let loose: LayerInfo[] = [];
  for (const l of layers) {
    const key = blockLabel(l.name);
    if (key !== undefined) {
      if (!byBlock.has(key)) { byBlock.set(key, []); out.push(byBlock.get(key)!); }
      byBlock.get(key)!.push(l);
    } else {
      loose.push(l);
      if (loose.length === size) { out.push(loose); loose = []; }
    }
  }
  if (loose.length) out.push(loose);
  return out;
}

/**
 * Writes a variant of the editor's model exposing `names` as outputs; returns the files written
 * (the model first, then any side file for changed weights), to be removed after the session ends.
 */
async function exposeOutputs(editor: ModelEditor, names: string[]): Promise<string[]> {
  const graph = editor.graph;
  const before = graph.output.length;
  const inputs = new Set(graph.input.map((v) => v.name));
  for (const n of names) if (!inputs.has(n) && !graph.output.some((o) => o.name === n)) graph.output.push({ name: n });
  // Unchanged external weights are referenced, not copied, so the variant must sit beside them.
  const external = graph.initializer.some(isExternal);
  const dir = external ? editor.model.dir : os.tmpdir();
  const file = tempPathFor(path.join(dir, `${path.basename(editor.model.path, '.onnx')}.calib.onnx`));
  try {
    const res = await editor.save(file, { keepExternal: external, externalLocation: `${path.basename(file)}.data` });
    return res.externalPath ? [file, res.externalPath] : [file];
  } finally {
    graph.output.splice(before);
  }
}

interface Pass { stats: Map<string, LayerStats>; provider: string; backend: string }

async function runGroup(
  editor: ModelEditor, index: GraphIndex, group: LayerInfo[], batches: CalibrationBatches, withHessian: boolean,
  useNative: boolean, mem: MemoryPeak, opts: CalibrationOptions,
): Promise<Pass> {
  const collector = new StatsCollector(group, index.graph.node ?? [], withHessian, useNative);
  const names = collector.names;
  const files = await exposeOutputs(editor, names);
  const removeFiles = async (): Promise<void> => { for (const f of files) await fs.rm(f, { force: true }); };
  let opened;
  try {
    opened = await openSession(files[0]!, { provider: opts.provider });
  } catch (err) {
    await removeFiles();
    throw err;
  }
  try {
    for await (const batch of iterate(batches)) {
      throwIfAborted(opts.signal, 'calibration');
      const fetch = names.filter((n) => !(n in batch.feeds));
      const out = await runSession(opened.session, batch.feeds, editor.model.path, 'a calibration batch', fetch.length ? fetch : [opened.session.outputNames[0]!]);
      await collector.add(out, batch.feeds, batch.samples, opts.signal);
      mem.sample();
      for (const v of Object.values(out)) v.dispose();
      await yieldToLoop();
    }
  } finally {
    await opened.session.release();
    await removeFiles();
  }
  const backend = collector.backend;
  return { stats: collector.finish(), provider: opened.provider, backend };
}

interface Prepared { editor: ModelEditor; index: GraphIndex; groups: LayerInfo[][]; skipped: { name: string; reason: string }[] }

/** The layers calibration can serve, and the others with the reason. */
export function usableLayers(graph: GraphIndex['graph'], layers: readonly LayerInfo[]): { usable: LayerInfo[]; skipped: { name: string; reason: string }[] } {
  const skipped: { name: string; reason: string }[] = [];
  const transA = new Set((graph.node ?? []).filter((n) => n.opType === 'Gemm' && attrInt(n, 'transA', 0) === 1).map((n) => n.name ?? ''));
  const usable = layers.filter((l) => {
    const why = calibrationSkipReason(l) ?? (l.op === 'Gemm' && transA.has(l.nodeName) ? 'Gemm with transA=1: its activation is stored transposed' : undefined);
    if (why) skipped.push({ name: l.name, reason: why });
    return !why;
  });
  return { usable, skipped };
}

async function prepare(model: string | ModelEditor, opts: CalibrationOptions): Promise<Prepared> {
  const editor = typeof model === 'string' ? new ModelEditor(await loadModel(model)) : model;
  const all = opts.layers ?? inventoryOf(editor.model).layers;
  const index = new GraphIndex(editor.graph);
  const { usable, skipped } = usableLayers(editor.graph, all);
  const ok = new Set(usable.map((l) => l.name));
  const groups = (opts.groups ?? groupLayers(usable, opts.groupLayers)).map((g) => g.filter((l) => ok.has(l.name))).filter((g) => g.length);
  return { editor, index, groups, skipped };
}

/**
 * One-pass capture: statistics of every layer from the original model. `onGroup` receives each
 * group's statistics as soon as they exist (then they may be dropped); without it, all are
 * returned, which holds every Hessian at once.
 */
export async function captureStats(
  model: string | ModelEditor, batches: CalibrationBatches,
  opts: CalibrationOptions & { onGroup?: (stats: Map<string, LayerStats>) => Promise<void> | void } = {},
): Promise<{ stats: Map<string, LayerStats>; report: CalibrationReport }> {
  return run(model, batches, opts, async (group, stats, kept) => {
    if (opts.onGroup) await opts.onGroup(stats); else for (const [k, v] of stats) kept.set(k, v);
    void group;
  });
}

/**
 * Sequential calibration: for each group in order, capture its statistics on the model as
 * compressed so far, call `compressGroup`, and write the weights it returns (rows × cols float32
 * per layer name; layers it leaves out keep theirs) into the model. Returns the editor holding
 * the compressed model (save it with `editor.save`).
 */
export async function calibrateSequential(
  model: string | ModelEditor, batches: CalibrationBatches,
  compressGroup: (layers: LayerInfo[], stats: Map<string, LayerStats>) => Promise<Map<string, Float32Array> | undefined>,
  opts: CalibrationOptions = {},
): Promise<{ editor: ModelEditor; report: CalibrationReport }> {
  let editorOut: ModelEditor | undefined;
  const { report } = await run(model, batches, opts, async (group, stats, _kept, editor) => {
    editorOut = editor;
    const updated = await compressGroup(group, stats);
    for (const l of group) {
      const w = updated?.get(l.name);
      if (w) setLayerWeight(editor, l, w);
    }
  });
  return { editor: editorOut ?? (typeof model === 'string' ? new ModelEditor(await loadModel(model)) : model), report };
}

async function run(
  model: string | ModelEditor, batches: CalibrationBatches, opts: CalibrationOptions,
  after: (group: LayerInfo[], stats: Map<string, LayerStats>, kept: Map<string, LayerStats>, editor: ModelEditor) => Promise<void>,
): Promise<{ stats: Map<string, LayerStats>; report: CalibrationReport }> {
  const t0 = performance.now();
  const mem = new MemoryPeak();
  const { editor, index, groups, skipped } = await prepare(model, opts);
  const kept = new Map<string, LayerStats>();
  const withHessian = opts.hessian !== false;
  let provider = 'cpu';
  let backend = withHessian ? 'typescript' : 'none';
  for (const [k, group] of groups.entries()) {
    throwIfAborted(opts.signal, 'calibration');
    opts.onProgress?.({ done: k, total: groups.length, label: group[0]?.name });
    const pass = await runGroup(editor, index, group, batches, withHessian, opts.useNative !== false, mem, opts);
    provider = pass.provider;
    backend = pass.backend;
    await after(group, pass.stats, kept, editor);
    mem.sample();
  }
  opts.onProgress?.({ done: groups.length, total: groups.length });
  return {
    stats: kept,
    report: { skipped, groups: groups.length, passes: groups.length, seconds: (performance.now() - t0) / 1000, ...mem.toJSON(), provider, hessianBackend: backend },
  };
}
