// The evaluate stage: each metric on the original model (measured once per run) and on the
// compressed (fake-quant) model, same data, same settings, through the model layer's one
// evaluation entry. `size` of the compressed model is the one cost model's (core/cost): the file
// the recipe's export writes (the fake-quant file itself is float). For a big model
// (scale-policy.ts), perplexity and KL go through the chain of blocks instead: original and
// compressed in step, one block of each loaded at a time, all of a data set's LM metrics from one pass.
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { EvaluateStage, ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import type { Metrics } from '../../../language-server/core/protocol/runner';
import { evaluateModel, type EvalSpec } from '../engine/evaluate/index';
import type { EvalResult } from '../engine/evaluate/result';
import type { RunContext } from './context';
import { DEFAULT_EXPORT_FORMAT, type ExportFormat } from '../../../language-server/core/cost/formats';
import type { ExportStage } from '../../../language-server/core/recipe/resolved';
import { layoutOfCompressed } from './extreme';
import { predictedSize } from '../export/onnx-export';
import type { BlockPlan } from '../engine/blocks/plan';
import { evaluateOnChain } from '../engine/blocks/evaluate-chain';
import { activationBudget } from '../engine/calibrate/blockwise';
import { describeIoFromModel } from '../engine/evaluate/io';
import { lmSeqlen, textWindows } from '../engine/evaluate/datasets';
import { calibrationBatch, SCRATCH_DIR } from './calibrate';
import { evaluationChain } from './scale-policy';
import { putMeasured } from '../../../language-server/core/format/metrics';

export type MetricSpec = EvaluateStage['metrics'][number];

export function metricKey(m: { metric: string; data?: string }): string {
  return m.data ? `${m.metric}:${m.data}` : m.metric;
}

/** The evaluation inputs of a recipe data set: its files and how many samples to use. */
export function dataSpec(d: ResolvedDataset): Pick<EvalSpec, 'data' | 'labels' | 'seqlen' | 'limit' | 'tokenizer'> {
  const s = d.source;
  return {
    data: s.path, ...('labels' in s ? { labels: s.labels } : {}), ...(s.kind === 'text' ? { seqlen: d.seqlen } : {}), limit: d.samples,
    ...(s.kind === 'text' && s.tokenizer !== 'byte' ? { tokenizer: s.tokenizer.path } : {}),
  };
}

interface ChainScores { version: number; original: number; compressed: number; kl: number; top1: number }

export class Evaluator {
  private readonly originalCache = new Map<string, number>();
  private readonly chainCache = new Map<string, ChainScores>();
  /** The last quality metric measured on the compressed model (what an export is checked against). */
  lastQuality?: { spec: MetricSpec; value: number };
  /** Every metric measured so far (latest value per metric), for the export's README. */
  readonly measured: { original: Metrics; compressed: Metrics } = { original: {}, compressed: {} };
  constructor(private readonly ctx: RunContext) {}

  private dataset(m: MetricSpec): ResolvedDataset | undefined {
    if (!m.data) return undefined;
    const d = this.ctx.recipe.datasets.find((x) => x.name === m.data);
    if (!d) throw new Error(`${m.metric}: no data set '${m.data}'`);
    return d;
  }

  /** One metric of one model file. */
  async measure(m: MetricSpec, model: string, label: string): Promise<EvalResult> {
    const original = this.ctx.state.original.path;
    const d = this.dataset(m);
    const keys = path.join(path.dirname(original), 'ppocr_keys_v1.txt');
    return evaluateModel({
      model, metric: m.metric, ...(d ? dataSpec(d) : {}),
      ...(m.metric === 'kl' ? { reference: original } : {}),
      ...(m.metric === 'cer' && existsSync(keys) ? { keys } : {}),
      signal: this.ctx.signal,
      onProgress: (p) => this.ctx.sink.emit({ type: 'progress', stage: 'evaluate', done: p.done, total: p.total, layer: `${label} model: ${m.metric}` }),
    });
  }

  /** Perplexity of both models and KL on a data set, through the chain (one pass per data set and state of the weights). */
  private async onChain(plan: BlockPlan, m: MetricSpec): Promise<ChainScores> {
    const d = this.dataset(m);
    if (!d) throw new Error(`${m.metric}: needs a data set (\`${m.metric} on NAME\`)`);
    const st = this.ctx.state;
    const hit = this.chainCache.get(d.name);
    if (hit && hit.version === st.version) return hit;
    const spec = dataSpec(d);
    const io = describeIoFromModel(st.original);
    const { windows, bytesPerToken } = await textWindows(spec.data!, lmSeqlen(io, spec.seqlen), { maxWindows: spec.limit }, spec.tokenizer);
    const t0 = Date.now();
    const r = await evaluateOnChain({
      model: st.original, plan, io, windows, batch: calibrationBatch(windows[0]?.length), reference: true, bytesPerToken,
      compressed: (layers) => st.changedWeights(layers.map((l) => l.name)),
      scratchDir: path.join(this.ctx.runDir, SCRATCH_DIR), activationBudget: activationBudget(), signal: this.ctx.signal,
      onFallback: (message) => this.ctx.sink.emit({ type: 'log', level: 'info', message: `evaluate: ${message}` }),
      onProgress: (p) => {
        const eta = p.done ? ((Date.now() - t0) / 1000 / p.done) * (p.total - p.done) : undefined;
        this.ctx.sink.emit({ type: 'progress', stage: 'evaluate', done: p.done, total: p.total, layer: `perplexity and KL on ${d.name} through the blocks: ${p.label ?? ''}`, ...(eta !== undefined ? { etaSeconds: eta } : {}) });
      },
    });
    this.ctx.sink.emit({ type: 'log', level: 'info', message: `evaluate: ${windows.length} windows of '${d.name}' through ${plan.blocks} blocks, original and compressed in one pass, in ${r.seconds.toFixed(1)} s on ${r.provider}${r.nativeParts ? ` (the native executor ran ${r.nativeParts} of ${r.parts} part runs)` : ''} (peak RSS ${r.peakRssMB} MB)` });
    const scores = { version: st.version, original: r.original!.value, compressed: r.compressed.value, kl: r.kl!.value, top1: r.kl!.details.top1Agreement! };
    this.chainCache.set(d.name, scores);
    return scores;
  }

  /** The format sizes are counted in: the recipe's first export, else the default. */
  get sizeFormat(): ExportFormat {
    return this.ctx.recipe.stages.find((s): s is ExportStage => s.kind === 'export')?.format ?? DEFAULT_EXPORT_FORMAT;
  }

  /** The compressed model's file size and bits per weight as the export format writes the quantised layers. */
  packedSize(format: ExportFormat = this.sizeFormat): Metrics {
    const st = this.ctx.state;
    const s = predictedSize(st.inventory, st.quantized, format, st.compressed.map((m) => ({ name: m.name, layout: layoutOfCompressed(m) })));
    return { sizeBytes: s.bytes, ...(s.bitsPerWeight !== undefined ? { bitsPerWeight: s.bitsPerWeight } : {}) };
  }

  async evaluate(stage: EvaluateStage, compressedModel: string | undefined): Promise<{ original: Metrics; compressed: Metrics }> {
    const original: Metrics = {};
    const compressed: Metrics = {};
    this.lastQuality = undefined;
    const chain = evaluationChain(this.ctx.state);
    const onChain = (m: MetricSpec): boolean => !!chain && (m.metric === 'perplexity' || m.metric === 'kl') && !!m.data;
    const file = (m: MetricSpec): string => {
      if (!compressedModel) throw new Error(`${m.metric}: this model is evaluated through its blocks, where ${m.metric} is not available yet; the compressed model file is not written for a model of ${(this.ctx.state.inventory.totalBytes / 1e9).toFixed(1)} GB`);
      return compressedModel;
    };
    const emit = (model: 'original' | 'compressed', m: MetricSpec, metrics: Metrics): void =>
      this.ctx.sink.emit({ type: 'metrics', model, ...(m.data ? { dataset: m.data } : {}), metrics });
    for (const m of stage.metrics) {
      if (m.metric === 'size') {
        const o = { sizeBytes: this.ctx.state.inventory.fileBytes };
        const c = this.packedSize();
        Object.assign(original, o);
        Object.assign(compressed, c);
        emit('original', m, o);
        emit('compressed', m, c);
        continue;
      }
      if (onChain(m)) {
        const r = await this.onChain(chain!, m);
        if (m.metric === 'kl') {
          putMeasured(compressed, 'kl', r.kl, m.data);
          putMeasured(compressed, 'top1Agreement', r.top1, m.data);
          emit('compressed', m, { kl: r.kl });
        } else {
          this.originalCache.set(metricKey(m), r.original);
          putMeasured(original, 'perplexity', r.original, m.data);
          putMeasured(compressed, 'perplexity', r.compressed, m.data);
          this.lastQuality ??= { spec: m, value: r.compressed };
          emit('original', m, { perplexity: r.original });
          emit('compressed', m, { perplexity: r.compressed });
        }
        continue;
      }
      if (m.metric === 'kl') {
        // KL(original ‖ compressed): zero by definition for the original.
        const r = await this.measure(m, file(m), 'compressed');
        putMeasured(compressed, 'kl', r.value, m.data);
        if (typeof r.details.top1Agreement === 'number') putMeasured(compressed, 'top1Agreement', r.details.top1Agreement, m.data);
        emit('compressed', m, { kl: r.value });
        continue;
      }
      const key = metricKey(m);
      let o = this.originalCache.get(key);
      if (o === undefined) {
        o = (await this.measure(m, this.ctx.state.original.path, 'original')).value;
        this.originalCache.set(key, o);
      }
      const c = (await this.measure(m, file(m), 'compressed')).value;
      if (m.metric !== 'latency') this.lastQuality ??= { spec: m, value: c };
      putMeasured(original, m.metric, o, m.data);
      putMeasured(compressed, m.metric, c, m.data);
      emit('original', m, { [m.metric]: o });
      emit('compressed', m, { [m.metric]: c });
    }
    Object.assign(this.measured.original, original);
    Object.assign(this.measured.compressed, compressed);
    return { original, compressed };
  }
}
