/**
 * `use`: the imported recipes, read, lowered and merged under this file by the import rules of
 * docs/recipe-language.md (an import's problems are reported at the `use` that brought it in).
 */
import path from 'node:path';

import { lowerSteps, type Doc, type DocNamed, type DocStage, type Val } from '../lower';
import { parseSteps } from '../parser';
import { drainSliced } from '../../util/cancel';
import { ANALYSIS_SLICE_MS } from '../../util/limits';
import type { Checker } from './context';

/** The recipe as this file and its imports make it. */
export interface Merged {
  model?: Val<string>;
  data: DocNamed[];
  presets: DocNamed[];
  stages: DocStage[];
}

/** This file with its imports merged in. */
export function loadRecipe(c: Checker): Promise<Merged> {
  return load(c, c.doc, [c.file], undefined);
}

async function load(c: Checker, d: Doc, stack: string[], top: Val<string> | undefined): Promise<Merged> {
  let base: Merged = { data: [], presets: [], stages: [] };
  for (const use of d.uses) {
    c.checkAbort();
    const via = top ?? use;
    c.refer(use, { file: use.value, start: { line: 0, character: 0 }, end: { line: 0, character: 0 } });
    if (stack.includes(use.value)) {
      const cycle = [...stack, use.value].map((f) => path.basename(f)).join(' → ');
      c.rep(use.loc, 'QR117', `Import cycle: ${cycle}. Remove this \`use\`.`);
      continue;
    }
    // a file imported again (diamonds: a uses b and c, both use d) is read and merged once per
    // analysis, so nested imports cannot multiply the work
    const again = c.imported.get(use.value);
    if (again) {
      if (again.error) c.rep(use.loc, 'QR117', again.error);
      base = over(base, again.merged);
      continue;
    }
    const text = await c.host.readFile(use.value);
    if (text instanceof Error) {
      c.rep(use.loc, 'QR116', `Cannot read ${path.basename(use.value)}: ${text.message}. Check the path (relative to this recipe).`);
      continue;
    }
    const parsed = await drainSliced(parseSteps(text), ANALYSIS_SLICE_MS, c.signal);
    const sub = await drainSliced(lowerSteps(use.value, text, parsed.tree), ANALYSIS_SLICE_MS, c.signal);
    c.docs.set(use.value, sub);
    if (!c.origin.has(use.value)) c.origin.set(use.value, via);
    const errs = [...parsed.errors, ...sub.diagnostics].filter((x) => x.severity === 'error');
    let error: string | undefined;
    if (errs.length) {
      const first = errs[0];
      const line = sub.lines.position(first.start).line + 1;
      error = `${path.basename(use.value)} has ${errs.length} error${errs.length > 1 ? 's' : ''}; first, line ${line}: ${first.message}`;
      c.rep(use.loc, 'QR117', error);
    }
    const merged = await load(c, sub, [...stack, use.value], via);
    c.imported.set(use.value, { merged, error });
    base = over(base, merged);
  }
  for (const m of d.models.slice(1)) c.rep(m.loc, 'QR111', 'A recipe has one model: remove this line or the other `model`.');
  return over(base, { model: d.models[0], data: d.data, presets: d.presets, stages: d.stages });
}

/** `cur` written over `base` (the import rules of docs/recipe-language.md). */
function over(base: Merged, cur: Merged): Merged {
  // by maps and queues, not nested scans: a recipe with 100k items stays linear
  const named = (a: DocNamed[], b: DocNamed[]): DocNamed[] => {
    const inB = new Map<string, DocNamed>();
    for (const y of b) if (!inB.has(y.name)) inB.set(y.name, y);
    const inA = new Set(a.map((x) => x.name));
    return [...a.map((x) => inB.get(x.name) ?? x), ...b.filter((y) => !inA.has(y.name))];
  };
  const stages = [...base.stages];
  // the imported stages of each kind not merged yet, in order
  const open = new Map<string, { at: number; list: number[] }>();
  base.stages.forEach((b, k) => { const q = open.get(b.kind); if (q) q.list.push(k); else open.set(b.kind, { at: 0, list: [k] }); });
  for (const s of cur.stages) {
    // only imported stages are merge targets: this file's own stages are appended
    const q = open.get(s.kind);
    const i = q && q.at < q.list.length ? q.list[q.at++] : undefined;
    if (i === undefined) { stages.push(s); continue; }
    const b = stages[i];
    stages[i] = {
      ...s,
      method: s.method ?? b.method, on: s.on ?? b.on,
      keys: new Map([...b.keys, ...s.keys]),
      targets: s.targets.length ? s.targets : b.targets, ignore: s.ignore.length ? s.ignore : b.ignore,
      overrides: [...b.overrides, ...s.overrides], metrics: s.metrics.length ? s.metrics : b.metrics,
      format: s.format ?? b.format, path: s.path ?? b.path,
    };
  }
  return { model: cur.model ?? base.model, data: named(base.data, cur.data), presets: named(base.presets, cur.presets), stages };
}
