// Fuzz family "patterns": random regular expressions and globs over a small alphabet, matched
// against random names. Regular expressions are checked against JavaScript's RegExp wherever the
// two languages agree; JavaScript backtracks, so even 12-character names can take it minutes (the
// issue's point): it runs under a vm timeout and the cases it cannot finish are counted as
// `referenceTimeouts` (ours must still answer at once). Globs are checked against a dynamic program.
import vm from 'node:vm';
import { Rng } from '../../language-server/core/util/rng';
import { LinearRegex } from '../../language-server/core/recipe/regex';
import { globMatcher } from '../../language-server/core/recipe/patterns';
import type { FuzzResult } from './family';

const ALPHABET = ['a', 'b', '_', '.', '0', '1', 'x'];

function literal(rng: Rng): string {
  const c = ALPHABET[rng.int(ALPHABET.length)]!;
  return c === '.' ? '\\.' : c;
}

/** A random pattern in the syntax both JavaScript and the linear engine read the same way. */
export function randomRegex(rng: Rng, depth = 0): string {
  const n = 1 + rng.int(depth > 2 ? 2 : 4);
  const parts: string[] = [];
  for (let k = 0; k < n; k++) {
    let atom: string;
    const r = rng.int(depth > 2 ? 8 : 12);
    switch (r) {
      case 0: case 1: case 2: atom = literal(rng); break;
      case 3: atom = '.'; break;
      case 4: atom = ['[ab]', '[^a]', '[a-x]', '[0-9_]', '[.]', '[^_.]', '[\\d]', '[\\w.]'][rng.int(8)]!; break;
      case 5: atom = ['\\d', '\\w', '\\W', '\\D', '\\s', '\\S'][rng.int(6)]!; break;
      case 6: atom = ['^', '$', '\\b', '\\B'][rng.int(4)]!; break;
      case 7: atom = '}'; break;
      default: {
        const alts = 1 + rng.int(3);
        const inner = Array.from({ length: alts }, () => (rng.next() < 0.15 ? '' : randomRegex(rng, depth + 1))).join('|');
        atom = rng.next() < 0.5 ? `(${inner})` : `(?:${inner})`;
      }
    }
    if (!['^', '$', '\\b', '\\B'].includes(atom) && rng.next() < 0.4) {
      atom += ['*', '+', '?', '{2}', '{0,2}', '{1,}', '{1,3}'][rng.int(7)]!;
      if (rng.next() < 0.2) atom += '?';
    }
    parts.push(atom);
  }
  return parts.join('');
}

export function randomName(rng: Rng, max = 12): string {
  return Array.from({ length: rng.int(max + 1) }, () => ALPHABET[rng.int(ALPHABET.length)]!).join('');
}

/** Whole-name glob semantics by dynamic programming (the reference for globMatcher). */
export function globReference(glob: string, name: string): boolean {
  const m = glob.length, n = name.length;
  let prev = new Array<boolean>(n + 1).fill(false);
  prev[0] = true;
  for (let i = 1; i <= m; i++) {
    const cur = new Array<boolean>(n + 1).fill(false);
    const g = glob[i - 1];
    if (g === '*') { cur[0] = prev[0]!; for (let j = 1; j <= n; j++) cur[j] = prev[j]! || cur[j - 1]!; }
    else for (let j = 1; j <= n; j++) cur[j] = prev[j - 1]! && (g === '?' || g === name[j - 1]);
    prev = cur;
  }
  return prev[n]!;
}

export function randomGlob(rng: Rng): string {
  return Array.from({ length: 1 + rng.int(8) }, () => { const r = rng.int(10); return r < 3 ? '*' : r < 4 ? '?' : ALPHABET[rng.int(ALPHABET.length)]!; }).join('');
}

/** Runs until `deadline` (ms, performance.now()) or `maxCases`; returns what was tried and what failed. */
export function fuzzPatterns(seed: number, deadline: number, maxCases = Infinity): FuzzResult {
  const rng = new Rng(seed);
  const failures: string[] = [];
  const jsContext = vm.createContext({});
  let cases = 0;
  let referenceTimeouts = 0;
  while (cases < maxCases && performance.now() < deadline && failures.length < 20) {
    cases++;
    if (rng.next() < 0.7) {
      const p = randomRegex(rng);
      const ours = LinearRegex.compile(p);
      let js: RegExp;
      try { js = new RegExp(`^(?:${p})`); } catch { continue; }
      if (!(ours instanceof LinearRegex)) { failures.push(`regex ${JSON.stringify(p)} refused: ${ours.error}`); continue; }
      for (let k = 0; k < 8; k++) {
        const name = randomName(rng);
        const t0 = performance.now();
        const got = ours.matchesPrefix(name);
        if (performance.now() - t0 > 50) failures.push(`regex ${JSON.stringify(p)} on ${JSON.stringify(name)} took ${(performance.now() - t0).toFixed(0)} ms`);
        let want: boolean;
        try {
          want = vm.runInContext('re.test(name)', Object.assign(jsContext, { re: js, name }), { timeout: 100 }) as boolean;
        } catch {
          referenceTimeouts++;
          continue;
        }
        if (got !== want) failures.push(`regex ${JSON.stringify(p)} on ${JSON.stringify(name)}: ${got}, JavaScript says ${want}`);
      }
    } else {
      const g = randomGlob(rng);
      const m = globMatcher(g);
      for (let k = 0; k < 8; k++) {
        const name = randomName(rng, 16);
        if (m(name) !== globReference(g, name)) failures.push(`glob ${JSON.stringify(g)} on ${JSON.stringify(name)}: ${m(name)}`);
      }
    }
  }
  return { family: 'patterns', seed, cases, failures, notes: referenceTimeouts ? [`${referenceTimeouts} names JavaScript's backtracking RegExp could not decide in 100 ms`] : [] };
}
