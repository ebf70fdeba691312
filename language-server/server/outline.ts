/** Document symbols (outline) and folding ranges, straight from the syntax tree. */
import { FoldingRangeKind, SymbolKind, type DocumentSymbol, type FoldingRange } from 'vscode-languageserver';
import type { ParseResult } from '../core/recipe/parser';
import type { LineIndex } from '../core/recipe/diagnostics';
import type { BlockNode, EntryNode } from '../core/recipe/syntax';

const KINDS: Record<string, SymbolKind> = {
  use: SymbolKind.Module, model: SymbolKind.File, data: SymbolKind.Variable, preset: SymbolKind.Constant,
  prune: SymbolKind.Function, quantize: SymbolKind.Function, allocate: SymbolKind.Function, finetune: SymbolKind.Function, evaluate: SymbolKind.Event, export: SymbolKind.Package,
};

export function symbols(p: ParseResult, lines: LineIndex): DocumentSymbol[] {
  const out: DocumentSymbol[] = [];
  for (const it of p.tree.items) {
    if (it.kind !== 'Item') continue;
    const name = [it.keyword.text, ...it.args.map((a) => a.text)].join(' ');
    const selEnd = it.args.length ? it.args[it.args.length - 1].end : it.keyword.end;
    out.push({
      name, kind: KINDS[it.keyword.text] ?? SymbolKind.Null,
      range: lines.range(it.start, it.end), selectionRange: lines.range(it.keyword.start, selEnd),
      children: it.block ? entrySymbols(it.block, lines) : [],
    });
  }
  return out;
}

function entrySymbols(b: BlockNode, lines: LineIndex): DocumentSymbol[] {
  return b.entries.filter((e): e is EntryNode => e.kind === 'Entry').map((e) => ({
    name: e.key.text, detail: e.values.map((v) => v.text).join(' '),
    kind: e.block ? SymbolKind.Namespace : SymbolKind.Property,
    range: lines.range(e.start, e.end), selectionRange: lines.range(e.key.start, e.key.end),
    children: e.block ? entrySymbols(e.block, lines) : [],
  }));
}

export function folding(p: ParseResult, lines: LineIndex): FoldingRange[] {
  const out: FoldingRange[] = [];
  const walkBlock = (b: BlockNode): void => {
    const s = lines.position(b.start).line, e = lines.position(b.end).line;
    if (e > s) out.push({ startLine: s, endLine: b.close ? e - 1 : e });
    for (const en of b.entries) if (en.kind === 'Entry' && en.block) walkBlock(en.block);
  };
  for (const it of p.tree.items) if (it.kind === 'Item' && it.block) walkBlock(it.block);
  // runs of own-line comments
  let start = -1, last = -1;
  for (const t of p.tokens) {
    if (t.kind !== 'comment') continue;
    const l = lines.position(t.start).line;
    if (l === last + 1 && start >= 0) last = l;
    else { if (start >= 0 && last > start) out.push({ startLine: start, endLine: last, kind: FoldingRangeKind.Comment }); start = l; last = l; }
  }
  if (start >= 0 && last > start) out.push({ startLine: start, endLine: last, kind: FoldingRangeKind.Comment });
  return out;
}
