/**
 * The value checkers of the recipe language: one per value type of the schema (`ValueType`), each
 * turning the tokens of one entry into a typed value or diagnostics (QR104–QR109, QR115). Lowering
 * (lower.ts) runs them on every entry; `defaultValue` runs them on the schema's defaults, so a
 * default is written, checked and typed exactly like a value in a recipe.
 */
import path from 'node:path';

import { diag, didYouMean, type Diagnostic } from './diagnostics';
import { isTrivia, lex, splitNumber, stringValue, type Token } from './lexer';
import { compilePattern, isCompiled, patternMessage } from './patterns';
import { BUILTIN_PRESETS, SIZE_UNITS, type KeySpec, type ValueType } from './schema';
import type { EntryNode } from './syntax';

/** A span of one file (offsets). */
export interface Loc { file: string; start: number; end: number }
/** A checked value: its typed content, the span of its tokens and of the whole entry. */
export interface Val<T = unknown> { value: T; loc: Loc; entry: Loc }

/** One entry being checked: its tokens, where diagnostics go, and the helpers every checker uses. */
export class EntryCheck {
  readonly vs: Token[];
  readonly entry: Loc;
  constructor(
    readonly spec: KeySpec,
    readonly e: EntryNode,
    private readonly file: string,
    private readonly dir: string,
    private readonly out: Diagnostic[],
  ) {
    this.vs = e.values;
    this.entry = this.loc(e.start, e.end);
  }

  loc(start: number, end: number): Loc { return { file: this.file, start, end }; }
  tl(t: Token): Loc { return this.loc(t.start, t.end); }
  span(ts: Token[]): Loc { return this.loc(ts[0].start, ts[ts.length - 1].end); }
  absPath(s: string): string { return path.resolve(this.dir, s); }
  report(d: Diagnostic): undefined { this.out.push(d); return undefined; }

  /** The value `v` spanning `toks` (the key when there are none). */
  mk(v: unknown, toks: Token[] = this.vs): Val {
    return { value: v, loc: toks.length ? this.span(toks) : this.tl(this.e.key), entry: this.entry };
  }
  /** The first value alone. */
  first(v: unknown): Val { return this.mk(v, this.vs.slice(0, 1)); }

  missing(what: string): undefined {
    const { spec, e } = this;
    return this.report(diag('QR107', e.key.start, e.key.end,
      `\`${spec.name}\` needs ${what}, e.g. \`${spec.name} ${spec.example}\`.`));
  }

  /** Reports values beyond the first `n`. */
  extra(n: number): void {
    const { vs, spec, e } = this;
    if (vs.length <= n) return;
    const count = n === 0 ? 'no value' : n === 1 ? 'one value' : `${n} values`;
    this.report(diag('QR108', vs[n].start, vs[vs.length - 1].end,
      `\`${spec.name}\` takes ${count}: remove ${vs.slice(n).map((v) => v.text).join(' ')}.`,
      [{ title: 'Remove the extra values', start: n ? vs[n - 1].end : e.key.end, end: vs[vs.length - 1].end, text: '' }]));
  }

  /** A number token with a unit `allowUnit` accepts (`unitHelp` says which, for the messages). */
  num(tok: Token, allowUnit: (u: string) => boolean, unitHelp: string): { value: number; unit: string } | undefined {
    const { spec } = this;
    if (tok.kind !== 'number') {
      return this.report(diag('QR104', tok.start, tok.end,
        `\`${spec.name}\` expects a number${unitHelp}, not ${tok.text}: e.g. \`${spec.name} ${spec.example}\`.`));
    }
    const n = splitNumber(tok.text);
    if (!allowUnit(n.unit)) {
      return this.report(diag('QR106', tok.start, tok.end, n.unit
        ? `Unit '${n.unit}' is not allowed for \`${spec.name}\`${unitHelp ? `: use${unitHelp}` : ': write a plain number'}.`
        : `\`${spec.name}\` needs a unit${unitHelp}.`));
    }
    return n;
  }

