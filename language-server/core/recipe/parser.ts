/**
 * Error-tolerant parser: tokens → lossless syntax tree + syntax diagnostics (QR0xx). Never throws.
 * Recovery: junk at top level is skipped to the end of the line (balanced braces included); inside
 * a block, a top-level keyword closes an unclosed block; a value without a key becomes an error node.
 * The parser reads the schema only for arity: how many identifier values a key takes.
 */
import { pushAll } from '../util/arrays';
import { drain } from '../util/cancel';
import { lex, isTrivia, type Token } from './lexer';
import { type BlockKind, KEYWORD_BY_NAME, keySpec, overrideBlockOf } from './schema';
import { isNode, type BlockNode, type EntryNode, type ErrorNode, type FileNode, type ItemNode } from './syntax';
import { diag, type Diagnostic } from './diagnostics';
import { planReuse } from './reparse';

export interface ParseResult {
  tree: FileNode;
  /** Syntax diagnostics, sorted by offset, at most one per offset. */
  errors: Diagnostic[];
  tokens: Token[];
  /** The text parsed (a later `parse(newText, this)` reuses the items an edit did not touch). */
  text: string;
}

/** Deeper blocks become error nodes, so recursion stays bounded on any input. */
const MAX_DEPTH = 16;
const TOP_KEYWORDS = ['use', 'model', 'data', 'preset', 'prune', 'quantize', 'allocate', 'finetune', 'evaluate', 'export'];
const isTopKeyword = (t: Token): boolean => t.kind === 'ident' && KEYWORD_BY_NAME.has(t.text);

/**
 * Parses `text`. With `previous` (the parse of an earlier version of the same document), top-level
 * items before and after the edited region are taken over instead of parsed again (reparse.ts);
 * the result is the same as without it.
 */
export function parse(text: string, previous?: ParseResult): ParseResult {
  return drain(parseSteps(text, previous));
}

/** Text lexed per step (cut after a newline: no token spans one, so the tokens are the same). */
const LEX_CHUNK = 1 << 16;

/**
 * `parse` as steps (a generator that yields every few hundred items), for callers that must stay
 * responsive on large input: `drainSliced(parseSteps(text), ms)` (core/util/cancel.ts).
 */
