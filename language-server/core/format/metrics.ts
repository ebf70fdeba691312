/**
 * The one table of metric names: every metric key a run records (run.json `metrics`, runner
 * `metrics` events) with the name people read, its unit, which direction is better and how its
 * values print. The Runs view, pickers, notifications, the run page and the Compare view all read
 * it; a key missing here still prints, under its own name.
 *
 * How a run record keys its metrics (run.json `metrics.original | compressed | exported`; written by
 * the runner's evaluate stage, read by `qrecipe runs`, `qrecipe export RUN`, the Runs view and Compare):
 * - a metric measured on a data set is recorded under `metric@dataset` (`cer@heldout`): one entry
 *   per (metric, data set) pair, so `cer on tune` and `cer on heldout` in one stage are both kept
 *   (data set names are identifiers: no `@`);
 * - the plain key (`cer`) is the headline: the value on the first data set the evaluate stage
 *   measured it on (what the export check compares; the glance lines show it). Metrics without a
 *   data set (`size`: `sizeBytes`, `bitsPerWeight`) have only the plain key;
 * - a later evaluate stage replaces the values it measures (the record holds the last model's);
 * - records written before the `@` keys have only plain keys (each metric's last data set, not
 *   named) and are read as they are: their rows show no data set.
 */
import { formatBytes, formatNumber } from './numbers';

export interface MetricInfo {
  /** What people read: "perplexity", "size". */
  label: string;
  /** A short form for tight places (tree descriptions). */
  short: string;
  /** Unit as printed after the value ('' for none). */
  unit: string;
  lowerIsBetter: boolean;
  /** How values scale for display: fraction → percent, bytes → binary units. */
  kind: 'number' | 'percent' | 'bytes' | 'bits' | 'ms';
  /** One sentence for tooltips. */
  help: string;
}

export const METRICS: Record<string, MetricInfo> = {
  perplexity: { label: 'perplexity', short: 'ppl', unit: '', lowerIsBetter: true, kind: 'number', help: 'exp of the mean next-token loss on held-out text: lower is better; 1 is perfect' },
  accuracy: { label: 'accuracy', short: 'acc', unit: '%', lowerIsBetter: false, kind: 'percent', help: 'share of held-out samples classified right' },
  cer: { label: 'character error rate', short: 'CER', unit: '%', lowerIsBetter: true, kind: 'percent', help: 'edit distance to the true text per character' },
  kl: { label: 'KL divergence to the original', short: 'KL', unit: 'nats', lowerIsBetter: true, kind: 'number', help: 'how far the compressed model\'s output distribution moved from the original\'s, per token (0 = identical)' },
  top1Agreement: { label: 'top-1 agreement with the original', short: 'top-1', unit: '%', lowerIsBetter: false, kind: 'percent', help: 'share of positions where both models predict the same most likely output' },
  latency: { label: 'latency (median)', short: 'lat', unit: 'ms', lowerIsBetter: true, kind: 'ms', help: 'median time of one inference' },
  sizeBytes: { label: 'size', short: 'size', unit: '', lowerIsBetter: true, kind: 'bytes', help: 'weight memory: codes, scales, zero points and float layers' },
  bitsPerWeight: { label: 'bits per weight', short: 'bpw', unit: 'bits', lowerIsBetter: true, kind: 'bits', help: 'stored bits per quantised weight, scales and zero points included' },
  bitsPerByte: { label: 'bits per byte', short: 'bpb', unit: 'bits', lowerIsBetter: true, kind: 'bits', help: 'mean loss per byte of text, in bits' },
};

/** The order metrics are listed in: quality first, then size. */
export const METRIC_ORDER = ['perplexity', 'accuracy', 'cer', 'kl', 'top1Agreement', 'bitsPerByte', 'latency', 'sizeBytes', 'bitsPerWeight'];

/** The table entry of a key, or one made from the key (`fooBar` → "foo bar"); `cer@heldout` → "character error rate on heldout". */
export function metricInfo(key: string): MetricInfo {
  const { metric, dataset } = splitMeasuredKey(key);
  const base = METRICS[metric] ?? { label: metric.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase(), short: metric, unit: '', lowerIsBetter: true, kind: 'number', help: metric };
  return dataset === undefined ? base : { ...base, label: `${base.label} on ${dataset}`, short: `${base.short} ${dataset}`, help: `${base.help} (data set ${dataset})` };
}

/** The record key of a metric measured on `dataset` (plain without one). */
export function measuredKey(metric: string, dataset?: string): string {
  return dataset ? `${metric}@${dataset}` : metric;
}

/** A record key split into its metric and data set. */
export function splitMeasuredKey(key: string): { metric: string; dataset?: string } {
  const at = key.indexOf('@');
  return at < 0 ? { metric: key } : { metric: key.slice(0, at), dataset: key.slice(at + 1) };
}

/**
 * Records a value measured in one evaluate stage into that stage's metrics: under `metric@dataset`,
 * and under the plain key when the stage has not set it yet (the first data set is the headline).
 */
