/**
 * Regular expressions that a backtracking engine (JavaScript's RegExp, which `@huggingface/tokenizers`
 * runs for a tokenizer.json's Split pre-tokenizers and Replace normalizers) can take exponential
 * time on (issue 20 #2, #3). Layer patterns of recipes run on our own linear-time engine
 * (`recipe/regex.ts`); a tokenizer's patterns run on the library's RegExp, which has no time limit
 * and blocks the event loop (and with it cancellation), so the risky ones are refused before use:
 * - back-references (`\1`, `\k<name>`): matching them is NP-hard in general;
 * - a group repeated more than once (`*`, `+`, `{n,}`, `{n,m}` with m > 1) that itself holds an
 *   unbounded quantifier or an alternation: `(a+)+`, `(.*)*`, `(a|a)*` — the classic catastrophic
 *   backtracking shapes.
 * Look-around, classes, bounded and single-level quantifiers stay allowed: the patterns of real
 * tokenizers (GPT-2, Llama-3, Qwen2) use them and are polynomial at worst, and the text they run on
 * comes in bounded chunks (`model/data/tokenizer.ts`).
 */

/** Why `pattern` is risky for a backtracking engine, or undefined when it is not. */
export function backtrackingRisk(pattern: string): string | undefined {
  interface Group { start: number; unbounded: boolean; alternation: boolean }
  const stack: Group[] = [{ start: 0, unbounded: false, alternation: false }];
  /** What the last atom was: a group (with what it held) or something else. */
  let last: Group | 'atom' | undefined;
  let i = 0;
  const quantifierAt = (k: number): { len: number; unbounded: boolean; many: boolean } | undefined => {
    const c = pattern[k];
    if (c === '*' || c === '+') return { len: pattern[k + 1] === '?' || pattern[k + 1] === '+' ? 2 : 1, unbounded: true, many: true };
    if (c === '?') return { len: pattern[k + 1] === '?' ? 2 : 1, unbounded: false, many: false };
    if (c === '{') {
      const m = /^\{(\d*)(,?)(\d*)\}\??/.exec(pattern.slice(k, k + 40));
      if (!m || (m[1] === '' && m[3] === '')) return undefined; // a literal brace
      const max = m[2] ? (m[3] === '' ? Infinity : Number(m[3])) : Number(m[1]);
      return { len: m[0].length, unbounded: max === Infinity, many: max > 1 };
    }
    return undefined;
  };
  /** A group not repeated passes what it held on to the group around it. */
  const settle = (): void => {
    if (last !== undefined && last !== 'atom') stack[stack.length - 1]!.unbounded ||= last.unbounded;
  };
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c !== '*' && c !== '+' && c !== '?' && c !== '{') settle();
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n !== undefined && /[1-9]/.test(n)) return `it refers back to group ${n} (\\${n}), which a backtracking engine may take exponential time to match`;
      if (n === 'k' && pattern[i + 2] === '<') return 'it refers back to a named group (\\k<...>), which a backtracking engine may take exponential time to match';
      // \p{..}, \u{....}, \xHH: skip the braces with the escape
      const brace = (n === 'p' || n === 'P' || n === 'u') && pattern[i + 2] === '{' ? pattern.indexOf('}', i + 2) : -1;
      i = brace > 0 ? brace + 1 : i + 2;
      last = 'atom';
    } else if (c === '[') {
      // a class: skip to its closing bracket (escapes inside, and a leading ] or ^])
      let k = i + 1;
      if (pattern[k] === '^') k++;
      if (pattern[k] === ']') k++;
      while (k < pattern.length && pattern[k] !== ']') k += pattern[k] === '\\' ? 2 : 1;
      i = k + 1;
      last = 'atom';
    } else if (c === '(') {
      stack.push({ start: i, unbounded: false, alternation: false });
      // skip the group's prefix: (?:  (?i:  (?=  (?!  (?<=  (?<!  (?<name>
      let k = i + 1;
      if (pattern[k] === '?') {
        k++;
        if (pattern[k] === '<' && pattern[k + 1] !== '=' && pattern[k + 1] !== '!') { const e = pattern.indexOf('>', k); k = e > 0 ? e + 1 : k + 1; }
        else if (pattern[k] === '<') k += 2;
        else { while (k < pattern.length && /[a-zA-Z-]/.test(pattern[k]!)) k++; if (pattern[k] === ':' || pattern[k] === '=' || pattern[k] === '!') k++; }
      }
      i = k;
      last = undefined;
    } else if (c === ')') {
      const g = stack.length > 1 ? stack.pop()! : { start: i, unbounded: false, alternation: false };
      i++;
      last = g;
    } else if (c === '|') {
      stack[stack.length - 1]!.alternation = true;
      i++;
      last = undefined;
    } else {
      const q = quantifierAt(i);
      if (q && last !== undefined) {
        if (q.unbounded) stack[stack.length - 1]!.unbounded = true;
        if (last !== 'atom' && q.many && (last.unbounded || last.alternation)) {
          return `the group at character ${last.start + 1} holds ${last.unbounded ? 'an unbounded repetition' : 'alternatives'} and is itself repeated (${pattern.slice(last.start, i + q.len).slice(0, 40)}): a backtracking engine may take exponential time on it`;
        }
        settle();
        i += q.len;
        last = 'atom';
      } else {
        settle();
        i++;
        last = 'atom';
      }
    }
  }
  return undefined;
}
