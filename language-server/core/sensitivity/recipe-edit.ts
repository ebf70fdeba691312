/**
 * Writing an allocation back into a recipe: one `override "LAYER" { bits N }` per layer inside the
 * allocate stage, replacing the single-layer `bits` overrides written before (by hand or by an
 * earlier write), leaving every other entry and comment as it is. Pure text edits, so the editor
 * can apply them as one undoable WorkspaceEdit and the CLI can apply them to a file.
 */
import { parse } from '../recipe/parser';
import { lower, type DocStage } from '../recipe/lower';
import { LineIndex } from '../recipe/diagnostics';
import { quoteString } from '../recipe/lexer';
import { PATTERN_OP_NAMES } from '../recipe/patterns';
import { maxOf, minOf } from '../util/arrays';

/** Replace text[start, end) with `text` (offsets into the original text; edits never overlap). */
export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/** Marks the block of overrides this module writes, so a later write replaces it. */
export const ALLOCATION_MARK = '# allocation (QRecipe sensitivity)';

/** The allocate stages of a recipe text, in order, with their header line (zero-based). */
export function allocateStages(file: string, text: string): { stage: DocStage; line: number }[] {
  const doc = lower(file, text, parse(text).tree);
  const lines = new LineIndex(text);
  return doc.stages.filter((s) => s.kind === 'allocate').map((stage) => ({ stage, line: lines.position(stage.loc.start).line }));
}

/**
 * The pattern that names exactly one layer. A plain name unless the name would mean something else
 * as a pattern (a glob's `*` or `?`, a `re:` prefix, an op name such as `Linear`) or cannot be
 * written in a one-line string (a line break or another control character, which a model from a
 * stranger may put in a name): then an anchored `re:` pattern with those characters escaped, which
 * matches that name and no other (issue 20 #9: names with newlines used to break the recipe).
 */
export function exactPattern(name: string): string {
  const plain = !/[*?\u0000-\u001f\u007f\u2028\u2029]/.test(name) && !name.startsWith('re:') && !PATTERN_OP_NAMES.includes(name) && name.length > 0;
  if (plain) return name;
  const body = [...name].map((ch) => {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && (c < 0x20 || c === 0x7f || c === 0x2028 || c === 0x2029)) return c > 0xff ? `\\u${c.toString(16).padStart(4, '0')}` : `\\x${c.toString(16).padStart(2, '0')}`;
    return /[\\^$.|?*+()[\]{}]/.test(ch) ? `\\${ch}` : ch;
  }).join('');
  return `re:${body}$`;
}

/** Whether a pattern string names one of `layers` exactly, as `exactPattern` writes it. */
function isExactName(pattern: string, layers: Set<string>, byPattern: Map<string, string>): boolean {
  if (layers.has(pattern)) return exactPattern(pattern) === pattern;
  return byPattern.has(pattern);
}

/**
 * The budget that makes an allocation the recipe's own: the shortest `…bits` average width between
 * the smallest and the largest average the stage allows once `bits` pins its layers (layers `bits`
 * leaves out keep their candidates). With every layer pinned both ends are the allocation's
 * average, Σ bits·params / Σ params, which is how the checker measures a `bits` budget (QR206 below
 * it, QR209 above it, within 1e-9), so the edited recipe checks clean.
 */
export function allocationBudget(layers: { name: string; params: number }[], candidates: Record<string, number[]>, bits: Record<string, number>): string {
  let P = 0, lo = 0, hi = 0;
  for (const l of layers) {
    const c = bits[l.name] !== undefined ? [bits[l.name]!] : candidates[l.name] ?? [];
    if (!c.length) continue;
    P += l.params;
    lo += minOf(c) * l.params;
    hi += maxOf(c) * l.params;
  }
  if (!P) throw new Error('no layer of the allocate stage has a width to budget');
  const min = lo / P, max = hi / P, slack = 5e-10;
  for (let d = 0; d <= 12; d++) {
    const f = 10 ** d;
    for (const v of [Math.ceil((min - slack) * f) / f, Math.floor((max + slack) * f) / f]) {
      if (v >= min - slack && v <= max + slack && v > 0) return `${Number(v.toFixed(d))}bits`;
    }
  }
  return `${min}bits`;
}

