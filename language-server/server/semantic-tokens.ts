/** Semantic tokens: keywords, methods, keys, names, enum values, numbers, strings, regexes, comments. */
import type { SemanticTokensLegend } from 'vscode-languageserver';
import type { ParseResult } from '../core/recipe/parser';
import type { LineIndex } from '../core/recipe/diagnostics';
import type { Token } from '../core/recipe/lexer';
import { KEYWORD_BY_NAME, keySpec } from '../core/recipe/schema';
import type { BlockNode } from '../core/recipe/syntax';

const TYPES = ['keyword', 'function', 'property', 'variable', 'enumMember', 'number', 'string', 'regexp', 'comment', 'type'] as const;
type TokType = (typeof TYPES)[number];
export const legend: SemanticTokensLegend = { tokenTypes: [...TYPES], tokenModifiers: ['declaration'] };

export function semanticTokens(p: ParseResult, lines: LineIndex): number[] {
  const marks: { t: Token; type: TokType; decl?: boolean }[] = [];
  const val = (t: Token): void => {
    if (t.kind === 'number' || t.kind === 'ratio') marks.push({ t, type: 'number' });
    else if (t.kind === 'string') marks.push({ t, type: t.text.startsWith('"re:') ? 'regexp' : 'string' });
  };
  const walk = (b: BlockNode): void => {
    for (const e of b.entries) {
      if (e.kind !== 'Entry') continue;
      marks.push({ t: e.key, type: 'property' });
      const spec = b.blockKind ? keySpec(b.blockKind, e.key.text) : undefined;
      e.values.forEach((v, i) => {
        if (v.kind !== 'ident') return val(v);
        if (v.text === 'on') marks.push({ t: v, type: 'keyword' });
        else if (i > 0 && e.values[i - 1].text === 'on') marks.push({ t: v, type: 'variable' });
        else marks.push({ t: v, type: spec?.type.kind === 'preset-ref' ? 'type' : 'enumMember' });
      });
      if (e.block) walk(e.block);
    }
  };
  for (const it of p.tree.items) {
    if (it.kind !== 'Item') continue;
    const kw = KEYWORD_BY_NAME.get(it.keyword.text);
    if (kw) marks.push({ t: it.keyword, type: 'keyword' });
    it.args.forEach((a, i) => {
      if (a.kind !== 'ident') return val(a);
      if (a.text === 'on') marks.push({ t: a, type: 'keyword' });
      else if (i > 0 && it.args[i - 1].text === 'on') marks.push({ t: a, type: 'variable' });
      else if (kw?.methods?.some((m) => m.name === a.text)) marks.push({ t: a, type: 'function' });
      else if (kw && (kw.name === 'data' || kw.name === 'preset') && i === 0) marks.push({ t: a, type: 'variable', decl: true });
    });
    if (it.block) walk(it.block);
  }
  for (const t of p.tokens) if (t.kind === 'comment') marks.push({ t, type: 'comment' });
  marks.sort((x, y) => x.t.start - y.t.start);
  const data: number[] = [];
  let pl = 0, pc = 0;
  for (const m of marks) {
    const s = lines.position(m.t.start);
    const e = lines.position(m.t.end);
    if (e.line !== s.line) continue; // tokens never span lines; guard anyway
    data.push(s.line - pl, s.line === pl ? s.character - pc : s.character, e.character - s.character, TYPES.indexOf(m.type), m.decl ? 1 : 0);
    pl = s.line; pc = s.character;
  }
  return data;
}
