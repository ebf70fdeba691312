/**
 * Completion: keywords at the start of an item, methods and `on DATASET` in stage headers, keys of
 * the enclosing block, values of the key being written (enums, presets, data sets, group sizes that
 * divide the selected layers), file paths in path strings and layer names in pattern strings.
 */
import path from 'node:path';
import { readdir } from 'node:fs/promises';
import { CompletionItemKind, InsertTextFormat, MarkupKind, type CompletionItem } from 'vscode-languageserver';
import type { Analysis } from '../core/recipe/analyze';
import type { ParseResult } from '../core/recipe/parser';
import { stringValue, type Token } from '../core/recipe/lexer';
import { BUILTIN_PRESETS, KEYWORDS, KEYWORD_BY_NAME, keyDoc, keySpec, keysOf, methodDoc, type BlockKind, type KeySpec } from '../core/recipe/schema';
import { PATTERN_OP_NAMES } from '../core/recipe/patterns';
import { formatBytes } from '../core/util/format';
import type { LineIndex } from '../core/recipe/diagnostics';
import { cursorContext } from './context';

const md = (value: string) => ({ kind: MarkupKind.Markdown, value });
const REPEATABLE = new Set(['targets', 'ignore', 'override', 'perplexity', 'accuracy', 'cer', 'kl', 'latency']);

export async function complete(p: ParseResult, lines: LineIndex, offset: number, file: string, a: Analysis | undefined): Promise<CompletionItem[]> {
  const ctx = cursorContext(p, offset);
  if (ctx.inString) return stringCompletions(ctx.inString, ctx, lines, offset, file, a);
  const before = ctx.before;
  if (!ctx.block) {
    if (!before.length) return KEYWORDS.map((k, i) => ({
      label: k.name, kind: CompletionItemKind.Keyword, sortText: String(i).padStart(2, '0'), documentation: md(k.doc),
      insertText: snippetOf(k.name), insertTextFormat: InsertTextFormat.Snippet, detail: k.example,
    }));
    const kw = KEYWORD_BY_NAME.get(before[0].text);
    if (!kw) return [];
    const last = before[before.length - 1];
    if (last.text === 'on' && kw.name !== 'export') return dataItems(a);
    if (before.length === 1 && kw.methods) {
      const ms: CompletionItem[] = kw.methods.map((m) => ({ label: m.name, kind: CompletionItemKind.Function, documentation: md(methodDoc(m)) }));
      if (kw.methodRequired === false) ms.push(onItem());
      return ms;
    }
    if ((kw.name === 'prune' || kw.name === 'quantize' || kw.name === 'allocate' || kw.name === 'finetune') && !before.some((t) => t.text === 'on')) return [onItem()];
    return [];
  }
  const bk = ctx.blockKind;
  if (!bk) return [];
  // find the last key on the line and the values written after it
  let keyIdx = -1;
  for (let i = before.length - 1; i >= 0; i--) if (before[i].kind === 'ident' && keySpec(bk, before[i].text)) { keyIdx = i; break; }
  if (keyIdx >= 0) {
    const spec = keySpec(bk, before[keyIdx].text)!;
    const vals = before.slice(keyIdx + 1);
    const v = valueItems(spec, vals, a, ctx.block && ctx.item ? stageLayersCols(a, ctx.item.start) : undefined);
    if (v) return v;
  }
  return keyItems(bk, ctx.block?.entries.flatMap((e) => (e.kind === 'Entry' ? [e.key.text] : [])) ?? []);
}

function onItem(): CompletionItem {
  return { label: 'on', kind: CompletionItemKind.Keyword, detail: 'on DATASET: the calibration data set', insertText: 'on ' };
}

function dataItems(a: Analysis | undefined): CompletionItem[] {
  return (a?.datasets ?? []).map((n) => {
    const d = a?.recipe.datasets.find((x) => x.name === n);
    return { label: n, kind: CompletionItemKind.Variable, detail: d ? `${d.source.kind} data set` : 'data set' };
  });
}