/**
 * Edits that write `bits` (layer → width) into the `which`-th allocate stage of `text`, and the
 * stage's budget as `budget` when given (see allocationBudget). Throws when the recipe has no such stage.
 */
export function allocationEdits(file: string, text: string, bits: Record<string, number>, which = 0, budget?: string): TextEdit[] {
  const stages = allocateStages(file, text);
  const found = stages[which];
  if (!found) throw new Error(`${file}: no allocate stage${which ? ` #${which + 1}` : ''} to write the allocation into`);
  const { stage } = found;
  const names = new Set(Object.keys(bits));
  const byPattern = new Map([...names].map((n) => [exactPattern(n), n]));
  const edits: TextEdit[] = [];
  const lineStart = (off: number): number => text.lastIndexOf('\n', off - 1) + 1;
  const lineEnd = (off: number): number => { const e = text.indexOf('\n', off); return e < 0 ? text.length : e + 1; };
  // Old single-layer bits overrides: remove the whole line when the override is alone on it.
  for (const o of stage.overrides) {
    const keys = [...o.keys.keys()];
    if (!isExactName(o.pattern.value, names, byPattern) || keys.length !== 1 || keys[0] !== 'bits') continue;
    const ls = lineStart(o.loc.start);
    const le = lineEnd(o.loc.end);
    const before = text.slice(ls, o.loc.start);
    const after = text.slice(o.loc.end, le);
    const alone = before.trim() === '' && (after.trim() === '' || after.trim().startsWith('#'));
    edits.push(alone ? { start: ls, end: le, text: '' } : { start: o.loc.start, end: o.loc.end, text: '' });
  }
  const body = text.slice(stage.loc.start, stage.loc.end);
  const markAt = body.indexOf(ALLOCATION_MARK);
  if (markAt >= 0) {
    const off = stage.loc.start + markAt;
    edits.push({ start: lineStart(off), end: lineEnd(off), text: '' });
  }
  const budgetVal = stage.keys.get('budget');
  if (budget && budgetVal) edits.push({ start: budgetVal.loc.start, end: budgetVal.loc.end, text: budget });
  const close = stage.loc.end - 1;
  if (text[close] !== '}') throw new Error(`${file}: the allocate stage has no closing brace; fix the recipe first`);
  const indentMatch = /\n([ \t]+)\S/.exec(body);
  const indent = indentMatch ? indentMatch[1]! : '  ';
  const block = [ALLOCATION_MARK, ...(budget && !budgetVal ? [`budget ${budget}`] : []), ...Object.entries(bits).map(([name, b]) => `override ${quoteString(exactPattern(name))} { bits ${Number.isInteger(b) ? b : Number(b)} }`)]
    .map((l) => indent + l).join('\n');
  // Insert on its own lines just before the closing brace.
  const braceLineStart = lineStart(close);
  const braceAlone = text.slice(braceLineStart, close).trim() === '';
  if (braceAlone) edits.push({ start: braceLineStart, end: braceLineStart, text: block + '\n' });
  else edits.push({ start: close, end: close, text: '\n' + block + '\n' });
  return mergeEdits(edits);
}

/** Sorts edits and drops exact duplicates (a removed override line that also held the mark). */
function mergeEdits(edits: TextEdit[]): TextEdit[] {
  const sorted = edits.sort((a, b) => a.start - b.start || a.end - b.end);
  const out: TextEdit[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && e.start < last.end) {
      // Overlapping removals: extend the previous one.
      if (!e.text && !last.text) { last.end = Math.max(last.end, e.end); continue; }
      if (e.start >= last.start && e.end <= last.end && !e.text) continue;
    }
    out.push({ ...e });
  }
  return out;
}

/** Applies non-overlapping edits to a text. */
export function applyEdits(text: string, edits: TextEdit[]): string {
  let out = '';
  let at = 0;
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    out += text.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + text.slice(at);
}
