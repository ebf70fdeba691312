// `qrecipe sensitivity FILE.qrecipe [--json]`: per-layer sensitivity of the recipe's allocate stage
// at each candidate width (gradient, taylor, fisher, Hessian, measured), the allocation at the recipe's budget, and
// measured perplexities at a few allocations. Cached in the run store's `.cache/` by content hashes.
import path from 'node:path';
import { parseArgs, UsageError } from '../args';
import { outputMode, runAnalysis } from '../analysis-command';
import type { EventSink } from '../events';
import { listOcrLines } from '../../../language-server/core/model/data/ocr';
import { resolveRunsRoot } from '../workspace';
import { checkFile } from '../../../language-server/core/recipe/check';
import { readInventory } from '../../../language-server/core/model/inventory';
import { computeSensitivity, spadeTextSamples, type SensitivityOptions } from '../engine/sensitivity/engine';
import { Allocator } from '../../../language-server/core/sensitivity/allocate';
import { formatBytes } from '../../../language-server/core/util/format';
import { SENSITIVITY_METRICS, type SensitivityMetric, type SensitivityResult } from '../../../language-server/core/sensitivity/types';
import type { ResolvedRecipe } from '../../../language-server/core/recipe/resolved';

const HELP = `usage: qrecipe sensitivity FILE.qrecipe [options]

Measures how much each layer of the recipe's allocate stage suffers at each candidate bit width and
prints the allocation at the recipe's budget (LLM-MQ: one width per layer, minimum total sensitivity).
  --metric gradient|taylor|fisher|hessian|measured   metric of the allocation (default: the stage's \`metric\`)
  --metrics LIST     metrics to compute, comma-separated (default all five)
  --compare          also measure every metric's allocation at the size of uniform 4-bit and at 3.5 bits
  --stage N          the N-th allocate stage (1-based) when there are several
  --eval-windows N   windows of the evaluation set for the measured points (default: its samples)
  --no-cache         recompute even when a cached result exists (cache: <runs>/.cache/)
  --runs DIR         run store folder (default: <workspace>/.qrecipe/runs)
  --json             print the whole result as JSON (no progress)
  --json-events      speak the runner protocol on stdout: progress events with ETA, the result, run-end;
                     a {"type":"cancel"} line on stdin stops it

A recipe without an allocate stage gets a result without layers that lists the samples SPADE can
take (qrecipe spade). Progress goes to stderr unless --json or --json-events.`;

const METRICS = SENSITIVITY_METRICS;

function metricArg(v: string | undefined, what: string): SensitivityMetric | undefined {
  if (v === undefined) return undefined;
  if (!METRICS.includes(v as SensitivityMetric)) throw new UsageError(`${what} must be one of ${METRICS.join(', ')}, got '${v}'`);
  return v as SensitivityMetric;
}

/**
 * Analyses a recipe file and refuses it with its diagnostics when it has errors (each also sent to
 * `sink` as a located log event, as `run` does).
 */
export async function loadRecipe(file: string, sink?: EventSink): Promise<ResolvedRecipe> {
  const { analysis, records } = await checkFile(file, (p) => readInventory(p));
  const errors = records.filter((r) => r.severity === 'error');
  if (errors.length) {
    for (const r of errors) sink?.emit({ type: 'log', level: 'error', code: r.code, message: r.message, file: r.file, line: r.range.start.line + 1, column: r.range.start.character + 1 });
    throw new Error(`${file} has ${errors.length} error${errors.length > 1 ? 's' : ''}:\n${errors.slice(0, 5).map((r) => `  ${path.basename(file)}:${r.range.start.line + 1}:${r.range.start.character + 1}: error ${r.code}: ${r.message}`).join('\n')}`);
  }
  return analysis.recipe;
}