const SNIPPETS: Record<string, string> = {
  use: 'use "$1"', model: 'model "$1"', data: 'data ${1:calib} { text "$2" }', preset: 'preset ${1:name} { bits ${2:4} }',
  prune: 'prune ${1|sparsegpt,wanda,magnitude|} {\n\tsparsity ${2:50%}\n}', quantize: 'quantize ${1|gptq,rtn|} {\n\tbits ${2:4}  group ${3:128}\n}',
  allocate: 'allocate llm-mq {\n\tbudget ${1:3bits}  candidates ${2:2 3 4}\n}', evaluate: 'evaluate { $0 }',
  export: 'export ${1|onnx-matmulnbits,onnx-qdq,onnx-fakequant|} "$2"',
};
function snippetOf(keyword: string): string {
  return SNIPPETS[keyword] ?? keyword;
}

function keyItems(bk: BlockKind, present: string[]): CompletionItem[] {
  return keysOf(bk).filter((k) => REPEATABLE.has(k.name) || !present.includes(k.name)).map((k) => ({
    label: k.name, kind: CompletionItemKind.Property, documentation: md(keyDoc(k)), detail: k.example ? `${k.name} ${k.example}` : k.name,
    insertText: k.example ? `${k.name} ${k.type.kind === 'pattern-block' ? '"${1:pattern}" { $2 }' : k.type.kind === 'metric' && k.example ? 'on ${1:dataset}' : k.type.kind === 'patterns' || k.type.kind === 'path' ? '"$1"' : `\${1:${k.example.replace(/[$}]/g, '\\$&')}}`}` : k.name,
    insertTextFormat: InsertTextFormat.Snippet,
  }));
}

/** Layers selected by the stage starting at `itemStart` (from the last analysis). */
function stageLayersCols(a: Analysis | undefined, itemStart: number): number[] | undefined {
  if (!a?.inventory) return undefined;
  const line = a.doc.lines.position(itemStart).line;
  const st = a.recipe.stages.find((s) => s.range.file === a.file && s.range.start.line === line);
  if (!st || !('selection' in st) || !st.selection.layers) return undefined;
  const names = new Set(st.selection.layers);
  return a.inventory.layers.filter((l) => names.has(l.name)).map((l) => l.cols);
}

function valueItems(spec: KeySpec, vals: Token[], a: Analysis | undefined, cols: number[] | undefined): CompletionItem[] | undefined {
  const t = spec.type;
  const plain = (xs: string[], kind: CompletionItemKind = CompletionItemKind.EnumMember, detail?: string): CompletionItem[] => xs.map((x, i) => ({ label: x, kind, detail, sortText: String(i).padStart(3, '0') }));
  if (t.kind === 'metric') {
    if (spec.name === 'size') return undefined;
    if (!vals.length) return [onItem()];
    if (vals.length === 1 && vals[0].text === 'on') return dataItems(a);
    return undefined;
  }
  if (vals.length) return undefined;
  switch (t.kind) {
    case 'enum': return plain(t.values);
    case 'bool': return plain(['true', 'false'], CompletionItemKind.Value);
    case 'int': return spec.name === 'bits' ? plain(['2', '3', '4', '8'], CompletionItemKind.Value) : plain([spec.example], CompletionItemKind.Value);
    case 'percent': return plain(spec.name === 'sparsity' ? ['50%', '60%', '70%'] : spec.name === 'outliers' ? ['0.5%', '1%'] : ['1%', '0.1%'], CompletionItemKind.Value);
    case 'group': {
      let sizes = [32, 64, 128];
      let detail = 'group size';
      if (cols && cols.length) {
        const g = cols.reduce((x, y) => gcd(x, y), 0);
        sizes = [16, 32, 64, 128, 256].filter((s) => g % s === 0);
        detail = `divides all ${cols.length} selected layers`;
      }
      return [...plain(sizes.map(String), CompletionItemKind.Value, detail), ...plain(['channel'], CompletionItemKind.EnumMember, 'one group per output row')];
    }
    case 'nm': return plain(['unstructured', '2:4', '4:8', '1:4']);
    case 'bits-list': return plain(['2 3 4', '3 4', '2 3 4 8'], CompletionItemKind.Value);
    case 'budget': return plain(['3bits', '3.5bits', '2MiB', '512KiB'], CompletionItemKind.Value);
    case 'tokenizer': return [...plain(['byte']), { label: '"tokenizer.json"', kind: CompletionItemKind.File, insertText: '"$1"', insertTextFormat: InsertTextFormat.Snippet }];
    case 'preset-ref': return [
      ...Object.entries(BUILTIN_PRESETS).map(([n, pr]) => ({ label: n, kind: CompletionItemKind.Constant, documentation: md(pr.doc) })),
      ...(a?.presets ?? []).map((n) => ({ label: n, kind: CompletionItemKind.Variable, detail: 'preset of this recipe' })),
    ];
    case 'patterns': case 'pattern-block': {
      const items: CompletionItem[] = PATTERN_OP_NAMES.map((n) => ({ label: `"${n}"`, kind: CompletionItemKind.Class, detail: 'layers of this op' }));
      for (const l of a?.inventory?.layers ?? []) items.push({ label: `"${l.name}"`, kind: CompletionItemKind.Field, detail: `${l.op} ${l.rows}×${l.cols}` });
      return items;
    }
    case 'path': return [{ label: '""', kind: CompletionItemKind.File, insertText: '"$1"', insertTextFormat: InsertTextFormat.Snippet, command: { title: 'suggest', command: 'editor.action.triggerSuggest' } }];
  }
  return undefined;
}