  /** The one value of a single-valued key (extra values reported), or the "needs …" report. */
  single(what: string): Token | undefined {
    if (!this.vs.length) return this.missing(what);
    this.extra(1);
    return this.vs[0];
  }
}

type Checker<K extends ValueType['kind']> = (c: EntryCheck, t: Extract<ValueType, { kind: K }>) => Val | undefined;

const int: Checker<'int'> = (c, t) => {
  const v = c.single('a number');
  if (!v) return undefined;
  const n = c.num(v, (u) => u === '', '');
  if (!n) return undefined;
  if (!Number.isInteger(n.value)) {
    const whole = String(Math.round(n.value));
    return c.report(diag('QR104', v.start, v.end, `\`${c.spec.name}\` must be a whole number.`,
      [{ title: `Use ${whole}`, start: v.start, end: v.end, text: whole }]));
  }
  if (n.value < t.min || n.value > t.max) {
    return c.report(diag('QR105', v.start, v.end, `\`${c.spec.name}\` must be between ${t.min} and ${t.max}, not ${n.value}.`));
  }
  return c.first(n.value);
};

const percent: Checker<'percent'> = (c, t) => {
  const v = c.single('a percentage');
  if (!v) return undefined;
  const n = c.num(v, (u) => u === '' || u === '%', ' a percentage (50%) or a fraction (0.5)');
  if (!n) return undefined;
  if (n.unit === '' && n.value > 1) {
    return c.report(diag('QR106', v.start, v.end, `A plain number is a fraction (0–1): write \`${n.value}%\` for a percentage.`,
      [{ title: `Use ${n.value}%`, start: v.end, end: v.end, text: '%' }]));
  }
  const f = n.unit === '%' ? n.value / 100 : n.value;
  if (f < t.min || f > t.max) {
    return c.report(diag('QR105', v.start, v.end,
      `\`${c.spec.name}\` must be between ${t.min * 100}% and ${+(t.max * 100).toFixed(3)}%.`));
  }
  return c.first(f);
};

const bool: Checker<'bool'> = (c) => {
  const v = c.single('true or false');
  if (!v) return undefined;
  if (v.text !== 'true' && v.text !== 'false') {
    return c.report(diag('QR104', v.start, v.end, `\`${c.spec.name}\` is true or false, not ${v.text}.`));
  }
  return c.first(v.text === 'true');
};

const enumeration: Checker<'enum'> = (c, t) => {
  const v = c.single(`one of ${t.values.join(', ')}`);
  if (!v) return undefined;
  if (!t.values.includes(v.text)) {
    const dm = v.kind === 'ident' ? didYouMean(v.text, t.values) : undefined;
    return c.report(diag('QR104', v.start, v.end,
      `\`${c.spec.name}\` is one of ${t.values.join(', ')}${dm ? `: did you mean \`${dm}\`?` : '.'}`,
      dm ? [{ title: `Change to ${dm}`, start: v.start, end: v.end, text: dm }] : undefined));
  }
  return c.first(v.text);
};

const pathValue: Checker<'path'> = (c) => {
  const v = c.single('a path in double quotes');
  if (!v) return undefined;
  if (v.kind !== 'string') {
    return c.report(diag('QR104', v.start, v.end, `Paths are written in double quotes: \`${c.spec.name} "${v.text}"\`.`,
      [{ title: 'Quote the path', start: v.start, end: v.end, text: JSON.stringify(v.text) }]));
  }
  const s = stringValue(v);
  if (!s) return c.report(diag('QR107', v.start, v.end, 'The path is empty.'));
  return c.first(c.absPath(s));
};

const tokenizer: Checker<'tokenizer'> = (c) => {
  const v = c.single('`byte` or a tokenizer.json path');
  if (!v) return undefined;
  if (v.kind === 'ident' && v.text === 'byte') return c.first('byte');
  if (v.kind === 'string' && stringValue(v)) return c.first({ path: c.absPath(stringValue(v)) });
  return c.report(diag('QR104', v.start, v.end, '`tokenizer` is `byte` or the path of a tokenizer.json in double quotes.'));
};

