/**
 * The layers a prune/quantize/allocate stage selects, against the model's inventory: its
 * `targets` and `ignore` patterns (QR201–QR203, with quick fixes), its overrides (QR208) and the
 * widths that do not divide some layers (QR204, QR205). The matching itself is memoised per
 * inventory (stage-model.ts); this file turns its results into diagnostics and hover patterns.
 */
import type { LayerInfo } from '../../model/types';
import type { Diagnostic } from '../diagnostics';
import type { DocOverride, DocStage, Loc, Val } from '../lower';
import { compilePattern, isCompiled } from '../patterns';
import type { LayerSelection, ResolvedPattern } from '../resolved';
import { keyOf, type Divisibility, type OverrideSpec, type StageSelection } from '../stage-model';
import type { Checker } from './context';
import { MAX_SUGGESTIONS } from '../../util/limits';

/** A stage's selection as the resolved recipe states it, and the memo's (absent without a model). */
export interface Selected { resolved: LayerSelection; sel?: StageSelection }

/** A written pattern as the resolved recipe states it. */
export function rpat(c: Checker, v: Val<string>): ResolvedPattern {
  const compiled = compilePattern(v.value);
  return { text: v.value, kind: isCompiled(compiled) ? compiled.kind : 'regex', range: c.range(v.loc) };
}

/** The patterns that compile, in order (aligned with the hits of a StageSelection). */
function valid(vs: Val<string>[]): Val<string>[] {
  return vs.filter((v) => isCompiled(compilePattern(v.value)));
}

/**
 * Fixes removing one pattern from its entry (or the whole entry when it is the only value), for
 * every pattern of `all`: the patterns of each entry are grouped once (linear in the patterns).
 */
function dropFixes(all: Val<string>[]): (v: Val<string>) => Diagnostic['fixes'] {
  const groups = new Map<string, Val<string>[]>();
  const at = new Map<Val<string>, number>();
  for (const x of all) {
    const key = `${x.entry.file}\0${x.entry.start}`;
    const g = groups.get(key);
    if (g) { at.set(x, g.length); g.push(x); } else { at.set(x, 0); groups.set(key, [x]); }
  }
  return (v) => {
    const same = groups.get(`${v.entry.file}\0${v.entry.start}`) ?? [v];
    if (same.length <= 1) return [{ title: `Remove ${JSON.stringify(v.value)}`, start: v.entry.start, end: v.entry.end, text: '' }];
    const i = at.get(v) ?? 0;
    const start = i === 0 ? v.loc.start : same[i - 1].loc.end;
    const end = i === 0 ? same[1].loc.start : v.loc.end;
    return [{ title: `Remove ${JSON.stringify(v.value)}`, start, end, text: '' }];
  };
}

/** A fix replacing pattern `v` by the layer name `near`. */
function nearFix(v: Val<string>, near: string): NonNullable<Diagnostic['fixes']> {
  return [{ title: `Change to "${near}"`, start: v.loc.start, end: v.loc.end, text: JSON.stringify(near) }];
}

/** The entries from the first to the last of `vs` (all in one file). */
function entries(vs: Val<string>[]): Loc {
  return { file: vs[0].entry.file, start: vs[0].entry.start, end: vs[vs.length - 1].entry.end };
}

/** Resolves and checks the layer selection of stage `s`. */
export function selection(c: Checker, s: DocStage): Selected {
  const resolved: LayerSelection = { targets: s.targets.map((v) => rpat(c, v)), ignore: s.ignore.map((v) => rpat(c, v)) };
  const { memo, layers } = c;
  // a pattern that did not compile (QR115) leaves a selection other than the one meant: no model checks
  if (!memo || s.incomplete) return { resolved };
  const sel = memo.select(s.targets.map((v) => v.value), s.ignore.map((v) => v.value));
  const { targeted, selected } = sel;
  const dropTarget = dropFixes(s.targets);
  const dropIgnore = dropFixes(s.ignore);
  // "did you mean" for the first problems only: a recipe may list 100k patterns that match nothing
  const near = (p: string): string | undefined => (c.suggestions++ < MAX_SUGGESTIONS ? memo.nearName(p) : undefined);
  valid(s.targets).forEach((v, k) => {
    const hit = sel.targetHits[k];
    if (v.loc.file === c.file) c.result.patterns.push({ start: v.loc.start, end: v.loc.end, role: 'targets', layers: hit });
    if (hit.length) return;
    const nearName = near(v.value);
    const examples = layers.slice(0, 3).map((l) => l.name).join(', ');
    c.rep(v.loc, 'QR201',
      `Target ${JSON.stringify(v.value)} matches no layer of the model (${layers.length} layers, e.g. ${examples})` +
        `${nearName ? `: did you mean "${nearName}"?` : '.'}`,
      [...(nearName ? nearFix(v, nearName) : []), ...(dropTarget(v) ?? [])]);
  });
  for (const [k, v] of valid(s.ignore).entries()) {
    const { hit, all: hitAll } = sel.ignoreHits[k];
    if (v.loc.file === c.file) c.result.patterns.push({ start: v.loc.start, end: v.loc.end, role: 'ignore', layers: hit });
    if (hit.length) continue;
    const nearName = hitAll.length ? undefined : near(v.value);
    const why = hitAll.length
      ? `matches only layers the targets do not select (${hitAll.slice(0, 3).map((l) => l.name).join(', ')})`
      : `matches no layer of the model${nearName ? `: did you mean "${nearName}"?` : ''}`;
    c.rep(v.loc, 'QR203', `Exclusion ${JSON.stringify(v.value)} ${why}; it has no effect. Fix or remove it.`,
      [...(nearName ? nearFix(v, nearName) : []), ...(dropIgnore(v) ?? [])]);
  }
  if (!selected.length) {
    if (targeted.length && s.ignore.length) {
      const n = targeted.length;
      c.rep(entries(s.ignore), 'QR202',
        `The exclusions remove all ${n} targeted layer${n > 1 ? 's' : ''}: this ${s.kind} stage would change nothing. ` +
          'Narrow `ignore` (it is applied after `targets`).');
    } else if (s.targets.length) {
      c.rep(entries(s.targets), 'QR202', `The targets select no layer: this ${s.kind} stage would change nothing.`);
    } else c.rep(s.keywordLoc, 'QR202', 'The model has no MatMul, Gemm or Conv layer to compress: name layers with `targets`.');
  }
  resolved.layers = sel.names;
  return { resolved, sel };
}

