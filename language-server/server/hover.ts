/**
 * Hover: documentation (with the method's paper) for keywords, methods, keys and values; for a
 * layer pattern, the layers it matches and their size; for a name, what it refers to; for a number
 * with a unit, its value.
 */
import { MarkupKind, type Hover } from 'vscode-languageserver';
import type { Analysis } from '../core/recipe/analyze';
import type { ParseResult } from '../core/recipe/parser';
import { splitNumber, stringValue, type Token } from '../core/recipe/lexer';
import { BUILTIN_PRESETS, KEYWORD_BY_NAME, SIZE_UNITS, anyKeySpec, keyDoc, keySpec, methodDoc } from '../core/recipe/schema';
import { compilePattern, isCompiled, patternMessage } from '../core/recipe/patterns';
import { storedOnce } from '../core/model/inventory';
import { formatBytes } from '../core/util/format';
import type { LineIndex } from '../core/recipe/diagnostics';
import { cursorContext } from './context';

export function hover(p: ParseResult, lines: LineIndex, offset: number, a: Analysis | undefined): Hover | null {
  const ctx = cursorContext(p, offset);
  const t = ctx.token;
  if (!t || (t.kind !== 'ident' && t.kind !== 'string' && t.kind !== 'number' && t.kind !== 'ratio') || offset < t.start) return null;
  const value = describe(t, ctx, a);
  return value ? { contents: { kind: MarkupKind.Markdown, value }, range: lines.range(t.start, t.end) } : null;
}

function describe(t: Token, ctx: ReturnType<typeof cursorContext>, a: Analysis | undefined): string | undefined {
  const item = ctx.item;
  const kw = item ? KEYWORD_BY_NAME.get(item.keyword.text) : undefined;
  if (item && t === item.keyword) {
    if (!kw) return undefined;
    const ms = kw.methods?.map((m) => `- \`${m.name}\`: ${m.doc}`).join('\n');
    return `**${kw.name}** — ${kw.doc}\n\n\`${kw.example}\`${ms ? `\n\n${ms}` : ''}`;
  }
  if (item && item.args.includes(t) && kw) {
    const m = kw.methods?.find((x) => x.name === t.text);
    if (m) return methodDoc(m);
    if (t.text === 'on') return '`on DATASET` — the data set this stage calibrates on (default: the first data set).';
    const i = item.args.indexOf(t);
    if (i > 0 && item.args[i - 1].text === 'on') return datasetDoc(t.text, a);
    if (kw.name === 'data') return datasetDoc(t.text, a);
    if (kw.name === 'preset') return `**preset ${t.text}** — quantization parameters that a stage pulls in with \`preset ${t.text}\` (keys written in the stage win).`;
    if (kw.name === 'model' || kw.name === 'use' || t.kind === 'string') return pathDoc(t, a);
    return undefined;
  }
  const entry = ctx.entry;
  const bk = ctx.blockKind;
  if (entry && t === entry.key) {
    const spec = (bk && keySpec(bk, t.text)) ?? anyKeySpec(t.text);
    return spec ? keyDoc(spec) : undefined;
  }
  if (entry && entry.values.includes(t)) {
    const spec = (bk && keySpec(bk, entry.key.text)) ?? anyKeySpec(entry.key.text);
    if (!spec) return undefined;
    if (spec.type.kind === 'patterns' || spec.type.kind === 'pattern-block') return patternDoc(t, a);
    if (spec.type.kind === 'preset-ref') {
      const b = BUILTIN_PRESETS[t.text];
      return b ? `**preset ${t.text}** — ${b.doc}` : `**preset ${t.text}** — defined in this recipe.`;
    }
    if (spec.type.kind === 'metric' && t.text !== 'on') return datasetDoc(t.text, a);
    if (spec.type.kind === 'path' || spec.type.kind === 'tokenizer') return t.kind === 'string' ? pathDoc(t, a) : keyDoc(spec);
    if (t.kind === 'number') {
      const n = splitNumber(t.text);
      if (n.unit === '%') return `${t.text} = ${n.value / 100} (fraction)\n\n${keyDoc(spec)}`;
      if (n.unit in SIZE_UNITS) return `${t.text} = ${(n.value * SIZE_UNITS[n.unit]).toLocaleString('en-US')} bytes\n\n${keyDoc(spec)}`;
    }
    return keyDoc(spec);
  }
  return undefined;
}

function datasetDoc(name: string, a: Analysis | undefined): string {
  const d = a?.recipe.datasets.find((x) => x.name === name);
  if (!d) return `data set \`${name}\``;
  return `**data ${name}** — ${d.source.kind} \`${d.source.path}\`, ${d.samples} samples${d.source.kind === 'text' ? `, seqlen ${d.seqlen}` : ''}, seed ${d.seed}`;
}

function pathDoc(t: Token, a: Analysis | undefined): string {
  const s = stringValue(t);
  return `\`${s}\`${a ? `\n\nResolved against ${a.file.replace(/[^/\\]*$/, '')}` : ''}`;
}

function patternDoc(t: Token, a: Analysis | undefined): string {
  const s = stringValue(t);
  const c = compilePattern(s);
  if (!isCompiled(c)) return patternMessage(c);
  const kindText = { regex: 'regular expression, matched from the start of the name', glob: 'glob on the whole name', op: 'op name', name: 'exact layer name' }[c.kind];
  const info = a?.patterns.find((x) => x.start === t.start);
  let layers = info?.layers;
  if (!layers && a?.inventory) layers = a.inventory.layers.filter((l) => c.test(l));
  if (!layers) return `\`${s}\` — ${kindText}. (The model's layers are not loaded: check the \`model\` path.)`;
  // A tensor read by tied layers (embedding and lm_head) counts once.
  const { params, bytes } = storedOnce(layers);
  const role = info?.role === 'ignore' ? ' among the targeted layers' : info?.role === 'override' ? ' among the selected layers' : '';
  const list = layers.slice(0, 20).map((l) => `- \`${l.name}\` ${l.op} ${l.rows}×${l.cols} ${l.dtype}${l.sharedWith?.length ? ` (tied to ${l.sharedWith.map((n) => `\`${n}\``).join(', ')}: one weight)` : ''}${l.aliases?.length ? ` (also \`${l.aliases.join('`, `')}\`)` : ''}`).join('\n');
  return `\`${s}\` — ${kindText}\n\nMatches **${layers.length}** layer${layers.length === 1 ? '' : 's'}${role}: ${params.toLocaleString('en-US')} parameters, ${formatBytes(bytes)}\n\n${list}${layers.length > 20 ? `\n- … and ${layers.length - 20} more` : ''}`;
}
