/**
 * Regular expressions for `re:` layer patterns in linear time (RE2 semantics): the pattern is
 * parsed into a Thompson NFA and run as a lazily built DFA, so matching a name of n characters
 * takes O(n · program size) in the worst case and O(n) once the DFA states it visits are built.
 * No backtracking, so `(a+)+$` or `(.*)*x` cost what `a+$` costs.
 *
 * Syntax: Python `re` as llm-compressor writes it (literals, `.`, classes `[a-z_\d]`, `\d \w \s`
 * and their negations, `\t \n \r \f \v \xHH \uHHHH \0`, groups `( )`, `(?: )`, `(?P<n> )`, `(?<n> )`,
 * `(?# )` comments, `|`, `* + ? {n} {n,} {,m} {n,m}` and their lazy `?` forms, `^ $ \A \Z \b \B`).
 * Refused, with the reason: back-references (`\1`, `(?P=n)`, `\k<n>`), look-around (`(?= (?! (?<=
 * (?<!`), conditionals, inline flags, possessive quantifiers (they need backtracking), counts above
 * MAX_REGEX_REPEAT and programs above MAX_REGEX_PROGRAM. Characters are UTF-16 code units, `\d \w
 * \s` are ASCII (as JavaScript), `.` matches anything but `\n` and `$` only the end (names have no
 * trailing newline).
 */
import { MAX_REGEX_CHARS, MAX_REGEX_DFA_STATES, MAX_REGEX_PROGRAM, MAX_REGEX_REPEAT } from '../util/limits';

/** A set of UTF-16 code units as sorted, disjoint, inclusive ranges [lo0, hi0, lo1, hi1, ...]. */
type Ranges = number[];

type Assertion = 'start' | 'end' | 'word' | 'notword';
type Node =
  | { t: 'empty' }
  | { t: 'set'; ranges: Ranges }
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; items: Node[] }
  | { t: 'rep'; node: Node; min: number; max: number }
  | { t: 'assert'; kind: Assertion };

/** Thrown inside the parser; becomes the `error` of compile (`refused`: valid Python, refused for linear time or size). */
class RegexSyntaxError extends Error {
  constructor(message: string, readonly refused = false) { super(message); }
}

const MAX_CHAR = 0xffff;
const DIGIT: Ranges = [0x30, 0x39];
const WORD: Ranges = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
// Python's str \s in the ASCII range, plus the Unicode spaces JavaScript's \s has
const SPACE: Ranges = [
  0x09, 0x0d, 0x1c, 0x20, 0x85, 0x85, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a,
  0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff,
];
const ANY_BUT_NEWLINE: Ranges = [0, 0x09, 0x0b, MAX_CHAR];

