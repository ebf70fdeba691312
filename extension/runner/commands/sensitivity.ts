// `qrecipe sensitivity FILE.qrecipe [--json]`: per-layer sensitivity of the recipe's allocate stage
// at each candidate width (gradient, taylor, fisher, Hessian, measured), the allocation at the recipe's budget, and
// measured perplexities at a few allocations. Cached in the run store's `.cache/` by content hashes.
import path from 'node:path';
import { parseArgs, UsageError } from '../args';
import { resolveRunsRoot } from '../workspace';
import { checkFile } from '../../../language-server/core/recipe/check';
import { readInventory } from '../../../language-server/core/model/inventory';
import { computeSensitivity, type SensitivityOptions } from '../engine/sensitivity/engine';
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
  --progress         progress lines on stderr
  --json             print the whole result as JSON`;

const METRICS = SENSITIVITY_METRICS;

function metricArg(v: string | undefined, what: string): SensitivityMetric | undefined {
  if (v === undefined) return undefined;
  if (!METRICS.includes(v as SensitivityMetric)) throw new UsageError(`${what} must be one of ${METRICS.join(', ')}, got '${v}'`);
  return v as SensitivityMetric;
}

/** Analyses a recipe file and refuses it with its diagnostics when it has errors. */
export async function loadRecipe(file: string): Promise<ResolvedRecipe> {
  const { analysis, records } = await checkFile(file, (p) => readInventory(p));
  const errors = records.filter((r) => r.severity === 'error');
  if (errors.length) {
    throw new Error(`${file} has ${errors.length} error${errors.length > 1 ? 's' : ''}:\n${errors.slice(0, 5).map((r) => `  ${path.basename(file)}:${r.range.start.line + 1}:${r.range.start.character + 1}: ${r.code} ${r.message}`).join('\n')}`);
  }
  return analysis.recipe;
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
    parsed = parseArgs(args, { flags: ['json', 'help', 'no-cache', 'compare', 'progress'], options: ['metric', 'metrics', 'stage', 'runs', 'eval-windows'], short: { h: 'help' } });
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
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  const recipe = await loadRecipe(file);
  const showProgress = parsed.flags.has('progress');
  const result = await computeSensitivity(recipe, {
    ...opts, signal: ac.signal,
    onProgress: showProgress ? (p) => process.stderr.write(`progress ${p.done}/${p.total} ${p.label ?? ''}\n`) : undefined,
  });
  console.log(parsed.flags.has('json') ? JSON.stringify(result) : formatResult(result));
  return 0;
}
