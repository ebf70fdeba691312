/**
 * Layer patterns, as in llm-compressor: `re:REGEX` (matched from the start of the layer name, like
 * Python's re.match), globs with `*` and `?` (whole name), op names (`Linear` = MatMul + Gemm,
 * `MatMul`, `Gemm`, `Conv`/`Conv2d`, `Gather`/`Embedding`) and exact layer names. A layer's
 * aliases (`LayerInfo.aliases`, see model/naming.ts) match as its name does. Every form matches in
 * time linear in the name's length: regular expressions through the NFA/DFA engine of regex.ts
 * (never JavaScript's backtracking RegExp), globs by leftmost segment search (below).
 */
import type { LayerInfo, LayerOp } from '../model/types';
import { LinearRegex } from './regex';

export type PatternKind = 'regex' | 'glob' | 'op' | 'name';

export interface CompiledPattern {
  text: string;
  kind: PatternKind;
  test(layer: LayerInfo): boolean;
  /** Set for `prefix*` globs: every name starting with it matches (lets LayerIndex search). */
  prefix?: string;
  /** Set for exact names. */
  exact?: string;
}

const OP_NAMES: Record<string, LayerOp[]> = {
  Linear: ['MatMul', 'Gemm'], MatMul: ['MatMul'], Gemm: ['Gemm'], Conv: ['Conv'], Conv2d: ['Conv'],
  Gather: ['Gather'], Embedding: ['Gather'],
};

/** The op names a pattern may use, for completion and docs. */
export const PATTERN_OP_NAMES = Object.keys(OP_NAMES);

/** Why a pattern cannot be used; `refused`: a valid regular expression refused to keep matching linear. */
export interface PatternError { error: string; refused?: boolean }

const cache = new Map<string, CompiledPattern | PatternError>();

/** Compiles a pattern (memoised); returns an error message for an invalid regular expression. */
export function compilePattern(text: string): CompiledPattern | PatternError {
  let c = cache.get(text);
  if (!c) {
    if (cache.size > 5000) cache.clear();
    c = compile(text);
    cache.set(text, c);
  }
  return c;
}

function compile(text: string): CompiledPattern | PatternError {
  if (text.startsWith('re:')) {
    const re = LinearRegex.compile(text.slice(3));
    if (!(re instanceof LinearRegex)) return re;
    return { text, kind: 'regex', test: (l) => anyName(l, (n) => re.matchesPrefix(n)) };
  }
  const ops = OP_NAMES[text];
  if (ops) return { text, kind: 'op', test: (l) => l.name === text || ops.includes(l.op) };
  if (/^[^*?]*\*$/.test(text)) {
    // `prefix*`, the common glob: a prefix test is much cheaper than a regex
    const prefix = text.slice(0, -1);
    return { text, kind: 'glob', prefix, test: (l) => anyName(l, (n) => n.startsWith(prefix)) };
  }
  if (/[*?]/.test(text)) {
    const m = globMatcher(text);
    return { text, kind: 'glob', test: (l) => anyName(l, m) };
  }
  return { text, kind: 'name', exact: text, test: (l) => anyName(l, (n) => n === text) };
}

function anyName(l: LayerInfo, f: (name: string) => boolean): boolean {
  return f(l.name) || (l.aliases?.some(f) ?? false);
}

/**
 * A whole-name glob (`*` any run of characters, `?` one character) as a function of the name. The
 * pattern is cut at its stars; the first piece must start the name, the last must end it, and each
 * piece between is found leftmost after the previous one (leftmost is always safe for globs, so
 * nothing is ever retried): O(name length · piece length), never exponential. `anyChar: false`
 * makes `?` a literal.
 */
export function globMatcher(glob: string, opts: { anyChar?: boolean } = {}): (name: string) => boolean {
  const pieces = glob.split('*');
  const q = opts.anyChar === false ? '' : '?';
  const at = (piece: string, name: string, i: number): boolean => {
    for (let k = 0; k < piece.length; k++) if (piece[k] !== q && piece[k] !== name[i + k]) return false;
    return true;
  };
  if (pieces.length === 1) return (name) => name.length === glob.length && at(glob, name, 0);
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const middle = pieces.slice(1, -1).filter((p) => p.length > 0); // `**` is `*`
  return (name) => {
    if (name.length < first.length + last.length) return false;
    const end = name.length - last.length;
    if (!at(first, name, 0) || !at(last, name, end)) return false;
    let pos = first.length;
    for (const p of middle) {
      let i = pos;
      while (i + p.length <= end && !at(p, name, i)) i++;
      if (i + p.length > end) return false;
      pos = i + p.length;
    }
    return true;
  };
}

/** The QR115 message of a pattern that cannot be used. */
export function patternMessage(e: PatternError): string {
  return e.refused ? `Regular expression refused: ${e.error}. Layer patterns run in linear time (docs/recipe-language.md, Layer selection); rewrite it without this construct.`
    : `Invalid regular expression: ${e.error}.`;
}

export function isCompiled(p: CompiledPattern | PatternError): p is CompiledPattern {
  return (p as CompiledPattern).test !== undefined;
}

/** Layers targeted when a stage has no `targets`: every MatMul, Gemm and Conv. */
export function isDefaultTarget(l: LayerInfo): boolean {
  return l.op === 'MatMul' || l.op === 'Gemm' || l.op === 'Conv';
}

/**
 * Layers of one inventory indexed for pattern matching: exact names by map, `prefix*` globs by
 * binary search over the sorted names, anything else by a scan. Results are in inventory order.
 */
export class LayerIndex {
  private readonly byName = new Map<string, LayerInfo>();
  private readonly sorted: LayerInfo[];
  private readonly order = new Map<LayerInfo, number>();
  /** Results by pattern text: the same text always matches the same layers of one inventory. */
  private readonly hits = new Map<string, LayerInfo[]>();
  private readonly aliased: boolean;
  constructor(readonly layers: LayerInfo[]) {
    layers.forEach((l, i) => { this.byName.set(l.name, l); this.order.set(l, i); });
    for (const l of layers) for (const a of l.aliases ?? []) if (!this.byName.has(a)) this.byName.set(a, l);
    this.aliased = layers.some((l) => l.aliases?.length);
    this.sorted = [...layers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The layers `c` matches, in inventory order (a shared array: do not mutate it). */
  match(c: CompiledPattern): LayerInfo[] {
    let h = this.hits.get(c.text);
    if (!h) {
      if (this.hits.size > 1000) this.hits.clear(); // bounded while patterns are typed
      h = this.find(c);
      this.hits.set(c.text, h);
    }
    return h;
  }

  private find(c: CompiledPattern): LayerInfo[] {
    if (c.exact !== undefined) { const l = this.byName.get(c.exact); return l ? [l] : []; }
    if (c.prefix !== undefined && !this.aliased) {
      const p = c.prefix;
      let lo = 0, hi = this.sorted.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (this.sorted[mid].name < p) lo = mid + 1; else hi = mid; }
      const out: LayerInfo[] = [];
      for (let i = lo; i < this.sorted.length && this.sorted[i].name.startsWith(p); i++) out.push(this.sorted[i]);
      return out.sort((a, b) => this.order.get(a)! - this.order.get(b)!);
    }
    return this.layers.filter((l) => c.test(l));
  }
}

const indexes = new WeakMap<LayerInfo[], LayerIndex>();
/** The (cached) index of an inventory's layer list. */
export function layerIndex(layers: LayerInfo[]): LayerIndex {
  let ix = indexes.get(layers);
  if (!ix) { ix = new LayerIndex(layers); indexes.set(layers, ix); }
  return ix;
}
