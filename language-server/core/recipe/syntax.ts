/**
 * The lossless syntax tree of a .qrecipe file. Every token of the lexer is a child of exactly one
 * node, in order, so `print(tree)` returns the input byte for byte. Typed fields (keyword, args,
 * block, ...) point at the same token objects that sit in `children`.
 */
import type { Token } from './lexer';
import type { BlockKind } from './schema';

export type SyntaxNode = FileNode | ItemNode | BlockNode | EntryNode | ErrorNode;
export type Element = SyntaxNode | Token;

interface NodeBase {
  /** Offset of the first character covered by the node. */
  start: number;
  /** Offset just past the node. */
  end: number;
  /** Tokens and sub-nodes in document order, trivia included. */
  children: Element[];
}

/** The whole document. */
export interface FileNode extends NodeBase {
  kind: 'File';
  /** Top-level items and error nodes, in order. */
  items: (ItemNode | ErrorNode)[];
}

/** A top-level item: `keyword args... { block }`, e.g. `quantize gptq on calib { ... }`. */
export interface ItemNode extends NodeBase {
  kind: 'Item';
  keyword: Token;
  /** Tokens after the keyword on the same line (method, name, `on`, path ...). */
  args: Token[];
  block?: BlockNode;
}

/** `{ entries }`; `blockKind` is undefined when the owner is unknown or takes no block. */
export interface BlockNode extends NodeBase {
  kind: 'Block';
  blockKind?: BlockKind;
  open: Token;
  entries: (EntryNode | ErrorNode)[];
  /** Missing when the block is not closed (QR003). */
  close?: Token;
}

/** `key values... { block }` inside a block, e.g. `bits 4` or `override "x" { bits 8 }`. */
export interface EntryNode extends NodeBase {
  kind: 'Entry';
  key: Token;
  values: Token[];
  block?: BlockNode;
}

/** Tokens the parser could not place; the diagnostic is in the parse result. */
export interface ErrorNode extends NodeBase {
  kind: 'Error';
}

export function isNode(e: Element): e is SyntaxNode {
  return (e as SyntaxNode).children !== undefined;
}

/** Concatenates the text of every token: the original document. */
export function print(node: SyntaxNode): string {
  const parts: string[] = [];
  const walk = (n: SyntaxNode): void => {
    for (const c of n.children) {
      if (isNode(c)) walk(c);
      else parts.push(c.text);
    }
  };
  walk(node);
  return parts.join('');
}

/** An indented dump of the tree (kinds, offsets, token texts), for golden tests. */
export function dump(node: SyntaxNode): string {
  const lines: string[] = [];
  const walk = (n: SyntaxNode, depth: number): void => {
    const extra = n.kind === 'Block' && n.blockKind ? ` (${n.blockKind})` : '';
    lines.push(`${'  '.repeat(depth)}${n.kind}${extra} ${n.start}..${n.end}`);
    for (const c of n.children) {
      if (isNode(c)) walk(c, depth + 1);
      else lines.push(`${'  '.repeat(depth + 1)}${c.kind} ${JSON.stringify(c.text)}${c.unterminated ? ' unterminated' : ''}`);
    }
  };
  walk(node, 0);
  return lines.join('\n') + '\n';
}

/** The chain of nodes containing `offset` (outermost first) and the token at or just before it. */
export function locate(file: FileNode, offset: number): { path: SyntaxNode[]; token?: Token } {
  const path: SyntaxNode[] = [file];
  let token: Token | undefined;
  let node: SyntaxNode = file;
  for (;;) {
    let next: SyntaxNode | undefined;
    for (const c of node.children) {
      if (c.start > offset) break;
      if (isNode(c)) {
        if (offset <= c.end && (offset < c.end || !(c.kind === 'Block' && c.close))) next = c;
      } else if (offset <= c.end) {
        token = c;
        if (offset < c.end) break;
      }
    }
    if (!next) break;
    path.push(next);
    node = next;
  }
  return { path, token };
}