/**
 * The overrides' matches among the selected layers, from the memo's result `r`: recorded in the
 * resolved overrides, shown as hover patterns, and a no-effect warning (QR208) for one matching none.
 */
export function takeOverrides(
  c: Checker, s: DocStage, sel: StageSelection, overrides: { layers?: string[] }[],
  r: { overrideHits: LayerInfo[][]; overrideNames: string[][] },
): void {
  reportOverrides(c, s.overrides, r.overrideHits, sel.selected.length);
  overrides.forEach((o, i) => { o.layers = r.overrideNames[i]; });
}

function reportOverrides(c: Checker, os: DocOverride[], hits: LayerInfo[][], count: number): void {
  os.forEach((o, i) => {
    const hit = hits[i];
    const { loc } = o.pattern;
    if (loc.file === c.file) c.result.patterns.push({ start: loc.start, end: loc.end, role: 'override', layers: hit });
    if (!hit.length && isCompiled(compilePattern(o.pattern.value))) {
      c.rep(loc, 'QR208',
        `Override ${JSON.stringify(o.pattern.value)} matches none of the ${count} selected layers; it has no effect.`,
        [{ title: 'Remove this override', start: o.loc.start, end: o.loc.end, text: '' }]);
    }
  });
}

/** Group sizes / N:M widths that do not divide some layers' input dimension, at the value that set them. */
export function reportDivisibility(
  c: Checker, s: DocStage, problems: Divisibility[], valOf: (source: number) => Val | undefined, what: 'group' | 'pattern',
): void {
  for (const pr of problems) {
    const v = valOf(pr.source);
    const { width: w, count: n, names, alt } = pr;
    const at: Loc = v?.loc ?? s.keywordLoc;
    const them = n > 1 ? 'them' : 'it';
    const layersOf = `${n} layer${n > 1 ? 's' : ''}: ${names}`;
    if (what === 'group') {
      const fix = alt ? { title: `Use group ${alt}`, text: String(alt) } : { title: 'Use group channel', text: 'channel' };
      const use = alt ? `\`group ${alt}\` divides every selected layer` : '`group channel` gives one group per row';
      c.rep(at, 'QR204',
        `Group size ${w}${v ? '' : ' (the default)'} does not divide the input dimension of ${layersOf}: the last group ` +
          `of each row is shorter, as in GPTQ's reference and MatMulNBits (its last block padded). ${use}.`,
        v ? [{ title: fix.title, start: v.loc.start, end: v.loc.end, text: fix.text }] : undefined);
    } else {
      c.rep(at, 'QR205',
        `N:M with M = ${w} does not divide the input dimension of ${layersOf}. Exclude ${them} with \`ignore\` or use ` +
          `\`pattern unstructured\` for ${them} in an override.`);
    }
  }
}

/** Memo keys of override lists: a stage taken over unchanged by lowering keeps its `overrides` array. */
const overrideKeys = new WeakMap<DocOverride[], string>();

/** The overrides as the stage model takes them, and their memo key (cached per written list). */
export function overrideSpecs<P>(
  written: DocOverride[], resolved: { pattern: ResolvedPattern; params: P }[],
): [OverrideSpec<P>[], string] {
  const specs = resolved.map((o) => ({ pattern: o.pattern.text, params: o.params }));
  let key = overrideKeys.get(written);
  if (key === undefined) { key = keyOf(specs); overrideKeys.set(written, key); }
  return [specs, key];
}
