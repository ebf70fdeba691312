/**
 * Semantic analysis of a recipe: parse → lower → imports merged → names, files, combinations →
 * model-aware checks against the layer inventory → the resolved recipe. Never throws (a bug in a
 * check becomes an internal diagnostic rather than a crash).
 */
import path from 'node:path';
import { parse, type ParseResult } from './parser';
import { lower, type Doc, type DocNamed, type DocOverride, type DocStage, type Loc, type Val } from './lower';
import { diag, didYouMean, type Diagnostic } from './diagnostics';
import type { AnalysisHost } from './host';
import type { LayerInfo, ModelInventory } from '../model/types';
import { BUILTIN_PRESETS, KEYWORD_BY_NAME } from './schema';
import { compilePattern, isCompiled } from './patterns';
import { keyOf, modelMemo, type Divisibility, type OverrideSpec, type StageSelection, type StateChange } from './stage-model';
import type {
  AllocateParams, DatasetSource, LayerSelection, MetricName, PruneParams, QuantParams, ResolvedDataset, ResolvedOverride,
  ResolvedPattern, ResolvedRecipe, ResolvedStage, SourceRange,
} from './resolved';

/** Layers matched by one pattern written in the analysed file (for hover). */
export interface PatternInfo { start: number; end: number; role: 'targets' | 'ignore' | 'override'; layers: LayerInfo[] }
/** A name or path reference in the analysed file and what it points to (go to definition). */
export interface Reference { start: number; end: number; target: SourceRange }
/** Estimated model state after a stage written in the analysed file (inlay hints). */
export interface StageEstimate { offset: number; bytes: number; avgBits: number; note?: string }

/**
 * The result of `analyze`. Layer lists, per-layer records and lowered stages in it may be shared with
 * other analyses (memoised per inventory and per unchanged item): read them, never mutate them.
 */
export interface Analysis {
  file: string;
  parse: ParseResult;
  doc: Doc;
  /** Every diagnostic of the analysed file, sorted by offset (imports' problems are attached to the `use`). */
  diagnostics: Diagnostic[];
  recipe: ResolvedRecipe;
  inventory?: ModelInventory;
  patterns: PatternInfo[];
  references: Reference[];
  estimates: StageEstimate[];
  /** Data set and preset names visible in the file (imports included), for completion. */
  datasets: string[];
  presets: string[];
}

interface Merged {
  model?: Val<string>;
  data: DocNamed[];
  presets: DocNamed[];
  stages: DocStage[];
}

const DEFAULT_Q: QuantParams = { bits: 4, group: 128, symmetric: false, actorder: false, dampening: 0.01, block: 128, outliers: 0 };
const DEFAULT_P: PruneParams = { sparsity: 0.5, pattern: 'unstructured', dampening: 0.01, block: 128 };
const SOURCES = ['text', 'images', 'idx', 'ocr'] as const;

/**
 * Analyses `text` as the recipe `file`. `previous`, an analysis of an earlier version of the same
 * file, lets the parse take over the items an edit did not touch; the result is the same without it.
 */