/** A result without layers for a recipe with no allocate stage: SPADE alone, on its first data set's samples. */
export async function spadeOnlyResult(recipe: ResolvedRecipe): Promise<SensitivityResult> {
  const d = recipe.datasets[0];
  let samples: string[] = [];
  if (d?.source.kind === 'ocr') samples = (await listOcrLines(d.source.path, d.source.labels)).files.map((f) => path.basename(f));
  else if (d?.source.kind === 'text') samples = await spadeTextSamples(d.source.path);
  return {
    version: 1, recipe: recipe.file, model: recipe.model?.path ?? '', modelHash: '', dataHash: '', dataset: d?.name ?? '', samples: samples.length, metricAsked: 'hessian',
    group: 128, symmetric: false, outliers: 0, budget: { kind: 'bits', bits: 4 }, stage: { index: 0, line: 0 }, layers: [], measured: [], seconds: {},
    notes: ['This recipe has no allocate stage: only SPADE is available.'], spadeSamples: samples,
  };
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function formatResult(r: SensitivityResult): string {
  const out: string[] = [];
  const al = new Allocator(r.layers, { metric: r.metricAsked });
  const a = al.solve(r.budget);
  const cands = [...new Set(r.layers.flatMap((l) => l.candidates))].sort((x, y) => x - y);
  const w = Math.max(5, ...r.layers.map((l) => l.name.length));
  out.push(`${r.recipe}: ${r.layers.length} layers, calibration '${r.dataset}' (${r.samples} windows), allocation by ${r.metricAsked}`);
  out.push('');
  out.push(`${pad('layer', w)}  metric    ${cands.map((b) => pad(`${b}-bit`, 10, true)).join('')}  alloc  bytes`);
  r.layers.forEach((l, i) => {
    const s = l.scores[r.metricAsked] ?? l.scores[l.metric]!;
    const k = l.candidates.indexOf(a.bits[i]!);
    out.push(`${pad(l.name, w)}  ${pad(l.metric, 8)}  ${cands.map((b) => { const j = l.candidates.indexOf(b); return pad(j < 0 ? '—' : s[j]!.toExponential(2), 10, true); }).join('')}  ${pad(String(a.bits[i]), 5, true)}  ${formatBytes(l.bytes[k]!.total)}${l.pinned ? ' (pinned)' : ''}${l.reason ? `  [${l.reason}]` : ''}`);
  });
  const budget = r.budget.kind === 'bytes' ? formatBytes(r.budget.bytes) : `${r.budget.bits} bits`;
  out.push('', `budget ${budget}: ${formatBytes(a.bytes)}, ${a.averageBits.toFixed(3)} average bits, predicted Δloss ${a.predicted.toExponential(3)}${a.exact ? ' (optimal)' : ` (within ${(((a.predicted - a.lowerBound) / a.predicted) * 100).toFixed(3)}% of optimal)`}${a.feasible ? '' : ' — BELOW THE SMALLEST ALLOCATION'}`);
  if (r.measured.length) {
    out.push('', `measured (${r.baseLoss !== undefined ? `dense perplexity ${Math.exp(r.baseLoss).toFixed(4)}` : 'KL of the output distributions to the dense model'}):`);
    const lw = Math.max(...r.measured.map((m) => m.label.length));
    for (const m of r.measured) {
      out.push(`  ${pad(m.label, lw)}  ${pad(formatBytes(m.bytes), 10, true)}  ${m.averageBits.toFixed(3)} bits  ${m.perplexity !== undefined ? `perplexity ${m.perplexity.toFixed(4)}  ` : ''}KL ${m.kl?.toExponential(2) ?? '—'}  [${m.bits.join('')}]`);
    }
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push('', `seconds: ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  return out.join('\n');
}

export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, { flags: ['json', 'json-events', 'help', 'no-cache', 'compare'], options: ['metric', 'metrics', 'stage', 'runs', 'eval-windows'], short: { h: 'help' } });
  } catch (e) {
    if (e instanceof UsageError) { console.error(`qrecipe sensitivity: ${e.message}\n\n${HELP}`); return 2; }
    throw e;
  }
  if (parsed.flags.has('help')) { console.log(HELP); return 0; }
  if (parsed.positionals.length !== 1) { console.error(HELP); return 2; }
  const file = path.resolve(parsed.positionals[0]!);
  let opts: SensitivityOptions;
  try {
    const metric = metricArg(parsed.options.get('metric'), '--metric');
    const metrics = parsed.options.get('metrics')?.split(',').map((m) => metricArg(m.trim(), '--metrics')!);
    const stage = parsed.options.has('stage') ? Number(parsed.options.get('stage')) : 1;
    if (!Number.isInteger(stage) || stage < 1) throw new UsageError(`--stage must be a positive integer, got '${parsed.options.get('stage')}'`);
    const ev = parsed.options.has('eval-windows') ? Number(parsed.options.get('eval-windows')) : undefined;
    if (ev !== undefined && (!Number.isInteger(ev) || ev < 1)) throw new UsageError(`--eval-windows must be a positive integer, got '${parsed.options.get('eval-windows')}'`);
    opts = {
      evalWindows: ev, metric, metrics, which: stage - 1, noCache: parsed.flags.has('no-cache'),
      cacheDir: path.join(resolveRunsRoot({ runs: parsed.options.get('runs'), recipe: file }), '.cache'),
      comparePoints: parsed.flags.has('compare') ? [{ label: 'uniform-4 size', budget: { kind: 'uniform-bytes', bits: 4 } }, { label: '3.5 bits', budget: { kind: 'bits', bits: 3.5 } }] : undefined,
    };
  } catch (e) {
    if (e instanceof UsageError) { console.error(`qrecipe sensitivity: ${e.message}`); return 2; }
    throw e;
  }
  return runAnalysis<SensitivityResult>({
    stage: 'sensitivity', mode: outputMode(parsed.flags),
    async work({ signal, onProgress, sink }) {
      const recipe = await loadRecipe(file, sink);
      if (!recipe.stages.some((s) => s.kind === 'allocate')) return spadeOnlyResult(recipe);
      return computeSensitivity(recipe, { ...opts, signal, onProgress });
    },
    result: (data) => ({ type: 'result', command: 'sensitivity', data }),
    format: (r) => (r.layers.length ? formatResult(r) : `${r.recipe}: ${r.notes.join(' ')}\nSPADE samples:\n${(r.spadeSamples ?? []).map((x) => `  ${x}`).join('\n')}`),
  });
}
