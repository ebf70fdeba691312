/**
 * What a new parse can take over from the parse of the previous version of a document: the
 * top-level elements before an edit (as they are) and those after it (moved by the change in
 * length), so that an edit re-lexes and re-parses only the items it touches. Used by `parse(text,
 * previous)`; the result is the same as a parse from scratch.
 *
 * Why this is exact:
 * - The lexer restarts cleanly at any token boundary, and every line start is one (no token but a
 *   newline contains '\n').
 * - At top level the parser carries no state, and a top-level element's parse reads only its own
 *   tokens and the first token after it (an item without a block looks for a `{`; an unclosed block
 *   stops at the next top-level keyword). So an element whose tokens and following token are
 *   unchanged parses the same.
 * - Parse messages mention only one line number (QR003 "... on line N"); elements with such a
 *   message are not taken over when the edit changed the number of lines.
 */
import { lex, type Token } from './lexer';
import { isNode, type Element, type FileNode, type SyntaxNode } from './syntax';
import type { Diagnostic } from './diagnostics';

/** The previous parse, as `parse` returned it. */
export interface PreviousParse { text: string; tree: FileNode; errors: Diagnostic[]; tokens: Token[] }

export interface ReusePlan {
  /** Tokens of the new text: unchanged head, re-lexed middle, moved tail. */
  tokens: Token[];
  /** Index in `tokens` where parsing resumes. */
  startPos: number;
  /** Old top-level elements kept before the edit, and their parse errors. */
  headChildren: Element[];
  headErrors: Diagnostic[];
  /**
   * At token index `pos` at top level: when it starts an old top-level element after the edit,
   * that element and every one after it (moved), with their errors; otherwise undefined.
   */
  tailAt(pos: number): { children: Element[]; errors: Diagnostic[] } | undefined;
}

/** How `text` can reuse `prev`; undefined when nothing can be reused. */
export function planReuse(prev: PreviousParse, text: string): ReusePlan | undefined {
  const old = prev.text;
  const kids = prev.tree.children;
  const limit = Math.min(old.length, text.length);
  let p = 0;
  while (p < limit && old.charCodeAt(p) === text.charCodeAt(p)) p++;
  let s = 0;
  while (s < limit - p && old.charCodeAt(old.length - 1 - s) === text.charCodeAt(text.length - 1 - s)) s++;
  const delta = text.length - old.length;

  // head: elements before the last one whose first token ends before the edit (that one is parsed
  // again, so that each kept element's look-ahead token is unchanged)
  let h = 0;
  for (let i = 0; i < kids.length; i++) {
    const c = kids[i];
    if (!isNode(c)) continue;
    if (firstToken(c).end < p) h = i; else break;
  }
  const headEnd = h ? startOf(kids[h]) : 0;
  const headTok = tokenIndexAt(prev.tokens, headEnd);

  // tail: from the first line start after the edit whose preceding '\n' is unchanged
  const nl = old.indexOf('\n', old.length - s);
  const oldB = nl < 0 ? old.length : nl + 1;
  const oldBTok = oldB < old.length ? tokenIndexAt(prev.tokens, oldB) : prev.tokens.length;
  if (headTok < 0 || oldBTok < 0) return undefined;
  if (h === 0 && oldBTok >= prev.tokens.length) return undefined;

  const mid = lex(text, headEnd, oldB + delta);
  const tail = delta ? prev.tokens.slice(oldBTok).map((t) => moveToken(t, delta)) : prev.tokens.slice(oldBTok);
  const tokens = prev.tokens.slice(0, headTok).concat(mid, tail);
  const tailPos = headTok + mid.length;

  // old top-level elements starting in the tail, by old start offset
  const tailKids = new Map<number, number>();
  for (let i = kids.length - 1; i >= 0 && startOf(kids[i]) >= oldB; i--) tailKids.set(startOf(kids[i]), i);
  const lineDelta = countNewlines(text, p, text.length - s) - countNewlines(old, p, old.length - s);
  // with a changed line count, elements up to the last "on line N" message are parsed again
  let lastLineMessage = -1;
  if (lineDelta) for (const e of prev.errors) if (e.code === 'QR003' && e.message.includes(' on line ')) lastLineMessage = Math.max(lastLineMessage, e.start);

  return {
    tokens, startPos: headTok, headChildren: kids.slice(0, h), headErrors: prev.errors.filter((e) => e.start < headEnd),
    tailAt(pos) {
      if (pos < tailPos) return undefined;
      const oldTok = prev.tokens[pos - tailPos + oldBTok];
      const i = tailKids.get(oldTok.start);
      if (i === undefined || oldTok.start <= lastLineMessage) return undefined;
      const from = oldTok.start;
      const errors = prev.errors.filter((e) => e.start >= from);
      if (!delta) return { children: kids.slice(i), errors };
      let k = pos;
      const next = (): Token => tokens[k++];
      return {
        children: kids.slice(i).map((c) => {
          if (!isNode(c)) return next();
          const m = moveNode(c, next);
          moves.set(m, { from: c, delta });
          moves.delete(c); // one generation only: versions of a node must not chain up while typing
          return m;
        }),
        errors: errors.map((e) => moveDiagnostic(e, delta)),
      };
    },
  };
}

