/**
 * Layer patterns, as in llm-compressor: `re:REGEX` (matched from the start of the layer name, like
 * Python's re.match), globs with `*` and `?` (whole name), op names (`Linear` = MatMul + Gemm,
 * `MatMul`, `Gemm`, `Conv`/`Conv2d`, `Gather`/`Embedding`) and exact layer names. A layer's
 * aliases (`LayerInfo.aliases`, see model/naming.ts) match as its name does.
 */
import type { LayerInfo, LayerOp } from '../model/types';

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

const cache = new Map<string, CompiledPattern | { error: string }>();

/** Compiles a pattern (memoised); returns an error message for an invalid regular expression. */
export function compilePattern(text: string): CompiledPattern | { error: string } {
  let c = cache.get(text);
  if (!c) {
    if (cache.size > 5000) cache.clear();
    c = compile(text);
    cache.set(text, c);
  }
  return c;
}

function compile(text: string): CompiledPattern | { error: string } {
  if (text.startsWith('re:')) {
    const body = text.slice(3);
    try {
      const re = new RegExp(`^(?:${body})`);
      return { text, kind: 'regex', test: (l) => anyName(l, (n) => re.test(n)) };
    } catch (e) {
      return { error: e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e) };
    }
  }
  const ops = OP_NAMES[text];
  if (ops) return { text, kind: 'op', test: (l) => l.name === text || ops.includes(l.op) };
  if (/^[^*?]*\*$/.test(text)) {
    // `prefix*`, the common glob: a prefix test is much cheaper than a regex
    const prefix = text.slice(0, -1);
    return { text, kind: 'glob', prefix, test: (l) => anyName(l, (n) => n.startsWith(prefix)) };
  }
  if (/[*?]/.test(text)) {
    const re = new RegExp(`^${text.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return { text, kind: 'glob', test: (l) => anyName(l, (n) => re.test(n)) };
  }
  return { text, kind: 'name', exact: text, test: (l) => anyName(l, (n) => n === text) };
}

function anyName(l: LayerInfo, f: (name: string) => boolean): boolean {
  return f(l.name) || (l.aliases?.some(f) ?? false);
}

export function isCompiled(p: CompiledPattern | { error: string }): p is CompiledPattern {
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
