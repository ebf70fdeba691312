/**
 * Comparison of two or more runs: metric values with deltas against the original model, per-layer
 * bits/sparsity side by side, and a line diff of the recipes. Used by `qrecipe compare` and by the
 * Compare webview.
 */
import type { LayerResult, Metrics, RunRecord } from '../protocol/runner';
import { MAX_DIFF_EDITS } from '../util/limits';
import { listedKeys } from '../format/metrics';

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
  // one row per (metric, data set) a run recorded (`cer@tune`, `cer@heldout`), the headline copy
  // (`cer`) only for records that do not name their data sets (core/format/metrics.ts)
  const original: Metrics = records.find((r) => r.metrics.original)?.metrics.original ?? {};
  const metrics = listedKeys(...records.map((r) => r.metrics.compressed), original).map((name) => {
    const values = records.map((r) => r.metrics.compressed?.[name]);
    const o = original[name];
    return { name, original: o, values, deltas: values.map((v) => (v === undefined || o === undefined ? undefined : v - o)) };
  });

  const layerNames: string[] = [];
  const seen = new Set<string>();
  for (const r of records) for (const l of r.layers) if (!seen.has(l.name)) { seen.add(l.name); layerNames.push(l.name); }
  const merged = records.map((r) => mergedLayers(r.layers));
  const layers = layerNames.map((name) => {
    const runs = merged.map((m) => m.get(name));
    return { name, runs, differs: new Set(runs.map(layerSetting)).size > 1 };
  });

  const recipeDiff = records.length >= 2 ? lineDiff(records[0].recipeText, records[1].recipeText) : [];
  return { runs: records.map((r) => ({ id: r.id, status: r.status, recipePath: r.recipePath })), metrics, layers, recipeDiff };
}

/**
 * Each layer's results merged: a layer may get results from several stages (prune then quantize):
 * later fields win, and the methods are joined (`sparsegpt+gptq`). One pass by map (a run of 100k
 * layers must not be searched once per layer).
 */
function mergedLayers(results: LayerResult[]): Map<string, LayerResult> {
  const out = new Map<string, LayerResult>();
  const methods = new Map<string, string[]>();
  for (const l of results) {
    out.set(l.name, Object.assign(out.get(l.name) ?? {}, l));
    if (!l.method) continue;
    const m = methods.get(l.name);
    if (!m) methods.set(l.name, [l.method]);
    else if (!m.includes(l.method)) m.push(l.method);
  }
  for (const [name, m] of methods) if (m.length > 1) out.get(name)!.method = m.join('+');
  return out;
}

type DiffLine = { op: ' ' | '-' | '+'; text: string };

/**
 * Line diff of two recipes (Myers' O(ND) algorithm, after trimming the common head and tail): time
 * O((N+M)·D) and memory O(D²) for D differing lines, so two long recipes that differ in a few lines
 * cost little. Recipes from strangers can be huge and entirely different: past MAX_DIFF_EDITS
 * differences the middle is shown as removed then added (still a correct diff, not a minimal one).
 * The extension host renders it too, so it must stay bounded (issue 20 #8: the n×m table took 950 MB
 * for 15k lines).
 */
export function lineDiff(a: string, b: string): DiffLine[] {
  const x = a.split(/\r?\n/);
  const y = b.split(/\r?\n/);
  // lines as small integers: comparisons in the inner loop are integer compares
  const ids = new Map<string, number>();
  const id = (l: string): number => { let v = ids.get(l); if (v === undefined) { v = ids.size; ids.set(l, v); } return v; };
  const A = Int32Array.from(x, id);
  const B = Int32Array.from(y, id);
  let head = 0;
  while (head < A.length && head < B.length && A[head] === B[head]) head++;
  let tail = 0;
  while (tail < A.length - head && tail < B.length - head && A[A.length - 1 - tail] === B[B.length - 1 - tail]) tail++;
  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ op: ' ', text: x[i]! });
  const midA = A.subarray(head, A.length - tail);
  const midB = B.subarray(head, B.length - tail);
  const ops = myers(midA, midB, MAX_DIFF_EDITS);
  if (ops) {
    let i = head, j = head;
    for (const op of ops) {
      if (op === ' ') { out.push({ op, text: x[i++]! }); j++; }
      else if (op === '-') out.push({ op, text: x[i++]! });
      else out.push({ op, text: y[j++]! });
    }
  } else {
    for (let i = head; i < x.length - tail; i++) out.push({ op: '-', text: x[i]! });
    for (let j = head; j < y.length - tail; j++) out.push({ op: '+', text: y[j]! });
  }
  for (let i = x.length - tail; i < x.length; i++) out.push({ op: ' ', text: x[i]! });
  return out;
}

/** Myers' greedy diff of two id sequences: the edit script, or undefined past `maxD` edits. */
function myers(A: Int32Array, B: Int32Array, maxD: number): (' ' | '-' | '+')[] | undefined {
  const N = A.length, M = B.length;
  const limit = Math.min(N + M, maxD);
  const off = limit + 1;
  const V = new Int32Array(2 * limit + 3);
  const trace: Int32Array[] = []; // trace[d]: V after step d, index k + d for k in [-d, d]
  let D = -1;
  for (let d = 0; d <= limit && D < 0; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && V[off + k - 1]! < V[off + k + 1]!) ? V[off + k + 1]! : V[off + k - 1]! + 1;
      let y = x - k;
      while (x < N && y < M && A[x] === B[y]) { x++; y++; }
      V[off + k] = x;
      if (x >= N && y >= M) { D = d; break; }
    }
    trace.push(V.slice(off - d, off + d + 1));
  }
  if (D < 0) return undefined;
  const ops: (' ' | '-' | '+')[] = [];
  let x = N, y = M;
  for (let d = D; d > 0; d--) {
    const prev = trace[d - 1]!;
    const at = (k: number): number => prev[k + d - 1]!;
    const k = x - y;
    const pk = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const px = at(pk), py = px - pk;
    while (x > px && y > py) { ops.push(' '); x--; y--; }
    if (x === px) { ops.push('+'); y--; } else { ops.push('-'); x--; }
  }
  while (x > 0 && y > 0) { ops.push(' '); x--; y--; }
  return ops.reverse();
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
