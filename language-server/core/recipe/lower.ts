/**
 * Lowering: syntax tree of one file → a checked, typed description (`Doc`) of its items, with the
 * schema's type, range and unit checks (QR1xx). Imports, name references and the model are handled
 * later by `analyze.ts`. Never throws.
 */
import path from 'node:path';
import { splitNumber, stringValue, type Token } from './lexer';
import { type BlockKind, type KeySpec, type StageKind, KEYWORD_BY_NAME, KEYWORDS, keySpec, keysOf, anyKeySpec, LLMC_ALIASES, SIZE_UNITS, BUILTIN_PRESETS } from './schema';
import { diag, didYouMean, type Diagnostic, LineIndex } from './diagnostics';
import type { BlockNode, EntryNode, FileNode, ItemNode } from './syntax';
import { compilePattern, isCompiled } from './patterns';
import { moveDiagnostic, movedFrom } from './reparse';
import type { MetricName } from './resolved';

/** A span of one file (offsets). */
export interface Loc { file: string; start: number; end: number }
/** A checked value: its typed content, the span of its tokens and of the whole entry. */
export interface Val<T = unknown> { value: T; loc: Loc; entry: Loc }

export interface DocOverride { pattern: Val<string>; keys: Map<string, Val>; loc: Loc }
export interface DocMetric { metric: MetricName; on?: Val<string>; loc: Loc }
export interface DocNamed { name: string; nameLoc: Loc; keys: Map<string, Val>; loc: Loc }
export interface DocStage {
  kind: StageKind;
  method?: Val<string>;
  on?: Val<string>;
  keys: Map<string, Val>;
  targets: Val<string>[];
  ignore: Val<string>[];
  overrides: DocOverride[];
  metrics: DocMetric[];
  format?: Val<string>;
  path?: Val<string>;
  loc: Loc;
  keywordLoc: Loc;
  /** Offset just after the header line's last token (where inlay hints go). */
  headerEnd: number;
}
export interface Doc {
  file: string;
  text: string;
  lines: LineIndex;
  tree: FileNode;
  uses: Val<string>[];
  models: Val<string>[];
  data: DocNamed[];
  presets: DocNamed[];
  stages: DocStage[];
  diagnostics: Diagnostic[];
}

const STAGES: StageKind[] = ['prune', 'quantize', 'allocate', 'evaluate', 'export'];

/**
 * Stages lowered from each stage item, with the diagnostics lowering gave them. A stage reads only
 * its own item, the file's folder and (for QR109) line numbers, so the same node in the same file
 * starting on the same line lowers the same: shared, never mutated.
 */
const loweredStages = new WeakMap<ItemNode, { file: string; line: number; stage: DocStage; diagnostics: Diagnostic[] }>();

/** A copy of a lowered stage with every offset moved by `d` (its item moved in the text). */
function moveStage(s: DocStage, d: number): DocStage {
  const L = (l: Loc): Loc => ({ file: l.file, start: l.start + d, end: l.end + d });
  const V = <T>(v: Val<T>): Val<T> => ({ value: v.value, loc: L(v.loc), entry: L(v.entry) });
  const K = (m: Map<string, Val>): Map<string, Val> => { const out = new Map<string, Val>(); for (const [k, v] of m) out.set(k, V(v)); return out; };
  const out: DocStage = {
    ...s, keys: K(s.keys), targets: s.targets.map(V), ignore: s.ignore.map(V),
    overrides: s.overrides.map((o) => ({ pattern: V(o.pattern), keys: K(o.keys), loc: L(o.loc) })),
    metrics: s.metrics.map((m) => ({ metric: m.metric, on: m.on && V(m.on), loc: L(m.loc) })),
    loc: L(s.loc), keywordLoc: L(s.keywordLoc), headerEnd: s.headerEnd + d,
  };
  if (s.method) out.method = V(s.method);
  if (s.on) out.on = V(s.on);
  if (s.format) out.format = V(s.format);
  if (s.path) out.path = V(s.path);
  return out;
}

