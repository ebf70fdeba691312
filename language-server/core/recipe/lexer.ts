/**
 * Lexer of the .qrecipe language. Total: every byte of the input lands in exactly one token, in
 * order, so concatenating the token texts gives back the input. Never throws.
 */
export type TokenKind =
  | 'ws' // spaces and tabs
  | 'newline' // \n or \r\n or \r
  | 'comment' // '#' to end of line
  | 'ident' // keyword, method, enum value or name: [A-Za-z_][A-Za-z0-9_.-]*
  | 'string' // "..." with \" and \\ escapes; `unterminated` set when the line ends first
  | 'number' // 12, 0.5, 1e-3, with an optional unit suffix glued on: 50%, 2MiB, 3.5bits
  | 'ratio' // N:M, e.g. 2:4
  | 'lbrace'
  | 'rbrace'
  | 'junk'; // any other byte run (reported as QR001)

export interface Token {
  kind: TokenKind;
  /** Offset of the first UTF-16 code unit in the document. */
  start: number;
  /** Offset just past the token. */
  end: number;
  text: string;
  /** Strings only: the closing quote is missing. */
  unterminated?: boolean;
}

/** Trivia: tokens that carry no meaning and are kept only to make the tree lossless. */
export function isTrivia(t: Token): boolean {
  return t.kind === 'ws' || t.kind === 'newline' || t.kind === 'comment';
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isIdentStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c) || c === 45 || c === 46;
const isUnitPart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 37;
/** Bytes that end a junk run: anything that can start a real token. */
const startsToken = (c: number): boolean =>
  c === 32 || c === 9 || c === 10 || c === 13 || c === 35 || c === 34 || c === 123 || c === 125 ||
  isDigit(c) || isIdentStart(c) || c === 45;

/** Tokens of `text[from, to)`; `from` and `to` must be token boundaries (0, a line start, the end). */
export function lex(text: string, from = 0, to = text.length): Token[] {
  const out: Token[] = [];
  const n = text.length;
  let i = from;
  const push = (kind: TokenKind, start: number, extra?: Partial<Token>): void => {
    out.push({ kind, start, end: i, text: text.slice(start, i), ...extra });
  };
  while (i < to) {
    const s = i;
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9) {
      while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
      push('ws', s);
    } else if (c === 10) {
      i++;
      push('newline', s);
    } else if (c === 13) {
      i += text.charCodeAt(i + 1) === 10 ? 2 : 1;
      push('newline', s);
    } else if (c === 35) {
      while (i < n && text.charCodeAt(i) !== 10 && text.charCodeAt(i) !== 13) i++;
      push('comment', s);
    } else if (c === 34) {
      i++;
      let closed = false;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 10 || d === 13) break;
        if (d === 92 && i + 1 < n && text.charCodeAt(i + 1) !== 10 && text.charCodeAt(i + 1) !== 13) { i += 2; continue; }
        i++;
        if (d === 34) { closed = true; break; }
      }
      push('string', s, closed ? undefined : { unterminated: true });
    } else if (c === 123) {
      i++;
      push('lbrace', s);
    } else if (c === 125) {
      i++;
      push('rbrace', s);
    } else if (isDigit(c) || (c === 45 && isDigit(text.charCodeAt(i + 1))) || (c === 46 && isDigit(text.charCodeAt(i + 1)))) {
      if (c === 45) i++;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      if (text.charCodeAt(i) === 58 && isDigit(text.charCodeAt(i + 1))) {
        i++;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
        push('ratio', s);
        continue;
      }
      if (text.charCodeAt(i) === 46 && isDigit(text.charCodeAt(i + 1))) {
        i++;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
      }
      const e = text.charCodeAt(i);
      if ((e === 101 || e === 69) && (isDigit(text.charCodeAt(i + 1)) ||
        ((text.charCodeAt(i + 1) === 45 || text.charCodeAt(i + 1) === 43) && isDigit(text.charCodeAt(i + 2))))) {
        i += 2;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
      }
      while (i < n && isUnitPart(text.charCodeAt(i))) i++;
      push('number', s);
    } else if (isIdentStart(c)) {
      while (i < n && isIdentPart(text.charCodeAt(i))) i++;
      push('ident', s);
    } else {
      i++;
      while (i < n && !startsToken(text.charCodeAt(i))) i++;
      push('junk', s);
    }
  }
  return out;
}

/** Splits a number token into its numeric value and unit suffix ('' when none). */
export function splitNumber(text: string): { value: number; unit: string } {
  const m = /^(-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?)(.*)$/s.exec(text);
  if (!m) return { value: Number.NaN, unit: text };
  return { value: Number(m[1]), unit: m[2] };
}

/**
 * The content of a string token without quotes. Only `\"` and `\\` are escapes; any other backslash
 * is kept, so regexes read as written: `"re:layers\..*"` is the regex `layers\..*`.
 */
export function stringValue(tok: Token): string {
  const body = tok.text.slice(1, tok.unterminated ? undefined : -1);
  return body.replace(/\\(["\\])/g, '$1');
}

/** Writes `s` as a string token that `stringValue` reads back unchanged (backslashes doubled only where needed). */
export function quoteString(s: string): string {
  return `"${s.replace(/\\(?=["\\]|$)/g, '\\\\').replace(/"/g, '\\"')}"`;
}
