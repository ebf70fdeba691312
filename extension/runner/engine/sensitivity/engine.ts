/**
 * The sensitivity engine behind `qrecipe sensitivity`: for the layers of a recipe's allocate stage,
 * every candidate width's Hessian-weighted error ½·tr(ΔW H ΔWᵀ), LLM-MQ's first-order
 * |⟨∂L/∂W, ΔW⟩|, per-batch forms E|⟨g_b, ΔW⟩| and ½·Σ E[g_b²]·ΔW² (`taylor`, `fisher`), and the
 * measured loss/KL change of quantising that layer alone; outlier fractions
 * and bytes; then model-level measurements at a few allocations. Results are cached by content
 * hashes of the model, the data and the stage settings.
 */
import { createHash } from 'node:crypto';
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import * as native from '../../../../native/index';
import { listOcrLines } from '../../../../language-server/core/model/data/ocr';
import { feedBatches, textWindows } from '../evaluate/datasets';
import type { FeedBatch } from '../evaluate/agreement';
import type { AllocateStage, ExportStage, ResolvedDataset, ResolvedRecipe } from '../../../../language-server/core/recipe/resolved';
import { writeFileAtomic } from '../../../../language-server/core/util/atomic';
import { sha256Path } from '../../../../language-server/core/util/hash';
import { readRegularFile, readRegularFileHead } from '../../../../language-server/core/util/regular-file';
import { MAX_SENSITIVITY_CACHE_BYTES } from '../../../../language-server/core/util/limits';
import { isInside, resolveForWrite, storeOutsideWorkspace } from '../../../../language-server/core/util/confine';
import { throwIfAborted, type LongRunOptions } from '../../../../language-server/core/util/cancel';
import { Allocator } from '../../../../language-server/core/sensitivity/allocate';
import { allocationBytes } from '../../../../language-server/core/cost/cost';
import { DEFAULT_EXPORT_FORMAT, type ExportFormat, type QuantLayout } from '../../../../language-server/core/cost/formats';
import { inventoryOf } from '../../../../language-server/core/model/inventory';
import type { LayerInfo } from '../../../../language-server/core/model/types';
import { BatchTaylorStats, fisherDiagonal } from './batch-stats';
import { layerGradients } from './gradients';
import { ModelProbe } from './probe';
import { errorScores, outlierFractionAt, quantizeWeight } from './quantize';
import { GRADIENT_METRICS, SENSITIVITY_METRICS, type Budget, type LayerSensitivity, type MeasuredPoint, type SensitivityMetric, type SensitivityResult } from '../../../../language-server/core/sensitivity/types';

export const ENGINE_VERSION = 4;

export interface SensitivityOptions extends LongRunOptions {
  /** Metric the allocation uses (default: the stage's `metric`). */
  metric?: SensitivityMetric;
  /** Metrics to compute (default all of `SENSITIVITY_METRICS`). */
  metrics?: SensitivityMetric[];
  /** Evaluation windows of the measured points (default: the evaluation data set's `samples`). */
  evalWindows?: number;
  /** Calibration windows used by the measured metric (default 8). */
  measureWindows?: number;
  /** Extra budgets to measure, for every computed metric (e.g. the uniform-4-bit size, 3.5 bits). */
  comparePoints?: { label: string; budget: Budget | { kind: 'uniform-bytes'; bits: number } }[];
  /** Folder of cached results; none: no cache. */
  cacheDir?: string;
  noCache?: boolean;
  /** Stage to use when the recipe has several (index among allocate stages). */
  which?: number;
}

/** A file's sha256, streamed: regular files only, any size (a model over 2 GB too), cancellable. */
async function fileHash(file: string, what: string, signal?: AbortSignal): Promise<string> {
  return sha256Path(file, signal, what);
}

/** Bytes of a text data set read to offer SPADE samples (its first lines; never the whole file). */
const SAMPLE_PREVIEW_BYTES = 1 << 20;