export function putMeasured(into: Record<string, number>, metric: string, value: number, dataset?: string): void {
  if (dataset) into[measuredKey(metric, dataset)] = value;
  if (!dataset || !(metric in into)) into[metric] = value;
}

/** Whether these metrics name the data sets of `metric` (have `metric@…` keys). */
function hasDatasets(m: Record<string, number>, metric: string): boolean {
  const p = `${metric}@`;
  for (const k in m) if (k.startsWith(p)) return true;
  return false;
}

/** The value of `metric` on `dataset` in a record's metrics (a record without `@` keys for it: its plain value). */
export function measuredValue(m: Record<string, number> | undefined, metric: string, dataset?: string): number | undefined {
  if (!m) return undefined;
  const exact = m[measuredKey(metric, dataset)];
  if (exact !== undefined || !dataset) return exact;
  return hasDatasets(m, metric) ? undefined : m[metric];
}

/**
 * The keys to list for one or more records' metrics: every `metric@dataset`, and a plain key only
 * where a record has it without naming data sets (an older record, or a metric with no data set),
 * so the headline copy is not listed twice.
 */
export function listedKeys(...all: (Record<string, number> | undefined)[]): string[] {
  const keys = new Set<string>();
  for (const m of all) {
    if (!m) continue;
    for (const k of Object.keys(m)) if (k.includes('@') || !hasDatasets(m, k)) keys.add(k);
  }
  return orderedKeys(keys);
}

/** A value with its unit: "2.803", "91.25 %", "1.41 MiB", "4.56 bits", "12.3 ms". */
export function formatMetric(key: string, v: number | null | undefined): string {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  const m = metricInfo(key);
  switch (m.kind) {
    case 'percent': return `${(100 * v).toFixed(2)} %`;
    case 'bytes': return formatBytes(v);
    case 'bits': return `${v.toFixed(2)} bits`;
    case 'ms': return `${formatNumber(v, 3)} ms`;
    default: return `${formatNumber(v)}${m.unit ? ` ${m.unit}` : ''}`;
  }
}

/** A change of a metric: "+0.034", "−1.25 pp", "−5.78 MiB" (pp: percentage points). */
export function formatMetricDelta(key: string, d: number | null | undefined): string {
  if (d === undefined || d === null || Number.isNaN(d)) return '—';
  const sign = d > 0 ? '+' : d < 0 ? '−' : '±';
  const a = Math.abs(d);
  const m = metricInfo(key);
  switch (m.kind) {
    case 'percent': return `${sign}${(100 * a).toFixed(2)} pp`;
    case 'bytes': return `${sign}${formatBytes(a)}`;
    case 'bits': return `${sign}${a.toFixed(2)} bits`;
    case 'ms': return `${sign}${formatNumber(a, 3)} ms`;
    default: return `${sign}${formatNumber(a)}`;
  }
}

/** Whether a change is an improvement (undefined when there is none). */
export function isBetter(key: string, d: number | null | undefined): boolean | undefined {
  if (d === undefined || d === null || d === 0 || Number.isNaN(d)) return undefined;
  return (d < 0) === metricInfo(key).lowerIsBetter;
}

/** The keys of a metrics record in reading order (known ones first, in METRIC_ORDER; a metric's data sets after its plain key, in order written). */
export function orderedKeys(keys: Iterable<string>): string[] {
  const all = [...new Set(keys)];
  const rank = (k: string): number => { const i = METRIC_ORDER.indexOf(splitMeasuredKey(k).metric); return i < 0 ? METRIC_ORDER.length : i; };
  const known = all.filter((k) => rank(k) < METRIC_ORDER.length).map((k, i) => ({ k, i }));
  known.sort((a, b) => rank(a.k) - rank(b.k) || Number(a.k.includes('@')) - Number(b.k.includes('@')) || a.i - b.i);
  return [...known.map((x) => x.k), ...all.filter((k) => rank(k) === METRIC_ORDER.length).sort()];
}

/**
 * "ppl 2.803 · 1.41 MiB": the main quality metric and the size, short enough for a sidebar row at its
 * default width (every metric is in the tooltip and the run's page).
 */
export function glanceMetrics(m: Record<string, number> | undefined): string {
  if (!m) return '';
  const all = orderedKeys(Object.keys(m));
  const quality = all.find((k) => k !== 'top1Agreement' && k !== 'bitsPerByte' && METRICS[k]?.kind !== 'bytes' && METRICS[k]?.kind !== 'bits' && k !== 'latency');
  const keys = [quality, all.includes('sizeBytes') ? 'sizeBytes' : all.includes('bitsPerWeight') ? 'bitsPerWeight' : undefined].filter((k): k is string => !!k);
  return keys.map((k) => {
    const info = metricInfo(k);
    const v = formatMetric(k, m[k]);
    return info.kind === 'bytes' ? v : info.kind === 'bits' ? `${m[k]!.toFixed(2)} ${info.short}` : `${info.short} ${v}`;
  }).join(' · ');
}