const patterns: Checker<'patterns'> = (c) => {
  if (!c.vs.length) return c.missing('one or more layer patterns in double quotes');
  const pats: Val<string>[] = [];
  for (const v of c.vs) {
    if (v.kind !== 'string') {
      c.report(diag('QR104', v.start, v.end, `Layer patterns are written in double quotes: "${v.text}".`,
        [{ title: 'Quote the pattern', start: v.start, end: v.end, text: JSON.stringify(v.text) }]));
      continue;
    }
    const s = stringValue(v);
    const compiled = compilePattern(s);
    if (!isCompiled(compiled)) { c.report(diag('QR115', v.start, v.end, patternMessage(compiled))); continue; }
    if (!s) { c.report(diag('QR107', v.start, v.end, 'The pattern is empty.')); continue; }
    pats.push({ value: s, loc: c.tl(v), entry: c.entry });
  }
  return c.mk(pats);
};

const patternBlock: Checker<'pattern-block'> = (c) => {
  const { vs, e } = c;
  if (!vs.length || vs[0].kind !== 'string') return c.missing('a layer pattern and a block');
  c.extra(1);
  const s = stringValue(vs[0]);
  const compiled = compilePattern(s);
  if (!isCompiled(compiled)) return c.report(diag('QR115', vs[0].start, vs[0].end, patternMessage(compiled)));
  if (!e.block) return c.report(diag('QR107', e.start, e.end, 'An override needs a block: `override "pattern" { bits 8 }`.'));
  return c.first(s);
};

const group: Checker<'group'> = (c) => {
  const v = c.single('a group size or `channel`');
  if (!v) return undefined;
  if (v.kind === 'ident' && v.text === 'channel') return c.first('channel');
  const n = c.num(v, (u) => u === '', ' (a column count) or `channel`');
  if (!n) return undefined;
  if (!Number.isInteger(n.value) || n.value < 1) {
    return c.report(diag('QR105', v.start, v.end, '`group` is a positive whole number of input columns (or `channel`).'));
  }
  return c.first(n.value);
};

const nm: Checker<'nm'> = (c, t) => {
  const v = c.single('`unstructured` or N:M');
  if (!v) return undefined;
  if (v.kind === 'ident' && v.text === 'unstructured') return c.first('unstructured');
  if (v.kind === 'ratio') {
    const [n, m] = v.text.split(':').map(Number);
    if (n >= 1 && m > n && m <= t.maxM) return c.first({ n, m });
    return c.report(diag('QR105', v.start, v.end, `In N:M, N zeros out of every M: need 1 ≤ N < M ≤ ${t.maxM}, e.g. 2:4.`));
  }
  return c.report(diag('QR104', v.start, v.end, `\`pattern\` is \`unstructured\` or N:M such as 2:4, not ${v.text}.`));
};

const bitsList: Checker<'bits-list'> = (c, t) => {
  if (!c.vs.length) return c.missing('bit widths');
  const bits: number[] = [];
  for (const v of c.vs) {
    const n = c.num(v, (u) => u === '', '');
    if (!n) continue;
    if (!Number.isInteger(n.value) || n.value < t.min || n.value > t.max) {
      c.report(diag('QR105', v.start, v.end, `Candidate bit widths are whole numbers from ${t.min} to ${t.max}.`));
      continue;
    }
    if (bits.includes(n.value)) { c.report(diag('QR109', v.start, v.end, `${n.value} is listed twice.`)); continue; }
    bits.push(n.value);
  }
  return bits.length ? c.mk(bits.sort((a, b) => a - b)) : undefined;
};