/** The lines of a text data set that SPADE can be run on: the first 12 of at least 16 characters. */
export async function spadeTextSamples(file: string): Promise<string[]> {
  const head = new TextDecoder().decode(await readRegularFileHead(file, SAMPLE_PREVIEW_BYTES, 'data file'));
  return head.split('\n').map((x) => x.trim()).filter((x) => x.length >= 16).slice(0, 12).map((x) => x.slice(0, 160));
}

/**
 * Why the cache folder cannot be used, if it cannot: a link leads it, or the run store holding it,
 * out of the workspace (a downloaded workspace's planted link; issue 20 #1).
 */
function cacheProblem(cacheDir: string): string | undefined {
  const store = path.dirname(path.resolve(cacheDir));
  const p = storeOutsideWorkspace(store);
  if (p) return p.message;
  const real = resolveForWrite(cacheDir);
  return isInside(real, resolveForWrite(store)) ? undefined : `the sensitivity cache ${cacheDir} resolves to ${real}, outside the run store ${store}`;
}

/**
 * A cache entry is a file in the workspace, so untrusted: used only when it is a result of this
 * version for the same model and data hashes, over the same layers, with the lists the views read.
 */
function validCached(v: unknown, modelHash: string, dataHash: string, names: readonly string[]): v is SensitivityResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<Record<keyof SensitivityResult, unknown>>;
  if (r.version !== 1 || r.modelHash !== modelHash || r.dataHash !== dataHash) return false;
  if (!Array.isArray(r.layers) || !Array.isArray(r.measured) || !Array.isArray(r.notes) || typeof r.seconds !== 'object' || r.seconds === null) return false;
  const want = new Set(names);
  const isLayer = (l: unknown): boolean => typeof l === 'object' && l !== null && typeof (l as { name?: unknown }).name === 'string' && want.has((l as { name: string }).name)
    && Array.isArray((l as { candidates?: unknown }).candidates) && typeof (l as { params?: unknown }).params === 'number';
  return r.layers.length <= names.length && r.layers.every(isLayer) && r.notes.every((n) => typeof n === 'string') && r.measured.every((m) => typeof m === 'object' && m !== null);
}

/** Hash of a data set's files (the file itself, or its labels file for folders). */
async function dataFilesHash(d: ResolvedDataset): Promise<string> {
  const s = d.source;
  const tokenizer = s.kind === 'text' && s.tokenizer !== 'byte' ? s.tokenizer.path : undefined;
  const files = [s.path, 'labels' in s ? s.labels : undefined, tokenizer].filter((f): f is string => !!f && existsSync(f));
  const h = createHash('sha256').update(JSON.stringify(s));
  for (const f of files) if ((await fs.stat(f)).isFile()) h.update(await fileHash(f, 'data file'));
  return h.digest('hex');
}

function textSource(d: ResolvedDataset, purpose: string): { file: string; seqlen: number; tokenizer?: string } {
  if (d.source.kind !== 'text') throw new Error(`data set '${d.name}' (line ${d.range.start.line + 1}): ${purpose} needs a text data set, it is ${d.source.kind}`);
  return { file: d.source.path, seqlen: d.seqlen, ...(d.source.tokenizer !== 'byte' ? { tokenizer: d.source.tokenizer.path } : {}) };
}