export async function analyze(file: string, text: string, host: AnalysisHost, signal?: AbortSignal, previous?: Analysis): Promise<Analysis> {
  const absFile = path.resolve(file);
  const parsed = parse(text, previous?.file === absFile ? previous.parse : undefined);
  const doc = lower(absFile, text, parsed.tree);
  const diagnostics: Diagnostic[] = [...parsed.errors, ...doc.diagnostics];
  const docs = new Map<string, Doc>([[absFile, doc]]);
  const origin = new Map<string, Val<string>>(); // imported file → the `use` of this file that brought it in
  const references: Reference[] = [];
  const patterns: PatternInfo[] = [];
  const estimates: StageEstimate[] = [];
  const result: Analysis = {
    file: absFile, parse: parsed, doc, diagnostics, patterns, references, estimates, datasets: [], presets: [],
    recipe: { file: absFile, datasets: [], stages: [] },
  };
  try {
    await run();
  } catch (e) {
    if (signal?.aborted) throw e;
    diagnostics.push(diag('QR199', 0, 0, `Internal error in the analysis (please report): ${e instanceof Error ? e.message : String(e)}`));
  }
  diagnostics.sort((a, b) => a.start - b.start || a.end - b.end);
  return result;

  /** Adds a diagnostic located anywhere: in this file as is, in an import at its `use`. */
  function report(at: Loc, d: Diagnostic): void {
    if (at.file === absFile) { diagnostics.push(d); return; }
    const use = origin.get(at.file);
    const sub = docs.get(at.file);
    if (!use || !sub) return;
    const line = sub.lines.position(at.start).line + 1;
    diagnostics.push({ ...d, start: use.loc.start, end: use.loc.end, message: `${path.relative(path.dirname(absFile), at.file)}:${line}: ${d.message}`, fixes: undefined, file: at.file });
  }
  function rep(l: Loc, code: Parameters<typeof diag>[0], message: string, fixes?: Diagnostic['fixes']): void { report(l, diag(code, l.start, l.end, message, fixes)); }
  function range(l: Loc): SourceRange {
    const d = docs.get(l.file) ?? doc;
    return { file: l.file, start: d.lines.position(l.start), end: d.lines.position(l.end) };
  }
  function checkAbort(): void { if (signal?.aborted) throw new Error('cancelled'); }

  async function load(d: Doc, stack: string[], top: Val<string> | undefined): Promise<Merged> {
    let base: Merged = { data: [], presets: [], stages: [] };
    for (const use of d.uses) {
      checkAbort();
      const via = top ?? use;
      if (d.file === absFile) references.push({ start: use.loc.start, end: use.loc.end, target: { file: use.value, start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } });
      if (stack.includes(use.value)) { rep(use.loc, 'QR117', `Import cycle: ${[...stack, use.value].map((f) => path.basename(f)).join(' → ')}. Remove this \`use\`.`); continue; }
      const text2 = await host.readFile(use.value);
      if (text2 instanceof Error) { rep(use.loc, 'QR116', `Cannot read ${path.basename(use.value)}: ${text2.message}. Check the path (relative to this recipe).`); continue; }
      const p2 = parse(text2);
      const sub = lower(use.value, text2, p2.tree);
      docs.set(use.value, sub);
      if (!origin.has(use.value)) origin.set(use.value, via);
      const errs = [...p2.errors, ...sub.diagnostics].filter((x) => x.severity === 'error');
      if (errs.length) {
        const first = errs[0];
        rep(use.loc, 'QR117', `${path.basename(use.value)} has ${errs.length} error${errs.length > 1 ? 's' : ''}; first, line ${sub.lines.position(first.start).line + 1}: ${first.message}`);
      }
      base = over(base, await load(sub, [...stack, use.value], via));
    }
    if (d.models.length > 1) for (const m of d.models.slice(1)) rep(m.loc, 'QR111', 'A recipe has one model: remove this line or the other `model`.');
    return over(base, { model: d.models[0], data: d.data, presets: d.presets, stages: d.stages });
  }

  /** `cur` written over `base` (the import rules of docs/recipe-language.md). */
  function over(base: Merged, cur: Merged): Merged {
    const named = (a: DocNamed[], b: DocNamed[]): DocNamed[] => [...a.map((x) => b.find((y) => y.name === x.name) ?? x), ...b.filter((y) => !a.some((x) => x.name === y.name))];
    const stages = [...base.stages];
    const merged = new Set<number>();
    for (const s of cur.stages) {
      // only imported stages are merge targets: this file's own stages are appended
      const i = base.stages.findIndex((b, k) => !merged.has(k) && b.kind === s.kind);
      if (i < 0) { stages.push(s); continue; }
      merged.add(i);
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

  async function run(): Promise<void> {
    const m = await load(doc, [absFile], undefined);
    checkAbort();
    result.datasets = m.data.map((d) => d.name);
    result.presets = m.presets.map((p) => p.name);
    const firstLine = Math.max(1, text.search(/\r|\n|$/));
    if (!m.model) diagnostics.push(diag('QR113', 0, Math.min(firstLine, text.length), 'The recipe names no model: add `model "path/to/model.onnx"`.'));

    // files
    const checks: Promise<void>[] = [];
    const mustExist = (v: Val<string> | undefined, what: string): void => {
      if (v) checks.push(host.exists(v.value).then((ok) => { if (!ok) rep(v.loc, 'QR116', `${what} not found: ${v.value}. Paths are relative to the recipe file.`); }));
    };
    mustExist(m.model, 'Model file');
    let modelExists = false;
    if (m.model) { const mv = m.model; checks.push(host.exists(mv.value).then((ok) => { modelExists = ok; })); }
    if (m.model) result.recipe.model = { path: m.model.value, range: range(m.model.loc) };

    // data sets
    for (const d of m.data) {
      const k = d.keys;
      const srcs = SOURCES.filter((s) => k.has(s));
      if (!srcs.length) rep(d.nameLoc, 'QR113', `Data set \`${d.name}\` has no source: add one of \`text "file.txt"\`, \`images "folder"\`, \`idx "images.gz"\`, \`ocr "folder"\`.`);
      for (const s of srcs.slice(1)) rep(k.get(s)!.entry, 'QR114', `Data set \`${d.name}\` already reads \`${srcs[0]}\`: a data set has one source. Declare another data set.`);
      const src = srcs[0];
      if (src && src !== 'text') for (const t of ['tokenizer', 'seqlen']) if (k.has(t)) rep(k.get(t)!.entry, 'QR114', `\`${t}\` applies to text data sets only; \`${d.name}\` reads ${src}.`);
      if (src === 'idx' && !k.has('labels')) rep(k.get('idx')!.entry, 'QR113', 'IDX images need their labels: add `labels "…-labels-idx1-ubyte.gz"`.');
      if ((src === 'text' || src === 'images') && k.has('labels')) rep(k.get('labels')!.entry, 'QR114', `\`labels\` applies to idx and ocr data sets; ${src} data sets ${src === 'images' ? 'take labels from sub-folder names' : 'need none'}.`);
      for (const s of [...srcs, 'labels']) mustExist(k.get(s) as Val<string> | undefined, s === 'labels' ? 'Labels file' : 'Data');
      const tok = k.get('tokenizer');
      if (tok && typeof tok.value === 'object') mustExist({ ...tok, value: (tok.value as { path: string }).path }, 'Tokenizer');
      if (src === 'ocr' && !k.has('labels')) {
        const lbl = path.join(k.get('ocr')!.value as string, 'labels.tsv');
        const ov = k.get('ocr')!;
        checks.push(host.exists(lbl).then((ok) => { if (!ok) rep(ov.loc, 'QR116', `No labels.tsv in ${ov.value as string}: add one (file<TAB>text per line) or name it with \`labels\`.`); }));
      }
      if (src) {
        const p = k.get(src)!.value as string;
        const labels = (k.get('labels')?.value as string | undefined) ?? (src === 'ocr' ? path.join(p, 'labels.tsv') : '');
        const source: DatasetSource = src === 'text' ? { kind: 'text', path: p, tokenizer: (tok?.value as 'byte' | { path: string } | undefined) ?? 'byte' }
          : src === 'images' ? { kind: 'images', path: p } : { kind: src, path: p, labels };
        const ds: ResolvedDataset = {
          name: d.name, source, samples: (k.get('samples')?.value as number | undefined) ?? 128,
          seqlen: (k.get('seqlen')?.value as number | undefined) ?? 2048, seed: (k.get('seed')?.value as number | undefined) ?? 0, range: range(d.loc),
        };
        result.recipe.datasets.push(ds);
      }
    }
    const dataKind = (name: string): string | undefined => result.recipe.datasets.find((d) => d.name === name)?.source.kind;
    const refData = (v: Val<string>): boolean => {
      const d = m.data.find((x) => x.name === v.value);
      if (d) { if (v.loc.file === absFile) references.push({ start: v.loc.start, end: v.loc.end, target: range(d.nameLoc) }); return true; }
      const dm = didYouMean(v.value, m.data.map((x) => x.name));
      rep(v.loc, 'QR112', m.data.length ? `No data set named \`${v.value}\`${dm ? `: did you mean \`${dm}\`?` : `. Data sets: ${m.data.map((x) => x.name).join(', ')}.`}` : `No data set named \`${v.value}\`: declare it with \`data ${v.value} { text "file.txt" }\`.`,
        dm ? [{ title: `Change to ${dm}`, start: v.loc.start, end: v.loc.end, text: dm }] : undefined);
      return false;
    };

    await Promise.all(checks);
    checkAbort();
    let inv: ModelInventory | undefined;
    if (m.model && modelExists && host.inventory) {
      const r = await host.inventory(m.model.value);
      checkAbort();
      if (r instanceof Error) rep(m.model.loc, 'QR207', `Cannot read the model's layers (${r.message}); model-aware checks are off.`);
      else inv = r;
    }
    result.inventory = inv;
    const layers = inv?.layers ?? [];
    // model-aware results of unchanged stages come from here (see stage-model.ts)
    const memo = inv ? modelMemo(inv) : undefined;

    // model state for estimates: bits per weight and bytes of each layer, by position, written only
    // when an estimate is not memoised (see ModelMemo.size)
    const state = { bits: memo ? memo.initialBits.slice() : new Float64Array(0), bytes: memo ? memo.initialBytes.slice() : new Float64Array(0) };
    const pending: StateChange[] = [];
    let chain = '';
    const apply = (c: StateChange): void => { pending.push(c); chain += `${c.id},`; };
    const snapshot = (offset: number, note?: string): void => {
      if (!memo) return;
      estimates.push({ offset, ...memo.size(chain, pending, state), note });
    };

    let seenQuant = false;
    let exportAt: DocStage | undefined;
    m.stages.forEach((s, index) => {
      checkAbort();
      if (exportAt && s.kind !== 'evaluate' && s.kind !== 'export') rep(s.keywordLoc, 'QR118', `This ${s.kind} stage runs after \`export\` on line ${range(exportAt.loc).start.line + 1}: the exported file will not include it. Move the export to the end.`);
      if (s.kind === 'prune' && seenQuant) rep(s.keywordLoc, 'QR118', 'Pruning after quantization moves weights off the quantization grid: prune first, then quantize.');
      if (s.kind === 'quantize' || s.kind === 'allocate') seenQuant = true;
      if (s.kind === 'export') exportAt = s;
      const base = { index, range: range(s.loc) };
      const where = s.loc.file === absFile;
      const endOffset = s.loc.end;
      if (s.kind === 'export') {
        if (s.format && s.path) result.recipe.stages.push({ ...base, kind: 'export', format: s.format.value as 'onnx-qdq', path: s.path.value });
        return;
      }
      if (s.kind === 'evaluate') {
        const metrics: { metric: MetricName; data?: string; range: SourceRange }[] = [];
        const want: Record<string, string[]> = { perplexity: ['text'], accuracy: ['images', 'idx'], cer: ['ocr'] };
        for (const mt of s.metrics) {
          if (mt.on && refData(mt.on)) {
            const k = dataKind(mt.on.value);
            const w = want[mt.metric];
            if (w && k && !w.includes(k)) rep(mt.on.loc, 'QR119', `\`${mt.metric}\` needs a ${w.join(' or ')} data set; \`${mt.on.value}\` reads ${k}.`);
          }
          metrics.push({ metric: mt.metric, data: mt.on?.value, range: range(mt.loc) });
        }
        result.recipe.stages.push({ ...base, kind: 'evaluate', metrics });
        return;
      }
      // prune / quantize / allocate
      const kw = KEYWORD_BY_NAME.get(s.kind)!;
      const method = (s.method?.value as string | undefined) ?? (s.kind === 'allocate' ? 'llm-mq' : undefined);
      const mspec = kw.methods?.find((x) => x.name === method);
      let data: string | undefined;
      if (mspec?.needsData) {
        if (s.on) { if (refData(s.on)) data = s.on.value; }
        else if (m.data.length) data = m.data[0].name;
        else rep(s.keywordLoc, 'QR113', `${method} needs calibration data: declare \`data calib { text "calib.txt" }\` (the first data set is used) or write \`on NAME\`.`);
      } else if (s.on) {
        if (refData(s.on)) rep(s.on.loc, 'QR114', `${method} uses no calibration data: remove \`on ${s.on.value}\`.`);
      }
      const sel = selection(s);
      const q = (v: Val | undefined): unknown => v?.value;
      if (s.kind === 'quantize') {
        let params: QuantParams = { ...DEFAULT_Q };
        let stageGroupVal: Val | undefined = s.keys.get('group');
        const pv = s.keys.get('preset');
        if (pv) {
          const name = pv.value as string;
          const bi = BUILTIN_PRESETS[name];
          const user = m.presets.find((p) => p.name === name);
          if (bi) params = { ...params, bits: bi.bits, group: bi.group, symmetric: bi.symmetric };
          else if (user) {
            params = applyQ(params, user.keys);
            if (!stageGroupVal) stageGroupVal = user.keys.get('group');
            if (pv.loc.file === absFile) references.push({ start: pv.loc.start, end: pv.loc.end, target: range(user.nameLoc) });
          } else {
            const all = [...Object.keys(BUILTIN_PRESETS), ...m.presets.map((p) => p.name)];
            const dm = didYouMean(name, all);
            rep(pv.loc, 'QR112', `No preset named \`${name}\`${dm ? `: did you mean \`${dm}\`?` : `. Presets: ${all.join(', ')}.`}`, dm ? [{ title: `Change to ${dm}`, start: pv.loc.start, end: pv.loc.end, text: dm }] : undefined);
          }
        }
        params = applyQ(params, s.keys);
        const overrides: ResolvedOverride<QuantParams>[] = s.overrides.map((o) => ({ pattern: rpat(o.pattern), params: applyQ({}, o.keys), range: range(o.loc) }));
        let perLayer: Record<string, QuantParams> | undefined;
        if (memo && sel.sel) {
          const qm = memo.quantize(sel.sel, params, ...overrideSpecs(s.overrides, overrides));
          reportOverrides(s.overrides, qm.overrideHits, sel.sel.selected.length);
          overrides.forEach((o, i) => { o.layers = qm.overrideNames[i]; });
          perLayer = qm.perLayer;
          reportDivisibility(s, qm.problems, (src) => (src < 0 ? stageGroupVal : s.overrides[src].keys.get('group')), 'group');
          apply(qm.state);
          if (where) snapshot(endOffset);
        }
        result.recipe.stages.push({ ...base, kind: 'quantize', method: (method ?? 'rtn') as 'rtn', data, selection: sel.resolved, params, overrides, perLayer });
      } else if (s.kind === 'prune') {
        const params: PruneParams = { ...DEFAULT_P, ...applyP(s.keys) };
        if (typeof params.pattern === 'object') {
          const implied = params.pattern.n / params.pattern.m;
          const sv = s.keys.get('sparsity');
          if (sv && Math.abs((sv.value as number) - implied) > 1e-9) rep(sv.loc, 'QR114', `Pattern ${params.pattern.n}:${params.pattern.m} means ${+(implied * 100).toFixed(2)}% sparsity: remove \`sparsity\` or make it ${+(implied * 100).toFixed(2)}%.`);
          params.sparsity = implied;
        }
        const overrides: ResolvedOverride<PruneParams>[] = s.overrides.map((o) => ({ pattern: rpat(o.pattern), params: applyP(o.keys), range: range(o.loc) }));
        let perLayer: Record<string, PruneParams> | undefined;
        if (memo && sel.sel) {
          const pm = memo.prune(sel.sel, params, ...overrideSpecs(s.overrides, overrides));
          reportOverrides(s.overrides, pm.overrideHits, sel.sel.selected.length);
          overrides.forEach((o, i) => { o.layers = pm.overrideNames[i]; });
          perLayer = pm.perLayer;
          reportDivisibility(s, pm.problems, (src) => (src < 0 ? s.keys.get('pattern') : s.overrides[src].keys.get('pattern')), 'pattern');
          if (where) snapshot(endOffset, pm.note);
        }
        result.recipe.stages.push({ ...base, kind: 'prune', method: (method ?? 'magnitude') as 'wanda', data, selection: sel.resolved, params, overrides, perLayer });
      } else {
        const budgetVal = s.keys.get('budget');
        if (!budgetVal) rep(s.keywordLoc, 'QR107', '`allocate` needs a budget: `budget 3bits` (average width) or `budget 2MiB` (weight memory).');
        const params: AllocateParams = {
          budget: (q(budgetVal) as AllocateParams['budget'] | undefined) ?? { kind: 'bits', bits: 4 },
          candidates: (q(s.keys.get('candidates')) as number[] | undefined) ?? [2, 3, 4],
          metric: (q(s.keys.get('metric')) as AllocateParams['metric'] | undefined) ?? 'fisher',
          outliers: (q(s.keys.get('outliers')) as number | undefined) ?? 0,
          group: (q(s.keys.get('group')) as number | 'channel' | undefined) ?? 128,
          symmetric: q(s.keys.get('scheme')) === 'symmetric',
        };
        const overrides: ResolvedOverride<{ bits: number; candidates: number[] }>[] = s.overrides.map((o) => ({
          pattern: rpat(o.pattern), range: range(o.loc),
          params: { ...(o.keys.has('bits') ? { bits: o.keys.get('bits')!.value as number } : {}), ...(o.keys.has('candidates') ? { candidates: o.keys.get('candidates')!.value as number[] } : {}) },
        }));
        let perLayer: Record<string, { candidates: number[] }> | undefined;
        if (memo && sel.sel) {
          const am = memo.allocate(sel.sel, params, ...overrideSpecs(s.overrides, overrides));
          reportOverrides(s.overrides, am.overrideHits, sel.sel.selected.length);
          overrides.forEach((o, i) => { o.layers = am.overrideNames[i]; });
          perLayer = am.perLayer;
          reportDivisibility(s, am.problems, () => s.keys.get('group'), 'group');
          if (budgetVal && am.budget) rep(budgetVal.loc, am.budget.code, am.budget.message);
          apply(am.state);
          if (where && am.params) snapshot(endOffset);
        }
        result.recipe.stages.push({ ...base, kind: 'allocate', method: 'llm-mq', data, selection: sel.resolved, params, overrides, perLayer });
      }
    });

    // MatMulNBits stores blocks of a power-of-two size ≥ 16
    if (m.stages.some((s) => s.kind === 'export' && s.format?.value === 'onnx-matmulnbits')) {
      for (const s of m.stages) {
        if (s.kind !== 'quantize' && s.kind !== 'allocate') continue;
        for (const g of [s.keys.get('group'), ...s.overrides.map((o) => o.keys.get('group'))]) {
          const v = g?.value;
          if (g && typeof v === 'number' && (v < 16 || (v & (v - 1)) !== 0)) rep(g.loc, 'QR114', `onnx-matmulnbits needs a group size that is a power of two ≥ 16, not ${v}: use 16, 32, 64 or 128, or export onnx-qdq.`);
        }
      }
    }

    // helpers over the inventory ------------------------------------------------------------
    function rpat(v: Val<string>): ResolvedPattern {
      const c = compilePattern(v.value);
      return { text: v.value, kind: isCompiled(c) ? c.kind : 'regex', range: range(v.loc) };
    }
    /** The patterns that compile, in order (aligned with the hits of a StageSelection). */
    function valid(vs: Val<string>[]): Val<string>[] {
      return vs.filter((v) => isCompiled(compilePattern(v.value)));
    }
    /** A fix removing one pattern from its entry (or the whole entry when it is the only value). */
    function dropFix(v: Val<string>, all: Val<string>[]): Diagnostic['fixes'] {
      const same = all.filter((x) => x.entry.start === v.entry.start && x.entry.file === v.entry.file);
      if (same.length <= 1) return [{ title: `Remove ${JSON.stringify(v.value)}`, start: v.entry.start, end: v.entry.end, text: '' }];
      const i = same.indexOf(v);
      const start = i === 0 ? v.loc.start : same[i - 1].loc.end;
      const end = i === 0 ? same[1].loc.start : v.loc.end;
      return [{ title: `Remove ${JSON.stringify(v.value)}`, start, end, text: '' }];
    }
    function selection(s: DocStage): { resolved: LayerSelection; sel?: StageSelection } {
      const resolved: LayerSelection = { targets: s.targets.map(rpat), ignore: s.ignore.map(rpat) };
      if (!memo) return { resolved };
      const sel = memo.select(s.targets.map((v) => v.value), s.ignore.map((v) => v.value));
      const { targeted, selected } = sel;
      valid(s.targets).forEach((v, k) => {
        const hit = sel.targetHits[k];
        if (v.loc.file === absFile) patterns.push({ start: v.loc.start, end: v.loc.end, role: 'targets', layers: hit });
        if (!hit.length) {
          const near = memo.nearName(v.value);
          rep(v.loc, 'QR201', `Target ${JSON.stringify(v.value)} matches no layer of the model (${layers.length} layers, e.g. ${layers.slice(0, 3).map((l) => l.name).join(', ')})${near ? `: did you mean "${near}"?` : '.'}`,
            [...(near ? [{ title: `Change to "${near}"`, start: v.loc.start, end: v.loc.end, text: JSON.stringify(near) }] : []), ...(dropFix(v, s.targets) ?? [])]);
        }
      });
      for (const [k, v] of valid(s.ignore).entries()) {
        const { hit, all: hitAll } = sel.ignoreHits[k];
        if (v.loc.file === absFile) patterns.push({ start: v.loc.start, end: v.loc.end, role: 'ignore', layers: hit });
        if (!hit.length) {
          const near = memo.nearName(v.value);
          const why = hitAll.length ? `matches only layers the targets do not select (${hitAll.slice(0, 3).map((l) => l.name).join(', ')})` : `matches no layer of the model${near ? `: did you mean "${near}"?` : ''}`;
          rep(v.loc, 'QR203', `Exclusion ${JSON.stringify(v.value)} ${why}; it has no effect. Fix or remove it.`,
            [...(near && !hitAll.length ? [{ title: `Change to "${near}"`, start: v.loc.start, end: v.loc.end, text: JSON.stringify(near) }] : []), ...(dropFix(v, s.ignore) ?? [])]);
        }
      }
      if (!selected.length) {
        if (targeted.length && s.ignore.length) {
          const first = s.ignore[0];
          rep({ file: first.entry.file, start: first.entry.start, end: s.ignore[s.ignore.length - 1].entry.end }, 'QR202',
            `The exclusions remove all ${targeted.length} targeted layer${targeted.length > 1 ? 's' : ''}: this ${s.kind} stage would change nothing. Narrow \`ignore\` (it is applied after \`targets\`).`);
        } else if (s.targets.length) {
          rep({ file: s.targets[0].entry.file, start: s.targets[0].entry.start, end: s.targets[s.targets.length - 1].entry.end }, 'QR202', `The targets select no layer: this ${s.kind} stage would change nothing.`);
        } else rep(s.keywordLoc, 'QR202', 'The model has no MatMul, Gemm or Conv layer to compress: name layers with `targets`.');
      }
      resolved.layers = sel.names;
      return { resolved, sel };
    }

    /** Patterns and the no-effect warning of each override, from its matches among `count` selected layers. */
    function reportOverrides(os: DocOverride[], hits: LayerInfo[][], count: number): void {
      os.forEach((o, i) => {
        const hit = hits[i];
        if (o.pattern.loc.file === absFile) patterns.push({ start: o.pattern.loc.start, end: o.pattern.loc.end, role: 'override', layers: hit });
        if (!hit.length && isCompiled(compilePattern(o.pattern.value))) rep(o.pattern.loc, 'QR208', `Override ${JSON.stringify(o.pattern.value)} matches none of the ${count} selected layers; it has no effect.`, [{ title: 'Remove this override', start: o.loc.start, end: o.loc.end, text: '' }]);
      });
    }

    /** Group sizes / N:M widths that do not divide some layers' input dimension, at the value that set them. */
    function reportDivisibility(s: DocStage, problems: Divisibility[], valOf: (source: number) => Val | undefined, what: 'group' | 'pattern'): void {
      for (const pr of problems) {
        const v = valOf(pr.source);
        const { width: w, count: n, names, alt } = pr;
        const at: Loc = v?.loc ?? s.keywordLoc;
        if (what === 'group') {
          const fixes = v && alt ? [{ title: `Use group ${alt}`, start: v.loc.start, end: v.loc.end, text: String(alt) }] : v ? [{ title: 'Use group channel', start: v.loc.start, end: v.loc.end, text: 'channel' }] : undefined;
          rep(at, 'QR204', `Group size ${w}${v ? '' : ' (the default)'} does not divide the input dimension of ${n} layer${n > 1 ? 's' : ''}: ${names}. ${alt ? `Use \`group ${alt}\` (divides every selected layer)` : 'Use `group channel`'}, or exclude ${n > 1 ? 'them' : 'it'} with \`ignore\`.`, fixes);
        } else {
          rep(at, 'QR205', `N:M with M = ${w} does not divide the input dimension of ${n} layer${n > 1 ? 's' : ''}: ${names}. Exclude ${n > 1 ? 'them' : 'it'} with \`ignore\` or use \`pattern unstructured\` for ${n > 1 ? 'them' : 'it'} in an override.`);
        }
      }
    }
  }
}

