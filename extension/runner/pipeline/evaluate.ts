// The evaluate stage: each metric on the original model (measured once per run) and on the
// compressed (fake-quant) model, same data, same settings.
import type { EvaluateStage } from '../../../language-server/core/recipe/resolved';
import type { Metrics } from '../../../language-server/core/protocol/runner';
import { evaluatePerplexity } from '../../../language-server/core/model/evaluate/perplexity';
import { evaluateCer } from '../../../language-server/core/model/evaluate/cer';
import type { EvalResult } from '../../../language-server/core/model/evaluate/result';
import type { RunContext } from './context';
import { ocrLines, textWindows } from './datasets';
import { groupsOf } from '../export/quant-store';

export type MetricSpec = EvaluateStage['metrics'][number];

export function metricKey(m: { metric: string; data?: string }): string {
  return m.data ? `${m.metric}:${m.data}` : m.metric;
}

export class Evaluator {
  private readonly originalCache = new Map<string, number>();
  /** The last quality metric measured on the compressed model (what an export is checked against). */
  lastQuality?: { spec: MetricSpec; value: number };
  constructor(private readonly ctx: RunContext) {}

  private dataset(m: MetricSpec) {
    const d = this.ctx.recipe.datasets.find((x) => x.name === m.data);
    if (!d) throw new Error(`${m.metric} needs a data set (\`${m.metric} on NAME\`)`);
    return d;
  }

  /** One metric of one model file (undefined for metrics this runner does not measure). */
  async measure(m: MetricSpec, model: string, label: string): Promise<EvalResult | undefined> {
    const opts = { signal: this.ctx.signal, onProgress: (p: { done: number; total: number }) => this.ctx.sink.emit({ type: 'progress', stage: 'evaluate', done: p.done, total: p.total, layer: `${label} ${m.metric}` }) };
    switch (m.metric) {
      case 'perplexity': return evaluatePerplexity(model, await textWindows(this.dataset(m), 'evaluation'), opts);
      case 'cer': {
        const { lines, chars } = await ocrLines(this.dataset(m), this.ctx.recipe.model!.path);
        return evaluateCer(model, lines, chars, opts);
      }
      default: return undefined;
    }
  }

  /** Size of the compressed weights as the quantisation stages left them (codes + fp32 scales + zeros). */
  private sizeMetrics(): Metrics {
    const st = this.ctx.state;
    let quantBytes = 0;
    let quantParams = 0;
    for (const q of st.quant.values()) {
      const groups = q.rows * groupsOf(q);
      quantBytes += Math.ceil((q.rows * q.cols * q.bits) / 8) + 4 * groups + Math.ceil((groups * q.bits) / 8);
      quantParams += q.rows * q.cols;
    }
    const floatBytes = [...st.quant.values()].reduce((a, q) => a + st.layer(q.name).bytes, 0);
    return { sizeBytes: st.inventory.totalBytes - floatBytes + quantBytes, ...(quantParams ? { bitsPerWeight: (8 * quantBytes) / quantParams } : {}) };
  }

  async evaluate(stage: EvaluateStage, compressedModel: string): Promise<{ original: Metrics; compressed: Metrics }> {
    const original: Metrics = {};
    const compressed: Metrics = {};
    this.lastQuality = undefined;
    for (const m of stage.metrics) {
      if (m.metric === 'size') {
        Object.assign(compressed, this.sizeMetrics());
        original.sizeBytes = this.ctx.state.inventory.totalBytes;
        continue;
      }
      const key = metricKey(m);
      let o = this.originalCache.get(key);
      if (o === undefined) {
        const r = await this.measure(m, this.ctx.state.original.path, 'original');
        if (!r) { this.ctx.warn(`metric '${m.metric}' is not measured by this runner yet; skipped`); continue; }
        o = r.value;
        this.originalCache.set(key, o);
      }
      const c = (await this.measure(m, compressedModel, 'compressed'))!.value;
      this.lastQuality ??= { spec: m, value: c };
      original[m.metric] = o;
      compressed[m.metric] = c;
      this.ctx.sink.emit({ type: 'metrics', model: 'original', ...(m.data ? { dataset: m.data } : {}), metrics: { [m.metric]: o } });
      this.ctx.sink.emit({ type: 'metrics', model: 'compressed', ...(m.data ? { dataset: m.data } : {}), metrics: { [m.metric]: c } });
    }
    if (Object.keys(compressed).some((k) => k === 'sizeBytes')) {
      this.ctx.sink.emit({ type: 'metrics', model: 'original', metrics: { sizeBytes: original.sizeBytes! } });
      this.ctx.sink.emit({ type: 'metrics', model: 'compressed', metrics: { sizeBytes: compressed.sizeBytes!, ...(compressed.bitsPerWeight !== undefined ? { bitsPerWeight: compressed.bitsPerWeight } : {}) } });
    }
    return { original, compressed };
  }
}
