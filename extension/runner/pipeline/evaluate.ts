// The evaluate stage: each metric on the original model (measured once per run) and on the
// compressed (fake-quant) model, same data, same settings, through the model layer's one
// evaluation entry. `size` of the compressed model is the packed size the quantisation implies
// (the fake-quant file itself is float).
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { EvaluateStage, ResolvedDataset } from '../../../language-server/core/recipe/resolved';
import type { Metrics } from '../../../language-server/core/protocol/runner';
import { evaluateModel, type EvalSpec } from '../engine/evaluate/index';
import type { EvalResult } from '../engine/evaluate/result';
import type { RunContext } from './context';
import { groupsOf } from '../export/quant-store';
import { scaleBytes } from '../export/onnx-export';

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

  /**
   * Size of the compressed weights as the quantisation stages left them: codes + scales in the
   * layer's float type (what the exporter writes: fp16 in an fp16 graph) + packed zeros; a tensor
   * shared by tied layers counts once.
   */
  private packedSize(): Metrics {
    const st = this.ctx.state;
    let quantBytes = 0;
    let quantParams = 0;
    let floatBytes = 0;
    const seen = new Set<string>();
    for (const q of st.quant.values()) {
      const l = st.layer(q.name);
      if (seen.has(l.tensorName)) continue;
      seen.add(l.tensorName);
      const groups = q.rows * groupsOf(q);
      quantBytes += Math.ceil((q.rows * q.cols * q.bits) / 8) + scaleBytes(l) * groups + Math.ceil((groups * q.bits) / 8);
      quantParams += q.rows * q.cols;
      floatBytes += l.bytes;
    }
    for (const [name, o] of st.outlierLayers) {
      // Codes, fp32 scales, packed zeros, and the outliers as CSR (fp16 value + int32 column, row pointers).
      const l = st.layer(name);
      quantBytes += Math.ceil((l.rows * l.cols * o.bits) / 8) + 4 * o.groups + Math.ceil((o.groups * o.bits) / 8) + 6 * o.nnz + 4 * (l.rows + 1);
      quantParams += l.rows * l.cols;
      floatBytes += l.bytes;
    }
    return { sizeBytes: st.inventory.totalBytes - floatBytes + quantBytes, ...(quantParams ? { bitsPerWeight: (8 * quantBytes) / quantParams } : {}) };
  }

  async evaluate(stage: EvaluateStage, compressedModel: string): Promise<{ original: Metrics; compressed: Metrics }> {
    const original: Metrics = {};
    const compressed: Metrics = {};
    this.lastQuality = undefined;
    const emit = (model: 'original' | 'compressed', m: MetricSpec, metrics: Metrics): void =>
      this.ctx.sink.emit({ type: 'metrics', model, ...(m.data ? { dataset: m.data } : {}), metrics });
    for (const m of stage.metrics) {
      if (m.metric === 'size') {
        const o = { sizeBytes: this.ctx.state.inventory.totalBytes };
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