function normalize(r: Ranges): Ranges {
  const pairs: [number, number][] = [];
  for (let i = 0; i < r.length; i += 2) pairs.push([r[i]!, r[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: Ranges = [];
  for (const [lo, hi] of pairs) {
    if (out.length && lo <= out[out.length - 1]! + 1) out[out.length - 1] = Math.max(out[out.length - 1]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function negate(r: Ranges): Ranges {
  const n = normalize(r);
  const out: Ranges = [];
  let next = 0;
  for (let i = 0; i < n.length; i += 2) {
    if (n[i]! > next) out.push(next, n[i]! - 1);
    next = n[i + 1]! + 1;
  }
  if (next <= MAX_CHAR) out.push(next, MAX_CHAR);
  return out;
}

function inRanges(r: Ranges, c: number): boolean {
  for (let i = 0; i < r.length; i += 2) {
    if (c < r[i]!) return false;
    if (c <= r[i + 1]!) return true;
  }
  return false;
}

const isWordChar = (c: number): boolean => inRanges(WORD, c);

/** Recursive-descent parser of the syntax above. */
class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly s: string) {}

  parse(): Node {
    const n = this.alternation();
    if (this.i < this.s.length) throw new RegexSyntaxError(`unbalanced parenthesis at position ${this.i}`);
    return n;
  }

  private peek(k = 0): string { return this.s[this.i + k] ?? ''; }

  private alternation(): Node {
    const items = [this.sequence()];
    while (this.peek() === '|') { this.i++; items.push(this.sequence()); }
    return items.length === 1 ? items[0]! : { t: 'alt', items };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.s.length && this.peek() !== '|' && this.peek() !== ')') {
      const wasGroup = this.peek() === '(';
      const atom = this.atom();
      if (!atom) continue;
      items.push(this.quantified(atom, wasGroup));
    }
    return items.length === 0 ? { t: 'empty' } : items.length === 1 ? items[0]! : { t: 'cat', items };
  }

  /** `atom` with its quantifiers; a group may be repeated whatever it holds, an assertion may not. */
  private quantified(atom: Node, group: boolean): Node {
    let node = atom;
    for (let k = 0; ; k++) {
      const at = this.i;
      const q = this.quantifier();
      if (!q) return node;
      if (!group && node.t === 'assert') throw new RegexSyntaxError(`nothing to repeat at position ${at}`);
      if (k > 0) throw new RegexSyntaxError(`multiple repeat at position ${at}`);
      if (this.peek() === '?') this.i++; // lazy: same set of matches
      else if (this.peek() === '+') throw new RegexSyntaxError(`possessive quantifier at position ${this.i} is refused (it needs backtracking)`, true);
      node = { t: 'rep', node, min: q.min, max: q.max };
    }
  }

  private quantifier(): { min: number; max: number } | undefined {
    const c = this.peek();
    if (c === '*') { this.i++; return { min: 0, max: Infinity }; }
    if (c === '+') { this.i++; return { min: 1, max: Infinity }; }
    if (c === '?') { this.i++; return { min: 0, max: 1 }; }
    if (c !== '{') return undefined;
    // `{n}`, `{n,}`, `{,m}`, `{n,m}`; anything else is a literal `{` (as in Python and JavaScript)
    const m = /^\{(\d*)(,(\d*))?\}/.exec(this.s.slice(this.i, this.i + 24));
    if (!m || (m[1] === '' && (m[2] === undefined || m[3] === ''))) return undefined;
    const min = m[1] === '' ? 0 : Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    if (min > MAX_REGEX_REPEAT || (max !== Infinity && max > MAX_REGEX_REPEAT)) throw new RegexSyntaxError(`repeat count above ${MAX_REGEX_REPEAT} at position ${this.i}`, true);
    if (max < min) throw new RegexSyntaxError(`min repeat greater than max repeat at position ${this.i}`);
    this.i += m[0].length;
    return { min, max };
  }

  private atom(): Node | undefined {
    const start = this.i;
    const c = this.s[this.i++]!;
    switch (c) {
      case '.': return { t: 'set', ranges: ANY_BUT_NEWLINE };
      case '^': return { t: 'assert', kind: 'start' };
      case '$': return { t: 'assert', kind: 'end' };
      case '[': return { t: 'set', ranges: this.charClass(start) };
      case '\\': return this.escape(false);
      case '*': case '+': case '?': throw new RegexSyntaxError(`nothing to repeat at position ${start}`);
      case '(': return this.group(start);
      default: return { t: 'set', ranges: [c.charCodeAt(0), c.charCodeAt(0)] };
    }
  }

  private group(start: number): Node | undefined {
    if (++this.depth > 200) throw new RegexSyntaxError('groups nested more than 200 deep');
    if (this.peek() === '?') {
      const rest = this.s.slice(this.i + 1, this.i + 4);
      if (rest.startsWith(':')) this.i += 2;
      else if (rest.startsWith('#')) {
        const end = this.s.indexOf(')', this.i);
        if (end < 0) throw new RegexSyntaxError(`missing ), unterminated comment at position ${start}`);
        this.i = end + 1;
        this.depth--;
        return undefined;
      } else if (rest.startsWith('P<') || (rest.startsWith('<') && rest[1] !== '=' && rest[1] !== '!')) {
        const m = /^\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(this.s.slice(this.i));
        if (!m) throw new RegexSyntaxError(`bad group name at position ${this.i}`);
        this.i += m[0].length;
      } else if (rest.startsWith('=') || rest.startsWith('!') || rest.startsWith('<=') || rest.startsWith('<!')) {
        throw new RegexSyntaxError(`look-around (?${rest.startsWith('<') ? rest.slice(0, 2) : rest[0]}...) at position ${start} is refused (patterns run in linear time, without backtracking)`, true);
      } else if (rest.startsWith('P=')) {
        throw new RegexSyntaxError(`back-reference (?P=...) at position ${start} is refused (patterns run in linear time, without backtracking)`, true);
      } else if (rest.startsWith('(')) {
        throw new RegexSyntaxError(`conditional group at position ${start} is refused (patterns run in linear time, without backtracking)`, true);
      } else {
        throw new RegexSyntaxError(`inline flags or unknown group (?${rest[0] ?? ''} at position ${start} are not supported`);
      }
    }
    const inner = this.alternation();
    if (this.peek() !== ')') throw new RegexSyntaxError(`missing ), unterminated subpattern at position ${start}`);
    this.i++;
    this.depth--;
    return inner;
  }

  /** `\X` outside (`inClass` false, may be an assertion) or inside a class (a set of characters). */
  private escape(inClass: boolean): Node {
    const at = this.i - 1;
    const c = this.s[this.i++];
    if (c === undefined) throw new RegexSyntaxError('bad escape (end of pattern)');
    const set = (ranges: Ranges): Node => ({ t: 'set', ranges });
    const one = (code: number): Node => set([code, code]);
    switch (c) {
      case 'd': return set(DIGIT);
      case 'D': return set(negate(DIGIT));
      case 'w': return set(WORD);
      case 'W': return set(negate(WORD));
      case 's': return set(SPACE);
      case 'S': return set(negate(SPACE));
      case 't': return one(9);
      case 'n': return one(10);
      case 'r': return one(13);
      case 'f': return one(12);
      case 'v': return one(11);
      case '0': return one(0);
      case 'a': return one(7);
      case 'x': case 'u': {
        const len = c === 'x' ? 2 : 4;
        const hex = this.s.slice(this.i, this.i + len);
        if (hex.length !== len || !/^[0-9A-Fa-f]+$/.test(hex)) throw new RegexSyntaxError(`incomplete escape \\${c}${hex} at position ${at}`);
        this.i += len;
        return one(parseInt(hex, 16));
      }
      case 'b': return inClass ? one(8) : { t: 'assert', kind: 'word' };
      case 'B': if (!inClass) return { t: 'assert', kind: 'notword' }; break;
      case 'A': if (!inClass) return { t: 'assert', kind: 'start' }; break;
      case 'Z': if (!inClass) return { t: 'assert', kind: 'end' }; break;
      case 'k': throw new RegexSyntaxError(`back-reference \\k at position ${at} is refused (patterns run in linear time, without backtracking)`, true);
      default: break;
    }
    if (/[1-9]/.test(c)) throw new RegexSyntaxError(`back-reference \\${c} at position ${at} is refused (patterns run in linear time, without backtracking)`, true);
    if (/[A-Za-z0-9]/.test(c)) throw new RegexSyntaxError(`bad escape \\${c} at position ${at}`);
    return one(c.charCodeAt(0));
  }

  private charClass(start: number): Ranges {
    let neg = false;
    if (this.peek() === '^') { neg = true; this.i++; }
    const out: Ranges = [];
    let first = true;
    for (;;) {
      if (this.i >= this.s.length) throw new RegexSyntaxError(`unterminated character set at position ${start}`);
      const c = this.s[this.i]!;
      if (c === ']' && !first) { this.i++; break; }
      first = false;
      const lo = this.classItem();
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '' && lo.length === 2 && lo[0] === lo[1]) {
        const dash = this.i;
        this.i++;
        const hi = this.classItem();
        if (hi.length !== 2 || hi[0] !== hi[1]) throw new RegexSyntaxError(`bad character range at position ${dash}`);
        if (hi[0]! < lo[0]!) throw new RegexSyntaxError(`bad character range at position ${dash}`);
        out.push(lo[0]!, hi[0]!);
      } else out.push(...lo);
    }
    const n = normalize(out);
    return neg ? negate(n) : n;
  }

  private classItem(): Ranges {
    const c = this.s[this.i++]!;
    if (c !== '\\') return [c.charCodeAt(0), c.charCodeAt(0)];
    const e = this.escape(true);
    if (e.t !== 'set') throw new RegexSyntaxError(`bad escape in a character set at position ${this.i - 2}`);
    return e.ranges;
  }
}

// NFA program ------------------------------------------------------------------------------------
const OP_SET = 0, OP_SPLIT = 1, OP_JMP = 2, OP_ASSERT = 3, OP_MATCH = 4;
interface Inst { op: number; x: number; y: number; ranges?: Ranges; kind?: Assertion }

function programSize(n: Node): number {
  switch (n.t) {
    case 'empty': return 0;
    case 'set': case 'assert': return 1;
    case 'cat': return n.items.reduce((a, x) => a + programSize(x), 0);
    case 'alt': return n.items.reduce((a, x) => a + programSize(x) + 2, 0);
    case 'rep': {
      const inner = programSize(n.node) + 2;
      return n.max === Infinity ? inner * Math.max(n.min, 1) + 2 : inner * Math.max(n.max, 1);
    }
  }
}

class Compiler {
  readonly prog: Inst[] = [];
  private emit(i: Inst): number { this.prog.push(i); return this.prog.length - 1; }

  /** Emits `n`; every dangling exit is patched to continue at the next emitted instruction. */
  gen(n: Node): void {
    switch (n.t) {
      case 'empty': return;
      case 'set': { const pc = this.emit({ op: OP_SET, x: 0, y: 0, ranges: n.ranges }); this.prog[pc]!.x = pc + 1; return; }
      case 'assert': { const pc = this.emit({ op: OP_ASSERT, x: 0, y: 0, kind: n.kind }); this.prog[pc]!.x = pc + 1; return; }
      case 'cat': for (const it of n.items) this.gen(it); return;
      case 'alt': {
        const jumps: number[] = [];
        n.items.forEach((it, k) => {
          if (k < n.items.length - 1) {
            const split = this.emit({ op: OP_SPLIT, x: 0, y: 0 });
            this.prog[split]!.x = split + 1;
            this.gen(it);
            jumps.push(this.emit({ op: OP_JMP, x: 0, y: 0 }));
            this.prog[split]!.y = this.prog.length;
          } else this.gen(it);
        });
        for (const j of jumps) this.prog[j]!.x = this.prog.length;
        return;
      }
      case 'rep': {
        for (let k = 0; k < n.min; k++) this.gen(n.node);
        if (n.max === Infinity) {
          // L: split body, out; body; jmp L
          const split = this.emit({ op: OP_SPLIT, x: 0, y: 0 });
          this.prog[split]!.x = split + 1;
          this.gen(n.node);
          this.emit({ op: OP_JMP, x: split, y: 0 });
          this.prog[split]!.y = this.prog.length;
          return;
        }
        // (body (body (...)?)?)?: each optional copy may skip to the end
        const skips: number[] = [];
        for (let k = n.min; k < n.max; k++) {
          const split = this.emit({ op: OP_SPLIT, x: 0, y: 0 });
          this.prog[split]!.x = split + 1;
          skips.push(split);
          this.gen(n.node);
        }
        for (const s of skips) this.prog[s]!.y = this.prog.length;
        return;
      }
    }
  }

  finish(): Inst[] { this.emit({ op: OP_MATCH, x: 0, y: 0 }); return this.prog; }
}

// Lazy DFA ----------------------------------------------------------------------------------------
/** A DFA state: the NFA threads waiting to read a character, and whether the previous one was a word character. */
interface DState {
  /** Entry pcs (their closure depends on the next character), sorted. */
  readonly pcs: Int32Array;
  readonly key: string;
  readonly prevWord: boolean;
  /** Next state per character class; MATCHED when the closure before reading it reached OP_MATCH. */
  readonly next: (DState | typeof MATCHED | typeof DEAD | undefined)[];
}
const MATCHED = 1 as const;
const DEAD = 0 as const;

/** A compiled `re:` pattern; `matchesPrefix(name)` is Python's `re.match(pattern, name) is not None`. */
export class LinearRegex {
  private states = new Map<string, DState>();
  private readonly usesWord: boolean;
  private stamp = 1;
  private readonly seen: Int32Array;
  /**
   * Characters that no instruction tells apart share a class (as RE2's byte classes): class k is
   * [bounds[k], bounds[k+1]); transitions are kept per class, so a DFA state is built once per
   * class rather than once per character, and the lookup is an array index.
   */
  private readonly bounds: number[];
  private readonly low = new Uint16Array(256);

  private constructor(readonly source: string, private readonly prog: Inst[]) {
    this.usesWord = prog.some((i) => i.op === OP_ASSERT && (i.kind === 'word' || i.kind === 'notword'));
    this.seen = new Int32Array(prog.length);
    const cuts = new Set<number>([0]);
    const addRanges = (r: Ranges): void => { for (let i = 0; i < r.length; i += 2) { cuts.add(r[i]!); if (r[i + 1]! < MAX_CHAR) cuts.add(r[i + 1]! + 1); } };
    for (const inst of prog) if (inst.ranges) addRanges(inst.ranges);
    if (this.usesWord) addRanges(WORD);
    this.bounds = [...cuts].sort((a, b) => a - b);
    for (let c = 0; c < 256; c++) this.low[c] = this.searchClass(c);
  }

  /** Parses and compiles `source` (the body after `re:`), or says why it cannot. */
  static compile(source: string): LinearRegex | { error: string; refused: boolean } {
    if (source.length > MAX_REGEX_CHARS) return { error: `the pattern is ${source.length} characters long, longer than the ${MAX_REGEX_CHARS} accepted`, refused: true };
    try {
      const ast = new Parser(source).parse();
      const size = programSize(ast);
      if (size > MAX_REGEX_PROGRAM) return { error: `the pattern expands to ${size} instructions, more than the ${MAX_REGEX_PROGRAM} accepted (lower its repeat counts)`, refused: true };
      const c = new Compiler();
      c.gen(ast);
      return new LinearRegex(source, c.finish());
    } catch (e) {
      if (e instanceof RegexSyntaxError) return { error: e.message, refused: e.refused };
      throw e;
    }
  }

  /** Whether a match starts at the beginning of `name` (it need not reach the end). */
  matchesPrefix(name: string): boolean {
    let st = this.start();
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      const k = c < 256 ? this.low[c]! : this.searchClass(c);
      let nx = st.next[k];
      if (nx === undefined) nx = this.step(st, k, i === 0);
      if (nx === MATCHED) return true;
      if (nx === DEAD) return false;
      st = nx;
    }
    return this.closure(st.pcs, name.length === 0, true, st.prevWord, false) === MATCHED;
  }

  /** The number of DFA states built so far (for tests of the memory bound). */
  get dfaStates(): number { return this.states.size; }

  private searchClass(c: number): number {
    let lo = 0, hi = this.bounds.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (this.bounds[mid]! <= c) lo = mid; else hi = mid - 1; }
    return lo;
  }

  private start(): DState {
    return this.state(Int32Array.of(0), 's', false);
  }

  /** The state for a set of entry pcs (before their closure, which depends on the next character). */
  private state(entries: Int32Array, prefix: string, prevWord: boolean): DState {
    const key = prefix + entries.join(',');
    let s = this.states.get(key);
    if (!s) {
      if (this.states.size >= MAX_REGEX_DFA_STATES) this.states = new Map(); // start over: memory stays bounded
      s = { pcs: entries, key, prevWord, next: new Array(this.bounds.length) };
      this.states.set(key, s);
    }
    return s;
  }

  /**
   * Follows the empty moves from `entries` given the context (at the start, at the end, previous
   * and next character word-ness); returns the OP_SET pcs reached, or MATCHED.
   */
  private closure(entries: Int32Array, atStart: boolean, atEnd: boolean, prevWord: boolean, nextWord: boolean): number[] | typeof MATCHED {
    const stamp = ++this.stamp;
    const out: number[] = [];
    const stack: number[] = [];
    for (let k = entries.length - 1; k >= 0; k--) stack.push(entries[k]!);
    while (stack.length) {
      const pc = stack.pop()!;
      if (this.seen[pc] === stamp) continue;
      this.seen[pc] = stamp;
      const inst = this.prog[pc]!;
      switch (inst.op) {
        case OP_MATCH: return MATCHED;
        case OP_SET: out.push(pc); break;
        case OP_JMP: stack.push(inst.x); break;
        case OP_SPLIT: stack.push(inst.y, inst.x); break;
        case OP_ASSERT: {
          const k = inst.kind;
          const ok = k === 'start' ? atStart : k === 'end' ? atEnd : k === 'word' ? prevWord !== nextWord : prevWord === nextWord;
          if (ok) stack.push(inst.x);
          break;
        }
      }
    }
    return out;
  }

  /** The move of `s` on character class `k` (computed once, then cached in `s.next`). */
  private step(s: DState, k: number, atStart: boolean): DState | typeof MATCHED | typeof DEAD {
    const c = this.bounds[k]!; // any member of the class behaves the same
    const word = this.usesWord && isWordChar(c);
    const cl = this.closure(s.pcs, atStart, false, s.prevWord, word);
    let r: DState | typeof MATCHED | typeof DEAD;
    if (cl === MATCHED) r = MATCHED;
    else {
      const next: number[] = [];
      for (const pc of cl) {
        const inst = this.prog[pc]!;
        if (inRanges(inst.ranges!, c)) next.push(inst.x);
      }
      r = next.length ? this.state(Int32Array.from(new Set(next)).sort(), word ? 'w' : 'n', word) : DEAD;
    }
    // not cached when the state was dropped by a reset in between (it is no longer reachable)
    if (this.states.get(s.key) === s) s.next[k] = r;
    return r;
  }
}