/** The allocate stage to analyse, with its calibration set and the evaluation set (perplexity). */
export function stageOf(recipe: ResolvedRecipe, which = 0): { stage: AllocateStage; calib: ResolvedDataset; evalSet?: ResolvedDataset } {
  const stages = recipe.stages.filter((s): s is AllocateStage => s.kind === 'allocate');
  const stage = stages[which];
  if (!stage) throw new Error(`${recipe.file}: no allocate stage${which ? ` #${which + 1}` : ''}`);
  if (!stage.data) throw new Error(`${recipe.file}:${stage.range.start.line + 1}: the allocate stage needs calibration data (\`on DATASET\`)`);
  const calib = recipe.datasets.find((d) => d.name === stage.data);
  if (!calib) throw new Error(`${recipe.file}:${stage.range.start.line + 1}: unknown data set '${stage.data}'`);
  const evals = recipe.stages.flatMap((s) => (s.kind === 'evaluate' ? s.metrics : [])).filter((m) => m.data);
  const ev = evals.find((m) => m.metric === 'perplexity') ?? evals.find((m) => m.metric === 'accuracy' || m.metric === 'cer' || m.metric === 'kl');
  const evalSet = ev ? recipe.datasets.find((d) => d.name === ev.data) : undefined;
  return { stage, calib, evalSet };
}

/** Scores of RTN at `bits` (no outliers) from the addon: relative error, Hessian and gradient terms. */
async function nativeScores(W: Float32Array, shape: { rows: number; cols: number }, bits: number, layout: Pick<QuantLayout, 'group' | 'symmetric'>, H: Float32Array | undefined, G: Float32Array | undefined, signal?: AbortSignal): Promise<{ relError: number; hessian?: number; gradient?: number }> {
  const r = await native.quantError(W, shape, [bits], { groupSize: layout.group === 'channel' ? 0 : layout.group, symmetric: layout.symmetric }, { H, G }, { signal });
  let ww = 0;
  for (let i = 0; i < W.length; i++) ww += W[i]! * W[i]!;
  return { relError: ww > 0 ? r.squared[0]! / ww : 0, ...(H ? { hessian: r.hessian[0] } : {}), ...(G ? { gradient: r.gradient[0] } : {}) };
}

export async function computeSensitivity(recipe: ResolvedRecipe, opts: SensitivityOptions = {}): Promise<SensitivityResult> {
  if (!recipe.model) throw new Error(`${recipe.file}: the recipe names no model`);
  const { stage, calib, evalSet } = stageOf(recipe, opts.which);
  const names = stage.selection.layers;
  if (!names?.length) throw new Error(`${recipe.file}:${stage.range.start.line + 1}: the allocate stage selects no layers (is the model readable?)`);
  const metrics = opts.metrics ?? SENSITIVITY_METRICS;
  const wantsGradients = metrics.some((m) => GRADIENT_METRICS.includes(m));
  const perBatch = metrics.includes('taylor');
  const metricAsked = opts.metric ?? stage.params.metric;
  const isText = calib.source.kind === 'text';
  const cw = isText ? textSource(calib, 'calibration') : undefined;
  const layout = { group: stage.params.group, symmetric: stage.params.symmetric };
  // Costs are counted as the recipe's export writes them (its first export; else the default format).
  const format: ExportFormat = (recipe.stages.find((s): s is ExportStage => s.kind === 'export')?.format) ?? DEFAULT_EXPORT_FORMAT;

  const modelHash = await fileHash(recipe.model.path, 'model file', opts.signal);
  const dataHash = createHash('sha256').update(await dataFilesHash(calib)).update(evalSet ? await dataFilesHash(evalSet) : '').digest('hex');
  const key = createHash('sha256').update(JSON.stringify({
    v: ENGINE_VERSION, modelHash, dataHash, calib: [calib.samples, calib.seqlen, calib.seed], evalSet: evalSet && [evalSet.seqlen, evalSet.samples],
    params: stage.params, perLayer: stage.perLayer, names, metrics, metricAsked, m: opts.measureWindows, ev: opts.evalWindows, cmp: opts.comparePoints, format,
  })).digest('hex').slice(0, 32);
  const refusedCache = opts.cacheDir ? cacheProblem(opts.cacheDir) : undefined;
  const cacheFile = opts.cacheDir && !refusedCache ? path.join(opts.cacheDir, `sensitivity-${key}.json`) : undefined;
  if (cacheFile && !opts.noCache && existsSync(cacheFile)) {
    try {
      const cached: unknown = JSON.parse(new TextDecoder().decode(await readRegularFile(cacheFile, MAX_SENSITIVITY_CACHE_BYTES, 'sensitivity cache entry', opts.signal)));
      if (validCached(cached, modelHash, dataHash, names)) return { ...cached, recipe: recipe.file };
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // A damaged, oversized or special cache entry is recomputed (and replaced: the write renames over it).
    }
  }

  const seconds: Record<string, number> = {};
  const notes: string[] = [];
  if (refusedCache) notes.push(`results not cached: ${refusedCache}`);
  let t = performance.now();
  const lap = (name: string): void => { seconds[name] = (performance.now() - t) / 1000; t = performance.now(); };
  const progress = (done: number, total: number, label: string): void => opts.onProgress?.({ done, total, label });

  const windows = cw ? (await textWindows(cw.file, cw.seqlen, { count: calib.samples, seed: calib.seed, signal: opts.signal }, cw.tokenizer)).windows : [];
  const probe = await ModelProbe.open(recipe.model.path, names, { conv: true });
  for (const s of probe.skipped) notes.push(`layer ${s.name} left out: ${s.why}`);
  const facts = inventoryOf(probe.model);
  const bytesAt = (l: LayerInfo, bits: number): ReturnType<typeof allocationBytes> =>
    allocationBytes(l, { ...layout, bits, outliers: outlierFractionAt(bits, stage.params.outliers) }, format, facts);
  try {
    // Non-text models: image / OCR-line batches, scored by the KL of the output distributions.
    const batchesOf = async (d: ResolvedDataset, limit?: number): Promise<FeedBatch[]> => {
      const src = d.source;
      const fb = await feedBatches(src.path, probe.io, recipe.model!.path, { labels: 'labels' in src ? src.labels : undefined, limit: limit ?? d.samples, batch: 8 });
      const out: FeedBatch[] = [];
      for await (const b of fb.batches()) out.push(b);
      return out;
    };
    const calibBatches = isText ? [] : await batchesOf(calib);
    const hessianOpts = { signal: opts.signal, onProgress: (p: { done: number; total: number }) => progress(p.done, p.total, 'calibration: Hessians') };
    const H = isText ? await probe.hessians(windows, hessianOpts) : await probe.hessiansFor(calibBatches.map((b) => b.feeds), hessianOpts, calibBatches.map((b) => b.samples));
    lap('hessians');
    let grads = new Map<string, Float32Array>();
    let squares = new Map<string, Float32Array>();
    let blocked = new Map<string, string>();
    // `taylor` needs every candidate's ΔW while the batch gradients stream past: one
    // Float32Array per layer and candidate (the weights' size × candidates, freed after the pass).
    const batchStats = new Map<string, BatchTaylorStats>();
    if (wantsGradients && !isText) {
      for (const l of probe.layers) blocked.set(l.name, 'the gradient metrics use the language-model loss; this model is not a language model');
    } else if (wantsGradients) {
      try {
        if (perBatch) {
          for (const l of probe.layers) {
            throwIfAborted(opts.signal, 'sensitivity');
            const W = await probe.weight(l);
            const deltas: Float32Array[] = [];
            for (const b of stage.perLayer?.[l.name]?.candidates ?? stage.params.candidates) {
              const Q = await quantizeWeight(W, l, b, layout, outlierFractionAt(b, stage.params.outliers), { signal: opts.signal });
              deltas.push(Float32Array.from(W, (w, i) => w - Q[i]!));
            }
            batchStats.set(l.name, new BatchTaylorStats(deltas));
          }
          lap('deltas');
        }
        const onBatch = perBatch ? (l: { name: string }, g: Float32Array) => batchStats.get(l.name)?.add(g) : undefined;
        const g = await layerGradients(probe.model, probe.io, probe.layers, windows, { signal: opts.signal, onBatch, squares: metrics.includes('fisher'), onProgress: (p) => progress(p.done, p.total, 'gradients') });
        grads = g.grads;
        squares = g.squares;
        blocked = g.blocked;
      } catch (err) {
        const why = (err as Error).message.split('\n')[0]!;
        notes.push(`gradient metric unavailable: ${why}`);
        for (const l of probe.layers) blocked.set(l.name, `the gradient model could not be built (${why})`);
      }
      lap('gradients');
    }
    const mw = windows.slice(0, Math.max(1, opts.measureWindows ?? 8));
    const mb = calibBatches.slice(0, Math.max(1, Math.ceil((opts.measureWindows ?? 8) / 8)));
    const measureLoss = (ov?: Map<string, Float32Array>) => (isText ? probe.loss(mw, ov, { signal: opts.signal }) : probe.klOn(mb, ov, { signal: opts.signal }));
    const base = metrics.includes('measured') ? await measureLoss() : undefined;

    const layers: LayerSensitivity[] = [];
    for (const [i, l] of probe.layers.entries()) {
      throwIfAborted(opts.signal, 'sensitivity');
      progress(i, probe.layers.length, `layer ${l.name}`);
      const candidates = stage.perLayer?.[l.name]?.candidates ?? stage.params.candidates;
      const pinOverride = [...stage.overrides].reverse().find((o) => o.layers?.includes(l.name) && o.params.bits !== undefined);
      const W = await probe.weight(l);
      const G = metrics.includes('gradient') ? grads.get(l.name) : undefined;
      const scores: LayerSensitivity['scores'] = { hessian: [] };
      if (G) scores.gradient = [];
      const st = batchStats.get(l.name);
      if (st?.count && !blocked.has(l.name)) scores.taylor = st.taylor();
      batchStats.delete(l.name);
      const F = squares.get(l.name);
      if (F) scores.fisher = [];
      if (base) scores.measured = [];
      const relError: number[] = [];
      const lossDelta: number[] = [];
      const fractions = candidates.map((b) => outlierFractionAt(b, stage.params.outliers));
      for (const [k, b] of candidates.entries()) {
        // Without outliers the addon scores ΔW itself (same RTN grid, C++ speed for large layers);
        // with outliers the dense part and the fp16 values are put back together here first.
        const fast = fractions[k] === 0 ? await nativeScores(W, l, b, layout, H.get(l.name), G, opts.signal) : undefined;
        const Q = fast && !base && !F ? undefined : await quantizeWeight(W, l, b, layout, fractions[k]!, { signal: opts.signal });
        const e = fast ?? errorScores(W, Q!, l, H.get(l.name), G);
        scores.hessian!.push(e.hessian!);
        if (G) scores.gradient!.push(e.gradient!);
        if (F) scores.fisher!.push(fisherDiagonal(F, W, Q!));
        relError.push(e.relError);
        if (base) {
          // The allocation uses the KL to the dense model: the loss change of one quantised layer is
          // near zero at first order for a trained model (its gradient is small) and is dominated by
          // window noise, while the KL is the second-order effect and never negative.
          const r = await measureLoss(new Map([[l.name, Q!]]));
          scores.measured!.push(r.kl);
          lossDelta.push(r.loss - base.loss);
        }
      }
      let metric: SensitivityMetric = metricAsked;
      let reason: string | undefined;
      if (!scores[metricAsked]) {
        metric = 'hessian';
        reason = GRADIENT_METRICS.includes(metricAsked) && blocked.has(l.name) ? `${blocked.get(l.name)!} → Hessian metric` : `${metricAsked} not computed → Hessian metric`;
      }
      layers.push({
        name: l.name, op: l.op, rows: l.rows, cols: l.cols, params: l.rows * l.cols, candidates, metric, reason, scores,
        outlierFraction: fractions, relError, ...(lossDelta.length ? { measuredLoss: lossDelta } : {}),
        bytes: candidates.map((b) => bytesAt(l, b)),
        ...(pinOverride?.params.bits !== undefined && candidates.includes(pinOverride.params.bits) ? { pinned: pinOverride.params.bits } : {}),
        recipeLines: { start: (pinOverride?.range ?? stage.range).start.line, end: (pinOverride?.range ?? stage.range).end.line },
      });
    }
    lap('scores');

    // Model-level measurements: uniform widths, the recipe's budget, and any requested points.
    const measured: MeasuredPoint[] = [];
    const ew = evalSet && isText ? textSource(evalSet, 'perplexity') : cw;
    const evalWindows = ew && evalSet && isText
      ? (await textWindows(ew.file, ew.seqlen, { maxWindows: opts.evalWindows ?? evalSet.samples, signal: opts.signal }, ew.tokenizer)).windows
      : windows.slice(0, opts.evalWindows);
    const evalBatches = isText ? [] : evalSet ? await batchesOf(evalSet, opts.evalWindows) : calibBatches.slice(0, opts.evalWindows ? Math.ceil(opts.evalWindows / 8) : undefined);
    const evalLoss = (ov?: Map<string, Float32Array>) => (isText ? probe.loss(evalWindows, ov, { signal: opts.signal }) : probe.klOn(evalBatches, ov, { signal: opts.signal }));
    const computedMetrics = SENSITIVITY_METRICS.filter((m) => layers.every((l) => l.scores[m]));
    const measure = async (label: string, bits: number[], metric?: SensitivityMetric): Promise<void> => {
      const overrides = new Map<string, Float32Array>();
      let bytes = 0;
      let codeBits = 0;
      let predicted = 0;
      for (const [i, l] of probe.layers.entries()) {
        const b = bits[i]!;
        const f = outlierFractionAt(b, stage.params.outliers);
        overrides.set(l.name, await quantizeWeight(await probe.weight(l), l, b, layout, f));
        bytes += bytesAt(l, b).total;
        codeBits += b * l.rows * l.cols;
        const k = layers[i]!.candidates.indexOf(b);
        const s = layers[i]!.scores[metric ?? metricAsked] ?? layers[i]!.scores.hessian!;
        predicted += k >= 0 ? s[k]! : NaN;
      }
      const r = await evalLoss(overrides);
      const params = probe.layers.reduce((a, l) => a + l.rows * l.cols, 0);
      measured.push({ label, bits, bytes, averageBits: codeBits / params, predicted, kl: r.kl, ...(isText ? { loss: r.loss, perplexity: Math.exp(r.loss) } : {}) });
      progress(measured.length, measured.length, `measured ${label}`);
    };
    const dense = await evalLoss(); // also keeps the dense outputs the KLs compare with
    const baseLoss = isText ? dense.loss : undefined;
    for (const b of [...new Set(layers.flatMap((l) => l.candidates))].sort((x, y) => x - y)) {
      if (layers.every((l) => l.candidates.includes(b))) await measure(`uniform ${b}-bit`, layers.map(() => b));
    }
    const points: NonNullable<SensitivityOptions['comparePoints']> = [{ label: 'recipe budget', budget: stage.params.budget }, ...(opts.comparePoints ?? [])];
    for (const m of computedMetrics) {
      const al = new Allocator(layers, { metric: m });
      for (const p of points) {
        const budget: Budget = p.budget.kind === 'uniform-bytes'
          ? { kind: 'bytes', bytes: probe.layers.reduce((a, l) => a + bytesAt(l, (p.budget as { bits: number }).bits).total, 0) }
          : p.budget;
        const a = al.solve(budget);
        await measure(`${m} @ ${p.label}`, a.bits, m);
      }
    }
    lap('measure');
    const spadeSamples = cw
      ? await spadeTextSamples(cw.file)
      : calib.source.kind === 'ocr' ? (await listOcrLines(calib.source.path, calib.source.labels)).files.slice(0, 12).map((f) => path.basename(f)) : [];
    const result: SensitivityResult = {
      version: 1, recipe: recipe.file, model: recipe.model.path, modelHash, dataHash, dataset: calib.name,
      samples: isText ? windows.length : calibBatches.reduce((a, b) => a + b.samples, 0),
      metricAsked, group: stage.params.group, symmetric: stage.params.symmetric, outliers: stage.params.outliers, budget: stage.params.budget,
      stage: { index: opts.which ?? 0, line: stage.range.start.line }, layers, baseLoss, measured, seconds, notes, spadeSamples,
    };
    if (cacheFile) {
      await fs.mkdir(path.dirname(cacheFile), { recursive: true });
      await writeFileAtomic(cacheFile, JSON.stringify(result));
    }
    return result;
  } finally {
    await probe.close();
  }
}
