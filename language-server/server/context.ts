/**
 * Where the cursor is, in recipe terms: top level or inside a block of some kind, the significant
 * tokens before it on its line, the word being typed, and the string it is in. Used by completion
 * and hover.
 */
import { isTrivia, type Token } from '../core/recipe/lexer';
import type { ParseResult } from '../core/recipe/parser';
import { locate, type BlockNode, type EntryNode, type ItemNode, type SyntaxNode } from '../core/recipe/syntax';
import type { BlockKind } from '../core/recipe/schema';

export interface CursorContext {
  /** Innermost block the cursor is inside, if any. */
  block?: BlockNode;
  blockKind?: BlockKind;
  /** The top-level item containing the cursor. */
  item?: ItemNode;
  /** The entry containing the cursor (inside a block). */
  entry?: EntryNode;
  /** Identifier being typed (ends at the cursor). */
  word?: Token;
  /** Significant tokens before the word on the cursor's line, after the last brace. */
  before: Token[];
  /** The string token the cursor is inside. */
  inString?: Token;
  /** The token under the cursor (for hover). */
  token?: Token;
  path: SyntaxNode[];
}

export function cursorContext(p: ParseResult, offset: number): CursorContext {
  const { path, token } = locate(p.tree, offset);
  const ctx: CursorContext = { before: [], path, token };
  for (const n of path) {
    if (n.kind === 'Item') ctx.item = n;
    if (n.kind === 'Entry') ctx.entry = n;
    if (n.kind === 'Block' && n.open.end <= offset && (!n.close || offset <= n.close.start)) { ctx.block = n; ctx.blockKind = n.blockKind; }
  }
  if (token && token.kind === 'string' && offset > token.start && (offset < token.end || token.unterminated)) ctx.inString = token;
  if (token && token.kind === 'ident' && token.end === offset) ctx.word = token;
  // tokens on the same line before the word, stopping at braces
  const toks = p.tokens;
  let lo = 0, hi = toks.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (toks[mid].end <= offset) lo = mid + 1; else hi = mid; }
  let i = lo - 1;
  if (ctx.word && toks[i] === ctx.word) i--;
  const before: Token[] = [];
  for (; i >= 0; i--) {
    const t = toks[i];
    if (t.kind === 'newline' || t.kind === 'lbrace' || t.kind === 'rbrace') break;
    if (!isTrivia(t)) before.unshift(t);
  }
  ctx.before = before;
  return ctx;
}
