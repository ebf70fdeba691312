/**
 * Telling runs apart. A run records its recipe's settings as short `key → value` pairs (`settings`
 * in run.json, written by the runner from the resolved recipe); a run's label is what differs
 * between it and the other runs it is shown with ("gptq 3b g64" next to "gptq 4b g64"), with the
 * method and width always named. Runs recorded before settings existed are labelled by start time.
 */
import path from 'node:path';
import type { ResolvedRecipe } from '../recipe/resolved';
import type { RunRecord } from '../protocol/runner';
import { formatBytes } from '../format/numbers';

/** Ordered `stage.key → short value` pairs; keys are `<kind><n>.<name>`, n counting stages of a kind. */
export type RunSettings = Record<string, string>;

const pct = (f: number): string => `${Number((100 * f).toPrecision(3))}%`;

/** The settings worth telling runs apart by, from a resolved recipe (stage by stage, in order). */
export function recipeSettings(r: ResolvedRecipe): RunSettings {
  const out: RunSettings = {};
  const seen = new Map<string, number>();
  for (const s of r.stages) {
    if (s.kind === 'evaluate' || s.kind === 'export') continue;
    const n = (seen.get(s.kind) ?? 0) + 1;
    seen.set(s.kind, n);
    const k = (name: string): string => `${s.kind}${n > 1 ? n : ''}.${name}`;
    out[k('method')] = s.method;
    if (s.kind === 'quantize') {
      out[k('bits')] = `${s.params.bits}b`;
      out[k('group')] = s.params.group === 'channel' ? 'gch' : `g${s.params.group}`;
      out[k('scheme')] = s.params.symmetric ? 'sym' : 'asym';
      if (s.method === 'gptq') out[k('actorder')] = s.params.actorder ? 'act' : 'no-act';
      if (s.params.outliers) out[k('outliers')] = `${pct(s.params.outliers)} outliers`;
    } else if (s.kind === 'prune') {
      out[k('pattern')] = s.params.pattern === 'unstructured' ? pct(s.params.sparsity) : `${s.params.pattern.n}:${s.params.pattern.m}`;
    } else {
      out[k('budget')] = s.params.budget.kind === 'bits' ? `${Number(s.params.budget.bits.toPrecision(6))} bits` : formatBytes(s.params.budget.bytes);
      out[k('candidates')] = `{${s.params.candidates.join(',')}}`;
      out[k('metric')] = s.params.metric;
      out[k('group')] = s.params.group === 'channel' ? 'gch' : `g${s.params.group}`;
    }
    if (s.overrides.length) out[k('overrides')] = `${s.overrides.length} override${s.overrides.length === 1 ? '' : 's'}`;
    const data = 'data' in s ? r.datasets.find((d) => d.name === s.data) : undefined;
    if (data) out[k('samples')] = `n${data.samples}`;
  }
  return out;
}

/** Keys always named in a label: the method and the width or sparsity of each stage. */
const ALWAYS = /\.(method|bits|pattern|budget)$/;

/** `Nov 23 01:30` from an ISO time (local). */
export function shortTime(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${t.toLocaleString('en', { month: 'short' })} ${t.getDate()} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

/**
 * A label per run: the always-named settings plus every setting whose value differs among `runs`;
 * runs whose labels are still equal get their start time appended. `withRecipe` prefixes the
 * recipe's name (for lists that mix recipes).
 */
export function runLabels(runs: Pick<RunRecord, 'id' | 'startedAt' | 'recipePath' | 'settings'>[], opts: { withRecipe?: boolean } = {}): Map<string, string> {
  const keys: string[] = [];
  for (const r of runs) for (const k of Object.keys(r.settings ?? {})) if (!keys.includes(k)) keys.push(k);
  // differs among the runs that have the setting at all (a prune run has no quantize.group)
  const differs = (k: string): boolean => new Set(runs.flatMap((r) => (r.settings?.[k] !== undefined ? [r.settings[k]] : []))).size > 1;
  const shown = keys.filter((k) => ALWAYS.test(k) || differs(k));
  const recipe = (r: { recipePath: string }): string => path.basename(r.recipePath, '.qrecipe');
  const base = new Map<string, string>();
  for (const r of runs) {
    const parts = shown.map((k) => r.settings?.[k]).filter((v): v is string => !!v);
    base.set(r.id, [opts.withRecipe ? recipe(r) : '', parts.join(' ')].filter(Boolean).join(' · '));
  }
  const counts = new Map<string, number>();
  for (const r of runs) if (r.settings) counts.set(base.get(r.id)!, (counts.get(base.get(r.id)!) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const r of runs) {
    const b = base.get(r.id)!;
    if (!r.settings) out.set(r.id, `${opts.withRecipe ? `${recipe(r)} · ` : ''}${shortTime(r.startedAt)}`);
    else out.set(r.id, counts.get(b)! > 1 || !b ? `${b ? `${b} · ` : ''}${shortTime(r.startedAt)}` : b);
  }
  return out;
}