/** Top-level nodes that are moved copies of a previous parse's nodes (lowering reuses their results). */
const moves = new WeakMap<SyntaxNode, { from: SyntaxNode; delta: number }>();

/** The node of the previous parse that `n` is a copy of, moved by `delta`; undefined when `n` was parsed. */
export function movedFrom(n: SyntaxNode): { from: SyntaxNode; delta: number } | undefined {
  return moves.get(n);
}

function firstToken(n: SyntaxNode): Token {
  let c: Element = n;
  while (isNode(c)) c = c.children[0];
  return c;
}
const startOf = (e: Element): number => e.start;

/** Index of the token that starts at `offset`, or -1. */
function tokenIndexAt(tokens: Token[], offset: number): number {
  let lo = 0, hi = tokens.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (tokens[mid].start < offset) lo = mid + 1; else hi = mid; }
  if (lo < tokens.length) return tokens[lo].start === offset ? lo : -1;
  return offset === (tokens.length ? tokens[tokens.length - 1].end : 0) ? lo : -1;
}

function countNewlines(t: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (t.charCodeAt(i) === 10) n++;
  return n;
}

function moveToken(t: Token, d: number): Token {
  const moved = { kind: t.kind, start: t.start + d, end: t.end + d, text: t.text };
  return t.unterminated ? { ...moved, unterminated: true } : moved;
}

/** A copy of `x` whose tokens are taken, in document order, from `next` (the moved tokens). */
function moveNode<N extends SyntaxNode>(x: N, next: () => Token): N {
  const old = x.children;
  const children: Element[] = new Array<Element>(old.length);
  for (let i = 0; i < old.length; i++) { const c = old[i]; children[i] = isNode(c) ? moveNode(c, next) : next(); }
  const d = children[0].start - old[0].start;
  const start = x.start + d, end = x.end + d;
  // typed fields are elements of `children`, in document order: found by position, not by lookup
  const one = <T extends Element>(e: T): T => children[old.indexOf(e)] as T;
  const all = <T extends Element>(es: T[]): T[] => {
    const out: T[] = [];
    let j = 0;
    for (const e of es) { while (old[j] !== e) j++; out.push(children[j] as T); }
    return out;
  };
  let n: SyntaxNode;
  switch (x.kind) {
    case 'File': n = { kind: 'File', items: all(x.items), start, end, children }; break;
    case 'Item': n = { kind: 'Item', keyword: one(x.keyword), args: all(x.args), start, end, children }; if (x.block) n.block = one(x.block); break;
    case 'Block': n = { kind: 'Block', blockKind: x.blockKind, open: one(x.open), entries: all(x.entries), start, end, children }; if (x.close) n.close = one(x.close); break;
    case 'Entry': n = { kind: 'Entry', key: one(x.key), values: all(x.values), start, end, children }; if (x.block) n.block = one(x.block); break;
    default: n = { kind: 'Error', start, end, children };
  }
  return n as N;
}

/** `e` with its range and fixes moved by `d`. */
export function moveDiagnostic(e: Diagnostic, d: number): Diagnostic {
  const out: Diagnostic = { ...e, start: e.start + d, end: e.end + d };
  if (e.fixes) out.fixes = e.fixes.map((f) => ({ ...f, start: f.start + d, end: f.end + d }));
  return out;
}