/** Memo keys of override lists: a stage taken over unchanged by lowering keeps its `overrides` array. */
const overrideKeys = new WeakMap<DocOverride[], string>();

/** The overrides as the stage model takes them, and their memo key (cached per written list). */
function overrideSpecs<P>(written: DocOverride[], resolved: { pattern: ResolvedPattern; params: P }[]): [OverrideSpec<P>[], string] {
  const specs = resolved.map((o) => ({ pattern: o.pattern.text, params: o.params }));
  let key = overrideKeys.get(written);
  if (key === undefined) { key = keyOf(specs); overrideKeys.set(written, key); }
  return [specs, key];
}

function applyQ<T extends Partial<QuantParams>>(p: T, keys: Map<string, Val>): T {
  const out: Partial<QuantParams> = { ...p };
  const g = (k: string): unknown => keys.get(k)?.value;
  if (keys.has('bits')) out.bits = g('bits') as number;
  if (keys.has('group')) out.group = g('group') as number | 'channel';
  if (keys.has('scheme')) out.symmetric = g('scheme') === 'symmetric';
  if (keys.has('actorder')) out.actorder = g('actorder') as boolean;
  if (keys.has('dampening')) out.dampening = g('dampening') as number;
  if (keys.has('block')) out.block = g('block') as number;
  if (keys.has('outliers')) out.outliers = g('outliers') as number;
  return out as T;
}

function applyP(keys: Map<string, Val>): Partial<PruneParams> {
  const out: Partial<PruneParams> = {};
  if (keys.has('sparsity')) out.sparsity = keys.get('sparsity')!.value as number;
  if (keys.has('pattern')) out.pattern = keys.get('pattern')!.value as PruneParams['pattern'];
  if (keys.has('dampening')) out.dampening = keys.get('dampening')!.value as number;
  if (keys.has('block')) out.block = keys.get('block')!.value as number;
  return out;
}

export type { ResolvedStage };