const budget: Checker<'budget'> = (c) => {
  const v = c.single('a size or an average bit width');
  if (!v) return undefined;
  const n = c.num(v, (u) => u in SIZE_UNITS || u === 'bits' || u === 'bit', ' (B, KiB, MiB, GiB) or bits, e.g. 2MiB or 3.5bits');
  if (!n) return undefined;
  if (!(n.value > 0)) return c.report(diag('QR105', v.start, v.end, 'The budget must be positive.'));
  if (n.unit === 'bits' || n.unit === 'bit') {
    if (n.value > 16) return c.report(diag('QR105', v.start, v.end, 'An average width above 16 bits is no compression.'));
    return c.first({ kind: 'bits', bits: n.value });
  }
  return c.first({ kind: 'bytes', bytes: n.value * SIZE_UNITS[n.unit] });
};

const presetRef: Checker<'preset-ref'> = (c) => {
  const v = c.single(`a preset name (${Object.keys(BUILTIN_PRESETS).join(', ')} or your own)`);
  if (!v) return undefined;
  if (v.kind !== 'ident') return c.report(diag('QR104', v.start, v.end, 'A preset is named without quotes, e.g. `preset w4a16`.'));
  return c.first(v.text);
};

const metric: Checker<'metric'> = (c) => {
  const { vs, spec } = c;
  if (!vs.length) return spec.name !== 'size' && spec.name !== 'latency' ? c.missing('a data set: `on NAME`') : c.mk(undefined);
  if (spec.name === 'size') { c.extra(0); return c.mk(undefined); }
  if (vs[0].text !== 'on' || vs.length < 2 || vs[1].kind !== 'ident') {
    const name = vs[0].kind === 'ident' && vs[0].text !== 'on' ? vs[0].text : undefined;
    return c.report(diag('QR104', vs[0].start, vs[vs.length - 1].end, `Write \`${spec.name} on NAME\` with the name of a data set.`,
      name ? [{ title: `Write on ${name}`, start: vs[0].start, end: vs[0].start, text: 'on ' }] : undefined));
  }
  c.extra(2);
  return { value: { value: vs[1].text, loc: c.tl(vs[1]), entry: c.entry }, loc: c.span(vs.slice(0, 2)), entry: c.entry };
};

/** The checker of each value type. */
const CHECKERS: { [K in ValueType['kind']]: Checker<K> } = {
  int, percent, bool, enum: enumeration, path: pathValue, tokenizer, patterns, 'pattern-block': patternBlock, group, nm,
  'bits-list': bitsList, budget, 'preset-ref': presetRef, metric,
};

/**
 * Checks the values of entry `e` against its key spec (`file`: where it is written, paths resolve
 * against `dir`); diagnostics go to `out`. Undefined when the value is unusable.
 */
export function checkValue(spec: KeySpec, e: EntryNode, file: string, dir: string, out: Diagnostic[]): Val | undefined {
  const checker = CHECKERS[spec.type.kind] as Checker<ValueType['kind']>;
  return checker(new EntryCheck(spec, e, file, dir, out), spec.type);
}

const defaults = new Map<KeySpec, unknown>();

/**
 * The typed default of a key: its schema `default`, checked as if written in a recipe (`key default`).
 * Throws when the schema's default is not a valid value of the key (a bug of the schema, tested).
 */
export function defaultValue(spec: KeySpec): unknown {
  if (defaults.has(spec)) return defaults.get(spec);
  if (spec.default === undefined) throw new Error(`\`${spec.name}\` has no default`);
  const text = `${spec.name} ${spec.default}`;
  const [key, ...values] = lex(text).filter((t) => !isTrivia(t));
  const out: Diagnostic[] = [];
  const entry: EntryNode = { kind: 'Entry', key, values, start: 0, end: text.length, children: [key, ...values] };
  const v = checkValue(spec, entry, '', '', out);
  if (!v || out.length) {
    throw new Error(`the default of \`${spec.name}\` (${spec.default}) is not a valid value: ${out[0]?.message ?? ''}`);
  }
  defaults.set(spec, v.value);
  return v.value;
}
