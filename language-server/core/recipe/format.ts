/**
 * Canonical layout of a recipe: one space between a key and its values, two between entries that
 * share a line, two-space indentation, `}` on its own line for multi-line blocks, at most one blank
 * line, comments kept where they are (own line or trailing), one final newline. A block written on
 * one line stays on one line; entries keep their line grouping. Idempotent. Returns undefined when
 * the file has syntax errors (formatting would risk moving junk around).
 */
import { parse } from './parser';
import type { Token } from './lexer';
import type { BlockNode, EntryNode, ItemNode, SyntaxNode } from './syntax';
import { isNode } from './syntax';

const IND = '  ';

export function format(text: string): string | undefined {
  const r = parse(text);
  if (r.errors.length) return undefined;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines: string[] = [];
  let cur = '';
  const flush = (): void => { lines.push(cur.trimEnd()); cur = ''; };
  const blank = (): void => { if (lines.length && lines[lines.length - 1] !== '') lines.push(''); };

  const hasNewline = (n: SyntaxNode): boolean => n.children.some((c) => (isNode(c) ? hasNewline(c) : c.kind === 'newline' || c.kind === 'comment'));

  function emitHeader(words: Token[]): void {
    cur += words.map((t) => t.text).join(' ');
  }

  function emitItemOrEntry(n: ItemNode | EntryNode, depth: number): void {
    const head = n.kind === 'Item' ? [n.keyword, ...n.args] : [n.key, ...n.values];
    emitHeader(head);
    // comments between the header and the block move after the '{'
    const comments = n.children.filter((c): c is Token => !isNode(c) && c.kind === 'comment');
    if (n.block) { cur += ' '; emitBlock(n.block, depth, comments); }
    else if (comments.length) cur += ' ' + comments.map((c) => c.text).join(' ');
  }

  function emitBlock(b: BlockNode, depth: number, lead: Token[]): void {
    if (!hasNewline(b) && !lead.length) {
      const parts = b.entries.map((e) => inline(e as EntryNode));
      cur += parts.length ? `{ ${parts.join('  ')} }` : '{ }';
      return;
    }
    cur += '{';
    if (lead.length) cur += ' ' + lead.map((c) => c.text).join(' ');
    emitSequence(b.children.slice(1, b.close ? -1 : undefined), depth + 1);
    cur = IND.repeat(depth) + '}';
  }

  function inline(e: EntryNode): string {
    const head = [e.key, ...e.values].map((t) => t.text).join(' ');
    if (!e.block) return head;
    const parts = e.block.entries.map((x) => inline(x as EntryNode));
    return `${head} ${parts.length ? `{ ${parts.join('  ')} }` : '{ }'}`;
  }

  /** Items of the file or entries of a multi-line block; `cur` holds the opening line. */
  function emitSequence(children: (SyntaxNode | Token)[], depth: number): void {
    let atLineStart = depth === 0 && cur === '';
    let newlines = 0;
    let any = false;
    for (const c of children) {
      if (!isNode(c)) {
        if (c.kind === 'newline') {
          if (!atLineStart) { flush(); atLineStart = true; newlines = 1; }
          else newlines++;
        } else if (c.kind === 'comment') {
          if (atLineStart) { if (newlines >= 2 && any) blank(); cur = IND.repeat(depth) + c.text; atLineStart = false; any = true; }
          else cur += ' ' + c.text;
        }
        continue;
      }
      if (c.kind !== 'Item' && c.kind !== 'Entry') continue;
      if (atLineStart) { if (newlines >= 2 && any) blank(); cur = IND.repeat(depth); }
      else if (depth > 0 && cur.trimEnd().endsWith('{')) { flush(); cur = IND.repeat(depth); }
      else cur += depth > 0 ? '  ' : ' ';
      emitItemOrEntry(c, depth);
      atLineStart = false;
      any = true;
      newlines = 0;
    }
    if (!atLineStart) flush();
  }

  emitSequence(r.tree.children, 0);
  if (cur) flush();
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.length ? lines.join(eol) + eol : '';
}
