/**
 * Comparison of two or more runs: metric values with deltas against the original model, per-layer
 * bits/sparsity side by side, and a line diff of the recipes. Used by `qrecipe compare` and by the
 * Compare webview.
 */
import type { LayerResult, Metrics, RunRecord } from '../protocol/runner';

export interface MetricRow {
  name: string;
  original?: number;
  /** One value per run, in the order the runs were given (compressed model). */
  values: (number | undefined)[];
  /** value − original, per run. */
  deltas: (number | undefined)[];
}

export interface LayerRow {
  name: string;
  runs: (LayerResult | undefined)[];
  /** Whether the runs did something different to this layer (method, width, group, sparsity, outliers). */
  differs: boolean;
}

/** What was done to a layer, as compared between runs: method, bits, group, sparsity, outliers. */
export function layerSetting(r: LayerResult | undefined): string {
  if (!r) return '—';
  const parts = [r.method ?? '?'];
  if (r.bits !== undefined) parts.push(`${r.bits}b`);
  if (r.groupSize !== undefined) parts.push(`g${r.groupSize}`);
  if (r.sparsity !== undefined) parts.push(`${(100 * r.sparsity).toFixed(0)}%`);
  if (r.outlierFraction) parts.push(`+${(100 * r.outlierFraction).toFixed(2)}% fp16`);
  return parts.join(' ');
}

export interface Comparison {
  runs: { id: string; status: string; recipePath: string }[];
  metrics: MetricRow[];
  layers: LayerRow[];
  /** Unified-style diff of the first two recipes: ' ' same, '-' only in the first, '+' only in the second. */
  recipeDiff: { op: ' ' | '-' | '+'; text: string }[];
}

export function compareRuns(records: RunRecord[]): Comparison {
  const names = new Set<string>();
  for (const r of records) for (const k of Object.keys(r.metrics.compressed ?? {})) names.add(k);
  const original: Metrics = records.find((r) => r.metrics.original)?.metrics.original ?? {};
  for (const k of Object.keys(original)) names.add(k);
  const metrics = [...names].sort().map((name) => {
    const values = records.map((r) => r.metrics.compressed?.[name]);
    const o = original[name];
    return { name, original: o, values, deltas: values.map((v) => (v === undefined || o === undefined ? undefined : v - o)) };
  });

  const layerNames: string[] = [];
  const seen = new Set<string>();
  for (const r of records) for (const l of r.layers) if (!seen.has(l.name)) { seen.add(l.name); layerNames.push(l.name); }
  const layers = layerNames.map((name) => {
    const runs = records.map((r) => mergedLayer(r.layers, name));
    return { name, runs, differs: new Set(runs.map(layerSetting)).size > 1 };
  });

  const recipeDiff = records.length >= 2 ? lineDiff(records[0].recipeText, records[1].recipeText) : [];
  return { runs: records.map((r) => ({ id: r.id, status: r.status, recipePath: r.recipePath })), metrics, layers, recipeDiff };
}

/**
 * A layer may get results from several stages (prune then quantize): later fields win, and the
 * methods are joined (`sparsegpt+gptq`).
 */
function mergedLayer(results: LayerResult[], name: string): LayerResult | undefined {
  const hits = results.filter((l) => l.name === name);
  if (!hits.length) return undefined;
  const merged: LayerResult = Object.assign({}, ...hits);
  const methods = [...new Set(hits.flatMap((h) => (h.method ? [h.method] : [])))];
  if (methods.length > 1) merged.method = methods.join('+');
  return merged;
}

/** Longest-common-subsequence line diff; recipes are short, so O(n·m) is fine. */
export function lineDiff(a: string, b: string): { op: ' ' | '-' | '+'; text: string }[] {
  const x = a.split(/\r?\n/);
  const y = b.split(/\r?\n/);
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: { op: ' ' | '-' | '+'; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { out.push({ op: ' ', text: x[i] }); i++; j++; }
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) out.push({ op: '-', text: x[i++] });
    else out.push({ op: '+', text: y[j++] });
  }
  return out;
}

/** Plain-text table for the CLI. */
export function formatComparison(c: Comparison): string {
  const fmt = (v: number | undefined) => (v === undefined ? '—' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4));
  const sign = (v: number | undefined) => (v === undefined ? '' : ` (${v >= 0 ? '+' : ''}${fmt(v)})`);
  const lines = [`runs: ${c.runs.map((r, i) => `[${i + 1}] ${r.id} (${r.status})`).join('  ')}`, '', 'metric'.padEnd(22) + 'original'.padEnd(14) + c.runs.map((_, i) => `run ${i + 1}`.padEnd(28)).join('')];
  for (const m of c.metrics) lines.push(m.name.padEnd(22) + fmt(m.original).padEnd(14) + m.values.map((v, i) => (fmt(v) + sign(m.deltas[i])).padEnd(28)).join(''));
  const differing = c.layers.filter((l) => l.differs);
  lines.push('', `layers: ${c.layers.length} (${differing.length} differ in method, width, group, sparsity or outliers)`);
  for (const l of differing.slice(0, 50)) lines.push(`  ${l.name.padEnd(40)} ${l.runs.map((r) => layerSetting(r).padEnd(22)).join(' ')}`);
  if (c.recipeDiff.some((d) => d.op !== ' ')) {
    lines.push('', 'recipe diff (run 1 → run 2):');
    for (const d of c.recipeDiff) if (d.op !== ' ') lines.push(`  ${d.op} ${d.text}`);
  }
  return lines.join('\n');
}
