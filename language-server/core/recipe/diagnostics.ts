/**
 * Diagnostics of the recipe language: one table of stable codes (documented in
 * docs/recipe-language.md) and the diagnostic record produced by the parser and the analysis.
 */
import { MAX_SUGGESTION_CANDIDATES } from '../util/limits';

export type Severity = 'error' | 'warning' | 'info' | 'hint';

export const CODES = {
  // syntax
  QR001: { severity: 'error', title: 'unexpected character' },
  QR002: { severity: 'error', title: 'unterminated string' },
  QR003: { severity: 'error', title: 'missing closing brace' },
  QR004: { severity: 'error', title: 'unexpected token' },
  QR005: { severity: 'error', title: 'unexpected closing brace' },
  // names, keys, values
  QR101: { severity: 'error', title: 'unknown top-level keyword' },
  QR102: { severity: 'error', title: 'unknown key' },
  QR103: { severity: 'error', title: 'key in the wrong block' },
  QR104: { severity: 'error', title: 'wrong value type' },
  QR105: { severity: 'error', title: 'value out of range' },
  QR106: { severity: 'error', title: 'wrong or missing unit' },
  QR107: { severity: 'error', title: 'missing value' },
  QR108: { severity: 'error', title: 'too many values' },
  QR109: { severity: 'warning', title: 'duplicate key' },
  QR110: { severity: 'error', title: 'unknown method or format' },
  QR111: { severity: 'error', title: 'duplicate name' },
  QR112: { severity: 'error', title: 'unknown data set or preset' },
  QR113: { severity: 'error', title: 'missing required item' },
  QR114: { severity: 'warning', title: 'incompatible or ineffective combination' },
  QR115: { severity: 'error', title: 'invalid or refused regular expression' },
  QR116: { severity: 'error', title: 'file not found' },
  QR117: { severity: 'error', title: 'import problem' },
  QR118: { severity: 'warning', title: 'suspicious stage order' },
  QR119: { severity: 'error', title: 'data set of the wrong kind' },
  QR120: { severity: 'error', title: 'tokenizer cannot be used' },
  QR121: { severity: 'error', title: 'tokenizer does not fit the model' },
  QR122: { severity: 'error', title: 'export format cannot store the compressed form' },
  QR130: { severity: 'error', title: 'export path outside the workspace' },
  QR131: { severity: 'error', title: 'export path overwrites an input or the run store' },
  QR132: { severity: 'warning', title: 'file too large to check while typing' },
  QR199: { severity: 'error', title: 'internal error of the analysis (a bug: please report it)' },
  // model-aware
  QR201: { severity: 'warning', title: 'pattern matches no layer' },
  QR202: { severity: 'error', title: 'selection is empty' },
  QR203: { severity: 'warning', title: 'exclusion matches nothing' },
  QR204: { severity: 'info', title: 'group size leaves a shorter last group' },
  QR205: { severity: 'error', title: 'N:M pattern does not divide a layer' },
  QR206: { severity: 'error', title: 'budget below the smallest feasible size' },
  QR207: { severity: 'warning', title: 'model cannot be read' },
  QR208: { severity: 'warning', title: 'override matches no selected layer' },
  QR209: { severity: 'info', title: 'budget above the largest size' },
  QR210: { severity: 'warning', title: 'width the export stores in a wider slot' },
  // llm-compressor conversion
  QR301: { severity: 'warning', title: 'no equivalent in the other format' },
  QR302: { severity: 'error', title: 'cannot read the llm-compressor recipe' },
  // what a run will find
  QR401: { severity: 'warning', title: 'export path holds a file already' },
} as const satisfies Record<string, { severity: Severity; title: string }>;

export type Code = keyof typeof CODES;

/** Zero-based line and UTF-16 character, as in LSP. */
export interface Position { line: number; character: number }
export interface Range { start: Position; end: Position }

/** A problem at [start, end) offsets of one document, plus optional data for quick fixes. */
export interface Diagnostic {
  code: Code;
  severity: Severity;
  start: number;
  end: number;
  message: string;
  /** Replacement suggestions for quick fixes: replace [start,end) by `text`, titled `title`. */
  fixes?: { title: string; start: number; end: number; text: string }[];
  /** Set when the diagnostic belongs to another file (an import). */
  file?: string;
}

export function diag(code: Code, start: number, end: number, message: string, fixes?: Diagnostic['fixes']): Diagnostic {
  return { code, severity: CODES[code].severity, start, end, message, ...(fixes && fixes.length ? { fixes } : {}) };
}

/** Maps offsets to LSP positions of one text. */
export class LineIndex {
  private readonly starts: number[] = [0];
  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.starts.push(i + 1);
      else if (c === 13) { if (text.charCodeAt(i + 1) === 10) i++; this.starts.push(i + 1); }
    }
  }
  position(offset: number): Position {
    const o = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0, hi = this.starts.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (this.starts[mid] <= o) lo = mid; else hi = mid - 1; }
    return { line: lo, character: o - this.starts[lo] };
  }
  offset(p: Position): number {
    if (p.line < 0) return 0;
    if (p.line >= this.starts.length) return this.text.length;
    const next = p.line + 1 < this.starts.length ? this.starts[p.line + 1] : this.text.length;
    return Math.max(this.starts[p.line], Math.min(this.starts[p.line] + p.character, next));
  }
  range(start: number, end: number): Range { return { start: this.position(start), end: this.position(end) }; }
  get lineCount(): number { return this.starts.length; }
}

/** Edit distance (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const m = a.length, n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => [i, ...new Array<number>(n).fill(0)]);
  for (let j = 1; j <= n; j++) d[0][j] = j;
  for (let i = 1; i <= m; i++) for (let j = 1; j <= n; j++) {
    const cost = a[i - 1] === b[j - 1] ? 0 : 1;
    d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
    if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
  }
  return d[m][n];
}

/**
 * The closest candidate within a distance that grows with the word length, or undefined. Bounded
 * work on any input: candidates whose length differs by more than the limit cannot be near and are
 * skipped before the edit distance, and at most MAX_SUGGESTION_CANDIDATES are looked at.
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  const limit = word.length <= 3 ? 1 : word.length <= 6 ? 2 : 3;
  let seen = 0;
  for (const c of candidates) {
    if (++seen > MAX_SUGGESTION_CANDIDATES) break;
    if (Math.abs(c.length - w.length) > limit) continue;
    const dd = editDistance(w, c.toLowerCase());
    if (dd < bestD) { bestD = dd; best = c; }
  }
  return bestD <= limit ? best : undefined;
}