export function lower(file: string, text: string, tree: FileNode): Doc {
  const doc: Doc = { file, text, lines: new LineIndex(text), tree, uses: [], models: [], data: [], presets: [], stages: [], diagnostics: [] };
  const dir = path.dirname(file);
  const out = doc.diagnostics;
  const loc = (start: number, end: number): Loc => ({ file, start, end });
  const tl = (t: Token): Loc => loc(t.start, t.end);
  const span = (ts: Token[]): Loc => loc(ts[0].start, ts[ts.length - 1].end);
  const absPath = (s: string): string => path.resolve(dir, s);

  /** Checks the values of one entry against its key spec; undefined when unusable. */
  function value(spec: KeySpec, e: EntryNode): Val | undefined {
    const vs = e.values;
    const entry = loc(e.start, e.end);
    const t = spec.type;
    const mk = (v: unknown, toks: Token[] = vs): Val => ({ value: v, loc: toks.length ? span(toks) : tl(e.key), entry });
    const missing = (what: string): undefined => { out.push(diag('QR107', e.key.start, e.key.end, `\`${spec.name}\` needs ${what}, e.g. \`${spec.name} ${spec.example}\`.`)); return undefined; };
    const extra = (n: number): void => {
      if (vs.length > n) out.push(diag('QR108', vs[n].start, vs[vs.length - 1].end, `\`${spec.name}\` takes ${n === 0 ? 'no value' : n === 1 ? 'one value' : `${n} values`}: remove ${vs.slice(n).map((v) => v.text).join(' ')}.`, [{ title: 'Remove the extra values', start: n ? vs[n - 1].end : e.key.end, end: vs[vs.length - 1].end, text: '' }]));
    };
    const num = (tok: Token, allowUnit: (u: string) => boolean, unitHelp: string): { value: number; unit: string } | undefined => {
      if (tok.kind !== 'number') { out.push(diag('QR104', tok.start, tok.end, `\`${spec.name}\` expects a number${unitHelp}, not ${tok.text}: e.g. \`${spec.name} ${spec.example}\`.`)); return undefined; }
      const n = splitNumber(tok.text);
      if (!allowUnit(n.unit)) { out.push(diag('QR106', tok.start, tok.end, n.unit ? `Unit '${n.unit}' is not allowed for \`${spec.name}\`${unitHelp ? `: use${unitHelp}` : ': write a plain number'}.` : `\`${spec.name}\` needs a unit${unitHelp}.`)); return undefined; }
      return n;
    };
    switch (t.kind) {
      case 'int': {
        if (!vs.length) return missing('a number');
        extra(1);
        const n = num(vs[0], (u) => u === '', '');
        if (!n) return undefined;
        if (!Number.isInteger(n.value)) { out.push(diag('QR104', vs[0].start, vs[0].end, `\`${spec.name}\` must be a whole number.`, [{ title: `Use ${Math.round(n.value)}`, start: vs[0].start, end: vs[0].end, text: String(Math.round(n.value)) }])); return undefined; }
        if (n.value < t.min || n.value > t.max) { out.push(diag('QR105', vs[0].start, vs[0].end, `\`${spec.name}\` must be between ${t.min} and ${t.max}, not ${n.value}.`)); return undefined; }
        return mk(n.value, vs.slice(0, 1));
      }
      case 'percent': {
        if (!vs.length) return missing('a percentage');
        extra(1);
        const n = num(vs[0], (u) => u === '' || u === '%', ' a percentage (50%) or a fraction (0.5)');
        if (!n) return undefined;
        if (n.unit === '' && n.value > 1) { out.push(diag('QR106', vs[0].start, vs[0].end, `A plain number is a fraction (0–1): write \`${n.value}%\` for a percentage.`, [{ title: `Use ${n.value}%`, start: vs[0].end, end: vs[0].end, text: '%' }])); return undefined; }
        const f = n.unit === '%' ? n.value / 100 : n.value;
        if (f < t.min || f > t.max) { out.push(diag('QR105', vs[0].start, vs[0].end, `\`${spec.name}\` must be between ${t.min * 100}% and ${+(t.max * 100).toFixed(3)}%.`)); return undefined; }
        return mk(f, vs.slice(0, 1));
      }
      case 'bool': {
        if (!vs.length) return missing('true or false');
        extra(1);
        if (vs[0].text !== 'true' && vs[0].text !== 'false') { out.push(diag('QR104', vs[0].start, vs[0].end, `\`${spec.name}\` is true or false, not ${vs[0].text}.`)); return undefined; }
        return mk(vs[0].text === 'true', vs.slice(0, 1));
      }
      case 'enum': {
        if (!vs.length) return missing(`one of ${t.values.join(', ')}`);
        extra(1);
        if (!t.values.includes(vs[0].text)) {
          const dm = vs[0].kind === 'ident' ? didYouMean(vs[0].text, t.values) : undefined;
          out.push(diag('QR104', vs[0].start, vs[0].end, `\`${spec.name}\` is one of ${t.values.join(', ')}${dm ? `: did you mean \`${dm}\`?` : '.'}`, dm ? [{ title: `Change to ${dm}`, start: vs[0].start, end: vs[0].end, text: dm }] : undefined));
          return undefined;
        }
        return mk(vs[0].text, vs.slice(0, 1));
      }
      case 'path': {
        if (!vs.length) return missing('a path in double quotes');
        extra(1);
        if (vs[0].kind !== 'string') { out.push(diag('QR104', vs[0].start, vs[0].end, `Paths are written in double quotes: \`${spec.name} "${vs[0].text}"\`.`, [{ title: 'Quote the path', start: vs[0].start, end: vs[0].end, text: JSON.stringify(vs[0].text) }])); return undefined; }
        const s = stringValue(vs[0]);
        if (!s) { out.push(diag('QR107', vs[0].start, vs[0].end, 'The path is empty.')); return undefined; }
        return mk(absPath(s), vs.slice(0, 1));
      }
      case 'tokenizer': {
        if (!vs.length) return missing('`byte` or a tokenizer.json path');
        extra(1);
        if (vs[0].kind === 'ident' && vs[0].text === 'byte') return mk('byte', vs.slice(0, 1));
        if (vs[0].kind === 'string' && stringValue(vs[0])) return mk({ path: absPath(stringValue(vs[0])) }, vs.slice(0, 1));
        out.push(diag('QR104', vs[0].start, vs[0].end, '`tokenizer` is `byte` or the path of a tokenizer.json in double quotes.'));
        return undefined;
      }
      case 'patterns': {
        if (!vs.length) return missing('one or more layer patterns in double quotes');
        const pats: Val<string>[] = [];
        for (const v of vs) {
          if (v.kind !== 'string') { out.push(diag('QR104', v.start, v.end, `Layer patterns are written in double quotes: "${v.text}".`, [{ title: 'Quote the pattern', start: v.start, end: v.end, text: JSON.stringify(v.text) }])); continue; }
          const s = stringValue(v);
          const c = compilePattern(s);
          if (!isCompiled(c)) { out.push(diag('QR115', v.start, v.end, `Invalid regular expression: ${c.error}.`)); continue; }
          if (!s) { out.push(diag('QR107', v.start, v.end, 'The pattern is empty.')); continue; }
          pats.push({ value: s, loc: tl(v), entry });
        }
        return mk(pats);
      }
      case 'pattern-block': {
        if (!vs.length || vs[0].kind !== 'string') return missing('a layer pattern and a block');
        extra(1);
        const s = stringValue(vs[0]);
        const c = compilePattern(s);
        if (!isCompiled(c)) { out.push(diag('QR115', vs[0].start, vs[0].end, `Invalid regular expression: ${c.error}.`)); return undefined; }
        if (!e.block) { out.push(diag('QR107', e.start, e.end, 'An override needs a block: `override "pattern" { bits 8 }`.')); return undefined; }
        return mk(s, vs.slice(0, 1));
      }
      case 'group': {
        if (!vs.length) return missing('a group size or `channel`');
        extra(1);
        if (vs[0].kind === 'ident' && vs[0].text === 'channel') return mk('channel', vs.slice(0, 1));
        const n = num(vs[0], (u) => u === '', ' (a column count) or `channel`');
        if (!n) return undefined;
        if (!Number.isInteger(n.value) || n.value < 1) { out.push(diag('QR105', vs[0].start, vs[0].end, '`group` is a positive whole number of input columns (or `channel`).')); return undefined; }
        return mk(n.value, vs.slice(0, 1));
      }
      case 'nm': {
        if (!vs.length) return missing('`unstructured` or N:M');
        extra(1);
        if (vs[0].kind === 'ident' && vs[0].text === 'unstructured') return mk('unstructured', vs.slice(0, 1));
        if (vs[0].kind === 'ratio') {
          const [n, m] = vs[0].text.split(':').map(Number);
          if (n >= 1 && m > n && m <= 64) return mk({ n, m }, vs.slice(0, 1));
          out.push(diag('QR105', vs[0].start, vs[0].end, 'In N:M, N zeros out of every M: need 1 ≤ N < M ≤ 64, e.g. 2:4.'));
          return undefined;
        }
        out.push(diag('QR104', vs[0].start, vs[0].end, `\`pattern\` is \`unstructured\` or N:M such as 2:4, not ${vs[0].text}.`));
        return undefined;
      }
      case 'bits-list': {
        if (!vs.length) return missing('bit widths');
        const bits: number[] = [];
        for (const v of vs) {
          const n = num(v, (u) => u === '', '');
          if (!n) continue;
          if (!Number.isInteger(n.value) || n.value < 2 || n.value > 8) { out.push(diag('QR105', v.start, v.end, 'Candidate bit widths are whole numbers from 2 to 8.')); continue; }
          if (bits.includes(n.value)) { out.push(diag('QR109', v.start, v.end, `${n.value} is listed twice.`)); continue; }
          bits.push(n.value);
        }
        return bits.length ? mk(bits.sort((a, b) => a - b)) : undefined;
      }
      case 'budget': {
        if (!vs.length) return missing('a size or an average bit width');
        extra(1);
        const n = num(vs[0], (u) => u in SIZE_UNITS || u === 'bits' || u === 'bit', ' (B, KiB, MiB, GiB) or bits, e.g. 2MiB or 3.5bits');
        if (!n) return undefined;
        if (!(n.value > 0)) { out.push(diag('QR105', vs[0].start, vs[0].end, 'The budget must be positive.')); return undefined; }
        if (n.unit === 'bits' || n.unit === 'bit') {
          if (n.value > 16) { out.push(diag('QR105', vs[0].start, vs[0].end, 'An average width above 16 bits is no compression.')); return undefined; }
          return mk({ kind: 'bits', bits: n.value }, vs.slice(0, 1));
        }
        return mk({ kind: 'bytes', bytes: n.value * SIZE_UNITS[n.unit] }, vs.slice(0, 1));
      }
      case 'preset-ref': {
        if (!vs.length) return missing(`a preset name (${Object.keys(BUILTIN_PRESETS).join(', ')} or your own)`);
        extra(1);
        if (vs[0].kind !== 'ident') { out.push(diag('QR104', vs[0].start, vs[0].end, 'A preset is named without quotes, e.g. `preset w4a16`.')); return undefined; }
        return mk(vs[0].text, vs.slice(0, 1));
      }
      case 'metric': {
        const needs = spec.name !== 'size' && spec.name !== 'latency';
        if (!vs.length) {
          if (needs) return missing('a data set: `on NAME`');
          return mk(undefined);
        }
        if (spec.name === 'size') { extra(0); return mk(undefined); }
        if (vs[0].text !== 'on' || vs.length < 2 || vs[1].kind !== 'ident') {
          const name = vs[0].kind === 'ident' && vs[0].text !== 'on' ? vs[0].text : undefined;
          out.push(diag('QR104', vs[0].start, vs[vs.length - 1].end, `Write \`${spec.name} on NAME\` with the name of a data set.`, name ? [{ title: `Write on ${name}`, start: vs[0].start, end: vs[0].start, text: 'on ' }] : undefined));
          return undefined;
        }
        extra(2);
        return { value: { value: vs[1].text, loc: tl(vs[1]), entry }, loc: span(vs.slice(0, 2)), entry };
      }
    }
  }

  /** Reports an unknown key with the most useful hint: other block, llm-compressor alias, near miss. */
  function unknownKey(kind: BlockKind, key: Token, where: string): void {
    const other = anyKeySpec(key.text);
    if (other) {
      const homes = [...new Set(other.blocks.map((b) => b.replace('override-', '')))];
      out.push(diag('QR103', key.start, key.end, `\`${key.text}\` is not allowed in ${where}: it belongs in ${homes.map((h) => h === 'data' ? 'a data set' : h === 'preset' ? 'a preset' : `${h === 'allocate' ? 'an' : 'a'} ${h} stage`).join(' or ')}${kind.startsWith('override') ? ' (overrides take only per-layer parameters)' : ''}. Move it there or remove it.`, [{ title: `Remove \`${key.text}\``, start: key.start, end: key.end, text: '' }]));
      return;
    }
    const alias = LLMC_ALIASES[key.text];
    const valid = keysOf(kind).map((k) => k.name);
    if (alias && valid.includes(alias)) {
      out.push(diag('QR102', key.start, key.end, `Unknown key \`${key.text}\` (llm-compressor spelling): write \`${alias}\`.`, [{ title: `Change to ${alias}`, start: key.start, end: key.end, text: alias }]));
      return;
    }
    const dm = didYouMean(key.text, valid);
    out.push(diag('QR102', key.start, key.end, dm ? `Unknown key \`${key.text}\` in ${where}: did you mean \`${dm}\`?` : `Unknown key \`${key.text}\` in ${where}. Valid keys: ${valid.join(', ')}.`, dm ? [{ title: `Change to ${dm}`, start: key.start, end: key.end, text: dm }] : undefined));
  }

  /** Checks every entry of a block; fills keys/targets/ignore/overrides/metrics. */
  function walkBlock(block: BlockNode | undefined, kind: BlockKind, where: string, method: string | undefined, sink: {
    keys: Map<string, Val>; targets?: Val<string>[]; ignore?: Val<string>[]; overrides?: DocOverride[]; metrics?: DocMetric[];
  }): void {
    if (!block) return;
    for (const e of block.entries) {
      if (e.kind !== 'Entry') continue;
      const spec = keySpec(kind, e.key.text);
      if (!spec) {
        unknownKey(kind, e.key, where);
        if (e.block) walkNoBlock(e.block);
        continue;
      }
      if (e.block && spec.type.kind !== 'pattern-block') {
        out.push(diag('QR104', e.block.start, e.block.end, `\`${spec.name}\` takes no block.`));
      }
      if (spec.methods && method && !spec.methods.includes(method)) {
        out.push(diag('QR114', e.key.start, e.key.end, `\`${spec.name}\` only applies to ${spec.methods.join(' and ')}; ${method} ignores it. Remove it or change the method.`, [{ title: `Remove \`${spec.name}\``, start: e.start, end: e.end, text: '' }]));
      }
      const v = value(spec, e);
      if (!v) continue;
      if (spec.type.kind === 'patterns') {
        const list = spec.name === 'targets' ? sink.targets : sink.ignore;
        list?.push(...(v.value as Val<string>[]));
        continue;
      }
      if (spec.type.kind === 'pattern-block') {
        const keys = new Map<string, Val>();
        const ok = kind === 'prune' ? 'override-prune' : kind === 'quantize' ? 'override-quantize' : 'override-allocate';
        walkBlock(e.block, ok, 'an override', method, { keys });
        sink.overrides?.push({ pattern: v as Val<string>, keys, loc: loc(e.start, e.end) });
        continue;
      }
      if (spec.type.kind === 'metric') {
        sink.metrics?.push({ metric: spec.name as MetricName, on: v.value as Val<string> | undefined, loc: loc(e.start, e.end) });
        continue;
      }
      const prev = sink.keys.get(spec.name);
      if (prev) out.push(diag('QR109', e.key.start, e.key.end, `\`${spec.name}\` is already set on line ${doc.lines.position(prev.entry.start).line + 1}; this one wins. Remove one of them.`));
      sink.keys.set(spec.name, v);
    }
  }
  /** Blocks that nothing owns: their content is ignored (the owner is already reported). */
  function walkNoBlock(_block: BlockNode): void { /* reported at the owner */ }

  const topNames = KEYWORDS.map((k) => k.name);
  for (const item of tree.items) {
    if (item.kind !== 'Item') continue;
    const kw = item.keyword.text;
    const spec = KEYWORD_BY_NAME.get(kw);
    if (!spec) {
      const dm = didYouMean(kw, topNames);
      const other = anyKeySpec(kw);
      out.push(diag('QR101', item.keyword.start, item.keyword.end,
        dm ? `Unknown keyword \`${kw}\`: did you mean \`${dm}\`?`
          : other ? `\`${kw}\` is a key, not a top-level keyword: put it inside a ${other.blocks[0].replace('override-', '')} block.`
            : `Unknown keyword \`${kw}\`. A recipe is made of: ${topNames.join(', ')}.`,
        dm ? [{ title: `Change to ${dm}`, start: item.keyword.start, end: item.keyword.end, text: dm }] : undefined));
      continue;
    }
    if (item.block && !spec.block) out.push(diag('QR104', item.block.start, item.block.end, `\`${kw}\` takes no block: write \`${spec.example}\`.`));
    lowerItem(item, kw);
  }

  function lowerItem(item: ItemNode, kw: string): void {
    const args = item.args;
    const itemLoc = loc(item.start, item.end);
    const kwLoc = tl(item.keyword);
    const headerEnd = args.length ? args[args.length - 1].end : item.keyword.end;
    const argVal = (t: Token, v: unknown): Val => ({ value: v, loc: tl(t), entry: itemLoc });
    const tooMany = (n: number, form: string): void => {
      if (args.length > n) out.push(diag('QR108', args[n].start, args[args.length - 1].end, `Too many values: write \`${form}\`.`));
    };
    if (kw === 'use' || kw === 'model') {
      const form = kw === 'use' ? 'use "base.qrecipe"' : 'model "model.onnx"';
      if (!args.length || args[0].kind !== 'string' || !stringValue(args[0])) {
        out.push(diag(args.length ? 'QR104' : 'QR107', args[0]?.start ?? item.keyword.start, args[0]?.end ?? item.keyword.end, `Write \`${form}\` with the path in double quotes.`));
        return;
      }
      tooMany(1, form);
      const v = argVal(args[0], absPath(stringValue(args[0]))) as Val<string>;
      (kw === 'use' ? doc.uses : doc.models).push(v);
      return;
    }
    if (kw === 'data' || kw === 'preset') {
      if (!args.length || args[0].kind !== 'ident') {
        out.push(diag(args.length ? 'QR104' : 'QR107', args[0]?.start ?? item.keyword.start, args[0]?.end ?? item.keyword.end, `A ${kw === 'data' ? 'data set' : kw} needs a name (letters, digits, _ -): \`${kw} NAME { ... }\`.`));
        return;
      }
      tooMany(1, `${kw} ${args[0].text} { ... }`);
      const named: DocNamed = { name: args[0].text, nameLoc: tl(args[0]), keys: new Map(), loc: itemLoc };
      if (!item.block) out.push(diag('QR107', item.start, item.end, kw === 'data' ? 'A data set needs a block: `data NAME { text "file.txt" }`.' : 'A preset needs a block: `preset NAME { bits 4 }`.'));
      walkBlock(item.block, kw, kw === 'data' ? 'a data set' : 'a preset', undefined, { keys: named.keys });
      if (kw === 'preset' && BUILTIN_PRESETS[named.name]) out.push(diag('QR111', named.nameLoc.start, named.nameLoc.end, `\`${named.name}\` is a built-in preset: choose another name.`));
      const list = kw === 'data' ? doc.data : doc.presets;
      const dup = list.find((d) => d.name === named.name);
      if (dup) out.push(diag('QR111', named.nameLoc.start, named.nameLoc.end, `A ${kw} named \`${named.name}\` already exists on line ${doc.lines.position(dup.loc.start).line + 1}: rename one of them.`));
      else list.push(named);
      return;
    }
    const kind = kw as StageKind;
    if (!STAGES.includes(kind)) return;
    // a stage the parser took over (same node) lowers to the same stage; one it moved, to that stage
    // moved; unless a message names a line and the stage's line changed
    const line = doc.lines.position(item.start).line;
    let hit = loweredStages.get(item);
    if (!hit) {
      const m = movedFrom(item);
      const old = m && loweredStages.get(m.from as ItemNode);
      if (m && old) {
        hit = { file: old.file, line, stage: moveStage(old.stage, m.delta), diagnostics: old.diagnostics.map((d) => moveDiagnostic(d, m.delta)) };
        if (old.line !== line && hit.diagnostics.some((d) => d.code === 'QR109')) hit = undefined;
        else loweredStages.set(item, hit);
      }
    }
    if (hit && hit.file === file && (hit.line === line || !hit.diagnostics.some((d) => d.code === 'QR109'))) {
      out.push(...hit.diagnostics);
      doc.stages.push(hit.stage);
      return;
    }
    const before = out.length;
    const stage = lowerStage();
    loweredStages.set(item, { file, line, stage, diagnostics: out.slice(before) });
    doc.stages.push(stage);

    function lowerStage(): DocStage {
      const stage: DocStage = { kind, keys: new Map(), targets: [], ignore: [], overrides: [], metrics: [], loc: itemLoc, keywordLoc: kwLoc, headerEnd };
      const methods = KEYWORD_BY_NAME.get(kw)?.methods ?? [];
      if (kind === 'export') {
        const f = args[0];
        if (!f || f.kind !== 'ident') out.push(diag('QR107', item.keyword.start, item.keyword.end, `\`export\` needs a format and a path: \`export onnx-matmulnbits "out/model.onnx"\`. Formats: ${methods.map((m) => m.name).join(', ')}.`));
        else if (!methods.some((m) => m.name === f.text)) {
          const dm = didYouMean(f.text, methods.map((m) => m.name));
          out.push(diag('QR110', f.start, f.end, `Unknown export format \`${f.text}\`${dm ? `: did you mean \`${dm}\`?` : `. Formats: ${methods.map((m) => m.name).join(', ')}.`}`, dm ? [{ title: `Change to ${dm}`, start: f.start, end: f.end, text: dm }] : undefined));
        } else stage.format = argVal(f, f.text) as Val<string>;
        const p = args[1];
        if (f && f.kind === 'ident' && (!p || p.kind !== 'string' || !stringValue(p))) out.push(diag('QR107', f.start, f.end, 'Give the output path in double quotes after the format.'));
        else if (p && p.kind === 'string' && stringValue(p)) stage.path = argVal(p, absPath(stringValue(p))) as Val<string>;
        tooMany(2, 'export FORMAT "path"');
        return stage;
      }
      // header: [method] [on NAME]
      let i = 0;
      if (kind !== 'evaluate' && args[i] && args[i].kind === 'ident' && args[i].text !== 'on') {
        const m = args[i];
        if (!methods.some((x) => x.name === m.text)) {
          const dm = didYouMean(m.text, methods.map((x) => x.name));
          out.push(diag('QR110', m.start, m.end, `Unknown ${kw} method \`${m.text}\`${dm ? `: did you mean \`${dm}\`?` : `. Methods: ${methods.map((x) => x.name).join(', ')}.`}`, dm ? [{ title: `Change to ${dm}`, start: m.start, end: m.end, text: dm }] : undefined));
        } else stage.method = argVal(m, m.text) as Val<string>;
        i++;
      } else if (kind === 'prune' || kind === 'quantize') {
        out.push(diag('QR107', item.keyword.start, item.keyword.end, `\`${kw}\` needs a method: ${methods.map((x) => x.name).join(', ')} (e.g. \`${KEYWORD_BY_NAME.get(kw)?.example}\`).`));
      }
      if (args[i] && args[i].text === 'on' && kind !== 'evaluate') {
        if (args[i + 1] && args[i + 1].kind === 'ident') { stage.on = argVal(args[i + 1], args[i + 1].text) as Val<string>; i += 2; }
        else { out.push(diag('QR107', args[i].start, args[i].end, 'Write `on NAME` with the name of a data set.')); i++; }
      }
      if (args.length > i) out.push(diag('QR108', args[i].start, args[args.length - 1].end, kind === 'evaluate' ? 'Metrics go inside the block: `evaluate { perplexity on heldout }`.' : `Unexpected ${args.slice(i).map((a) => a.text).join(' ')}: the header is \`${kw} METHOD on DATASET { ... }\`.`));
      if (kind === 'evaluate' && !item.block?.entries.some((e) => e.kind === 'Entry')) out.push(diag('QR107', item.keyword.start, item.keyword.end, '`evaluate` lists no metric: write e.g. `evaluate { perplexity on heldout  size }`.'));
      walkBlock(item.block, kind, `a ${kind} stage`, stage.method?.value as string | undefined, stage);
      return stage;
    }
  }
  return doc;
}
