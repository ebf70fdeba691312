/**
 * The one table of metric names: every metric key a run records (run.json `metrics`, runner
 * `metrics` events) with the name people read, its unit, which direction is better and how its
 * values print. The Runs view, pickers, notifications, the run page and the Compare view all read
 * it; a key missing here still prints, under its own name.
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

/** The table entry of a key, or one made from the key (`fooBar` → "foo bar"). */
export function metricInfo(key: string): MetricInfo {
  return METRICS[key] ?? { label: key.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase(), short: key, unit: '', lowerIsBetter: true, kind: 'number', help: key };
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

/** The keys of a metrics record in reading order (known ones first, in METRIC_ORDER). */
export function orderedKeys(keys: Iterable<string>): string[] {
  const all = [...new Set(keys)];
  return [...METRIC_ORDER.filter((k) => all.includes(k)), ...all.filter((k) => !METRIC_ORDER.includes(k)).sort()];
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