async function stringCompletions(
  tok: Token,
  ctx: ReturnType<typeof cursorContext>,
  lines: LineIndex,
  offset: number,
  file: string,
  a: Analysis | undefined,
): Promise<CompletionItem[]> {
  const typed = stringValue({ ...tok, text: tok.text.slice(0, offset - tok.start), unterminated: true });
  const bk = ctx.blockKind;
  const key = ctx.entry && bk ? keySpec(bk, ctx.entry.key.text) : undefined;
  const itemKw = ctx.item?.keyword.text;
  const isPath = key ? key.type.kind === 'path' || key.type.kind === 'tokenizer' : !ctx.block && (itemKw === 'model' || itemKw === 'use' || itemKw === 'export');
  const contentStart = tok.start + 1;
  if (isPath) {
    const slash = typed.lastIndexOf('/');
    const dirPart = slash >= 0 ? typed.slice(0, slash + 1) : '';
    const dir = path.resolve(path.dirname(file), dirPart || '.');
    const want = itemKw === 'model' ? '.onnx' : itemKw === 'use' ? '.qrecipe' : undefined;
    let entries;
    try { entries = await readdir(dir, { withFileTypes: true }); } catch { return []; }
    const range = lines.range(contentStart + (slash + 1), offset);
    return entries
      .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || !want || e.name.endsWith(want)))
      .slice(0, 500)
      .map((e) => ({
        label: e.isDirectory() ? `${e.name}/` : e.name, kind: e.isDirectory() ? CompletionItemKind.Folder : CompletionItemKind.File,
        textEdit: { range, newText: e.isDirectory() ? `${e.name}/` : e.name },
        ...(e.isDirectory() ? { command: { title: 'suggest', command: 'editor.action.triggerSuggest' } } : {}),
      }));
  }
  if (key && (key.type.kind === 'patterns' || key.type.kind === 'pattern-block')) {
    const range = lines.range(contentStart, offset);
    const items: CompletionItem[] = [{ label: 're:', kind: CompletionItemKind.Snippet, detail: 'regular expression, matched from the start of the name', textEdit: { range, newText: 're:' } }];
    for (const n of PATTERN_OP_NAMES) items.push({ label: n, kind: CompletionItemKind.Class, detail: 'layers of this op', textEdit: { range, newText: n } });
    for (const l of a?.inventory?.layers ?? []) {
      const detail = `${l.op} ${l.rows}×${l.cols} ${l.dtype}, ${formatBytes(l.bytes)}${l.sharedWith?.length ? `, tied to ${l.sharedWith.join(', ')}` : ''}`;
      items.push({ label: l.name, kind: CompletionItemKind.Field, detail, textEdit: { range, newText: l.name } });
      for (const alias of l.aliases ?? []) items.push({ label: alias, kind: CompletionItemKind.Field, detail: `= ${l.name} (${detail})`, textEdit: { range, newText: alias } });
    }
    return items;
  }
  return [];
}

function gcd(a: number, b: number): number { while (b) [a, b] = [b, a % b]; return a; }
