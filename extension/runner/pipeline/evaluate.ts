// The evaluate stage: each metric on the original model (measured once per run) and on the
// compressed (fake-quant) model, same data, same settings, through the model layer's one
// evaluation entry. `size` of the compressed model is the one cost model's (core/cost): the file
// the recipe's export writes (the fake-quant file itself is float).
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { EvaluateStage, ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import type { Metrics } from '../../../language-server/core/protocol/runner';
import { evaluateModel, type EvalSpec } from '../engine/evaluate/index';
import type { EvalResult } from '../engine/evaluate/result';
import type { RunContext } from './context';
import { DEFAULT_EXPORT_FORMAT, type ExportFormat } from '../../../language-server/core/cost/formats';
import type { ExportStage } from '../../../language-server/core/recipe/resolved';
import { predictedSize } from '../export/onnx-export';

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

export class Evaluator {
  private readonly originalCache = new Map<string, number>();
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

  /** The format sizes are counted in: the recipe's first export, else the default. */
  get sizeFormat(): ExportFormat {
    return this.ctx.recipe.stages.find((s): s is ExportStage => s.kind === 'export')?.format ?? DEFAULT_EXPORT_FORMAT;
  }

  /** The compressed model's file size and bits per weight as the export format writes the quantised layers. */
  packedSize(format: ExportFormat = this.sizeFormat): Metrics {
    const st = this.ctx.state;
    const s = predictedSize(st.inventory, [...st.quant.values()], format);
    return { sizeBytes: s.bytes, ...(s.bitsPerWeight !== undefined ? { bitsPerWeight: s.bitsPerWeight } : {}) };
  }

  async evaluate(stage: EvaluateStage, compressedModel: string): Promise<{ original: Metrics; compressed: Metrics }> {
    const original: Metrics = {};
    const compressed: Metrics = {};
    this.lastQuality = undefined;
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
      if (m.metric === 'kl') {
        // KL(original ‖ compressed): zero by definition for the original.
        const r = await this.measure(m, compressedModel, 'compressed');
        compressed.kl = r.value;
        if (typeof r.details.top1Agreement === 'number') compressed.top1Agreement = r.details.top1Agreement;
        emit('compressed', m, { kl: r.value });
        continue;
      }
      const key = metricKey(m);
      let o = this.originalCache.get(key);
      if (o === undefined) {
        o = (await this.measure(m, this.ctx.state.original.path, 'original')).value;
        this.originalCache.set(key, o);
      }
      const c = (await this.measure(m, compressedModel, 'compressed')).value;
      if (m.metric !== 'latency') this.lastQuality ??= { spec: m, value: c };
      original[m.metric] = o;
      compressed[m.metric] = c;
      emit('original', m, { [m.metric]: o });
      emit('compressed', m, { [m.metric]: c });
    }
    Object.assign(this.measured.original, original);
    Object.assign(this.measured.compressed, compressed);
    return { original, compressed };
  }
}