export function* parseSteps(text: string, previous?: ParseResult): Generator<void, ParseResult, void> {
  const plan = previous ? planReuse(previous, text) : undefined;
  let tokens: Token[];
  if (plan) tokens = plan.tokens;
  else {
    tokens = [];
    for (let a = 0; a < text.length;) {
      const nl = text.indexOf('\n', a + LEX_CHUNK);
      const b = nl < 0 ? text.length : nl + 1;
      pushAll(tokens, lex(text, a, b));
      a = b;
      if (a < text.length) yield;
    }
  }
  const errors: Diagnostic[] = plan ? [...plan.headErrors] : [];
  let pos = plan ? plan.startPos : 0;
  const peek = (k = 0): Token | undefined => tokens[pos + k];

  const report = (d: Diagnostic): void => { errors.push(d); };
  const reportToken = (t: Token): void => {
    if (t.kind === 'junk') report(diag('QR001', t.start, t.end, `Unexpected character${t.text.length > 1 ? 's' : ''} ${JSON.stringify(t.text)}: write \`key value\` (no '=' or ':'), strings in double quotes, comments after '#'.`));
    else if (t.kind === 'string' && t.unterminated) report(diag('QR002', t.start, t.end, 'This string has no closing \'"\' on its line: add one.', [{ title: 'Close the string', start: t.end, end: t.end, text: '"' }]));
  };

  /** Index of the next non-trivia token from `from` (stopping at newlines unless `crossLines`). */
  const nextSignificant = (from: number, crossLines: boolean): number => {
    let j = from;
    while (j < tokens.length && isTrivia(tokens[j]) && (crossLines || tokens[j].kind !== 'newline')) j++;
    return j;
  };

  /** Consumes a balanced `{ ... }` into `into` (for blocks nobody can own). */
  const consumeBalanced = (into: Token[]): void => {
    let depth = 0;
    while (pos < tokens.length) {
      const t = tokens[pos];
      if (t.kind === 'lbrace') depth++;
      if (t.kind === 'rbrace') depth--;
      reportToken(t);
      into.push(t);
      pos++;
      if (depth <= 0) return;
    }
  };

  const errorNode = (toks: Token[]): ErrorNode => ({ kind: 'Error', start: toks[0].start, end: toks[toks.length - 1].end, children: toks });

  function parseBlock(kind: BlockKind | undefined, depth: number): BlockNode {
    const open = tokens[pos++];
    const block: BlockNode = { kind: 'Block', blockKind: kind, open, entries: [], start: open.start, end: open.end, children: [open] };
    for (;;) {
      const t = peek();
      if (!t) {
        report(diag('QR003', open.start, open.end, 'This \'{\' has no matching \'}\': close the block.'));
        break;
      }
      if (isTrivia(t)) { block.children.push(t); pos++; continue; }
      if (t.kind === 'rbrace') { block.close = t; block.children.push(t); pos++; break; }
      if (t.kind === 'ident') {
        if (isTopKeyword(t) && !(kind && keySpec(kind, t.text))) {
          report(diag('QR003', open.start, open.end, `This '{' is not closed before \`${t.text}\` on line ${lineOf(t.start)}: add '}'.`));
          break;
        }
        const e = parseEntry(kind, depth);
        block.entries.push(e);
        block.children.push(e);
        continue;
      }
      const junk: Token[] = [];
      if (t.kind === 'lbrace') {
        consumeBalanced(junk);
        report(diag('QR004', junk[0].start, junk[junk.length - 1].end, 'A block needs a key before it, e.g. `override "layers.0.*" { bits 8 }`.'));
      } else {
        // values without a key: take them to the end of the line
        while (pos < tokens.length) {
          const u = tokens[pos];
          if (u.kind === 'newline' || u.kind === 'rbrace' || u.kind === 'lbrace' || u.kind === 'ident' || u.kind === 'comment') break;
          if (u.kind !== 'ws') reportToken(u);
          junk.push(u);
          pos++;
        }
        while (junk.length && junk[junk.length - 1].kind === 'ws') { junk.pop(); pos--; }
        const bad = junk.filter((u) => u.kind !== 'ws');
        if (bad.every((u) => u.kind !== 'junk' && !u.unterminated)) {
          report(diag('QR004', junk[0].start, junk[junk.length - 1].end, `Value ${bad.map((u) => u.text).join(' ')} has no key: write it after a key, e.g. \`bits 4\`.`));
        }
      }
      const en = errorNode(junk);
      block.entries.push(en);
      block.children.push(en);
    }
    block.end = block.children[block.children.length - 1].end;
    return block;
  }

  function parseEntry(kind: BlockKind | undefined, depth: number): EntryNode {
    const key = tokens[pos++];
    const spec = kind ? keySpec(kind, key.text) : undefined;
    const maxIdents = spec ? spec.maxIdents : 1;
    const entry: EntryNode = { kind: 'Entry', key, values: [], start: key.start, end: key.end, children: [key] };
    let idents = 0;
    for (;;) {
      const j = nextSignificant(pos, false);
      const t = tokens[j];
      if (!t) break;
      let take = false;
      if (t.kind === 'string' || t.kind === 'number' || t.kind === 'ratio' || t.kind === 'junk') take = true;
      else if (t.kind === 'ident') {
        // an identifier never follows a non-identifier value: `bits 4 group_size 64` is two entries
        take = idents < maxIdents && idents === entry.values.length && !(kind && keySpec(kind, t.text)) && !isTopKeyword(t);
        if (take) idents++;
      }
      if (!take) break;
      while (pos <= j) { entry.children.push(tokens[pos]); pos++; }
      reportToken(t);
      if (t.kind !== 'junk') entry.values.push(t);
    }
    const j = nextSignificant(pos, true);
    if (tokens[j]?.kind === 'lbrace') {
      while (pos < j) entry.children.push(tokens[pos++]);
      if (depth >= MAX_DEPTH) {
        const junk: Token[] = [];
        consumeBalanced(junk);
        report(diag('QR004', junk[0].start, junk[junk.length - 1].end, `Blocks nest at most ${MAX_DEPTH} deep: this block is ignored.`));
        entry.children.push(errorNode(junk));
      } else {
        const sub = parseBlock(kind && key.text === 'override' ? overrideBlockOf(kind) : undefined, depth + 1);
        entry.block = sub;
        entry.children.push(sub);
      }
    }
    entry.end = entry.children[entry.children.length - 1].end;
    return entry;
  }

  function parseItem(): ItemNode {
    const keyword = tokens[pos++];
    const item: ItemNode = { kind: 'Item', keyword, args: [], start: keyword.start, end: keyword.end, children: [keyword] };
    for (;;) {
      const j = nextSignificant(pos, false);
      const t = tokens[j];
      if (!t || t.kind === 'newline' || t.kind === 'lbrace' || t.kind === 'rbrace') break;
      while (pos <= j) { item.children.push(tokens[pos]); pos++; }
      reportToken(t);
      if (t.kind !== 'junk') item.args.push(t);
    }
    const j = nextSignificant(pos, true);
    if (tokens[j]?.kind === 'lbrace') {
      while (pos < j) item.children.push(tokens[pos++]);
      const block = parseBlock(KEYWORD_BY_NAME.get(keyword.text)?.block, 1);
      item.block = block;
      item.children.push(block);
    }
    item.end = item.children[item.children.length - 1].end;
    return item;
  }

  let lineStarts: number[] | undefined; // built on first use: only QR003 messages need it
  function lineOf(offset: number): number {
    if (!lineStarts) {
      lineStarts = [0];
      for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
    }
    let lo = 0, hi = lineStarts.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (lineStarts[mid] <= offset) lo = mid; else hi = mid - 1; }
    return lo + 1;
  }

  const file: FileNode = { kind: 'File', items: [], start: 0, end: text.length, children: [] };
  if (plan) for (const c of plan.headChildren) { file.children.push(c); if (isNode(c)) file.items.push(c as ItemNode | ErrorNode); }
  let steps = 0;
  while (pos < tokens.length) {
    if ((++steps & 255) === 0) yield;
    const tail = plan?.tailAt(pos);
    if (tail) {
      for (const c of tail.children) { file.children.push(c); if (isNode(c)) file.items.push(c as ItemNode | ErrorNode); }
      pushAll(errors, tail.errors);
      break;
    }
    const t = tokens[pos];
    if (isTrivia(t)) { file.children.push(t); pos++; continue; }
    if (t.kind === 'ident') {
      const item = parseItem();
      file.items.push(item);
      file.children.push(item);
      continue;
    }
    const junk: Token[] = [];
    if (t.kind === 'rbrace') {
      junk.push(t); pos++;
      report(diag('QR005', t.start, t.end, 'This \'}\' closes no block: remove it or add the matching \'{\'.', [{ title: 'Remove the \'}\'', start: t.start, end: t.end, text: '' }]));
    } else {
      let plain = true;
      while (pos < tokens.length) {
        const u = tokens[pos];
        if (u.kind === 'newline' || u.kind === 'ident' || u.kind === 'rbrace' || u.kind === 'comment') break;
        if (u.kind === 'lbrace') { consumeBalanced(junk); continue; }
        if (u.kind === 'junk' || u.unterminated) { plain = false; reportToken(u); }
        junk.push(u);
        pos++;
      }
      while (junk.length > 1 && junk[junk.length - 1].kind === 'ws') { junk.pop(); pos--; }
      if (plain) report(diag('QR004', junk[0].start, junk[junk.length - 1].end, `Expected a keyword here (${TOP_KEYWORDS.join(', ')}).`));
    }
    const en = errorNode(junk);
    file.items.push(en);
    file.children.push(en);
  }
  errors.sort((a, b) => a.start - b.start || a.end - b.end);
  const dedup = errors.filter((d, i) => i === 0 || d.start !== errors[i - 1].start || d.code !== errors[i - 1].code);
  return { tree: file, errors: dedup, tokens, text };
}
