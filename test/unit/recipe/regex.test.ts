// The linear-time pattern engine (language-server/core/recipe/regex.ts) and the glob matcher:
// Python re.match semantics on the syntax llm-compressor recipes use, refusals with their reason,
// and bounded time on the patterns that freeze a backtracking engine (issue 20, point 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinearRegex } from '../../../language-server/core/recipe/regex';
import { compilePattern, globMatcher, isCompiled, layerIndex } from '../../../language-server/core/recipe/patterns';
import { MAX_REGEX_DFA_STATES } from '../../../language-server/core/util/limits';
import { fuzzPatterns } from '../../fuzz/patterns';
import { layer } from './synthetic';

function re(p: string): LinearRegex {
  const r = LinearRegex.compile(p);
  assert.ok(r instanceof LinearRegex, `${p}: ${(r as { error: string }).error}`);
  return r;
}

test('re.match semantics: anchored at the start, not at the end; classes, escapes, groups, counts', () => {
  const cases: [string, string, boolean][] = [
    ['.*_proj', 'layers.0.attn.q_proj', true],
    ['layers\\.\\d+\\.mlp', 'layers.12.mlp.up_proj', true],
    ['layers\\.\\d+\\.mlp', 'model.layers.12.mlp', false], // from the start only
    ['mlp', 'layers.0.mlp', false],
    ['.*self_attn\\.(q|k|v)_proj$', 'model.layers.3.self_attn.k_proj', true],
    ['.*self_attn\\.(q|k|v)_proj$', 'model.layers.3.self_attn.o_proj', false],
    ['.*(?:up|down)_proj', 'x.down_proj', true],
    ['(?P<blk>layers)\\.[0-3]\\.', 'layers.2.attn', true],
    ['(?<blk>layers)\\.[0-3]\\.', 'layers.4.attn', false],
    ['lm_head$', 'lm_head', true],
    ['lm_head$', 'lm_head2', false],
    ['\\Alm_head\\Z', 'lm_head', true],
    ['a{2,3}b', 'aab', true],
    ['a{2,3}b', 'ab', false],
    ['a{,2}b', 'b', true], // Python's {,m}
    ['a{2}', 'a{2}', false],
    ['x{', 'x{', true], // a brace that is not a count is a literal
    ['[^.]+\\.w', 'conv1.w_0', true],
    ['[\\d_]+$', '12_3', true],
    ['[a\\-z]', '-', true],
    ['.', '\n', false],
    ['\\bup', 'up_proj', true],
    ['.*\\bproj', 'x.proj', true],
    ['.*\\bproj', 'x_proj', false],
    ['.*\\Bproj', 'x_proj', true],
    ['(?#a comment)lm', 'lm_head', true],
    ['', 'anything', true],
    ['a|', 'b', true],
    ['(a*)*$', 'aaa', true],
    ['\\x41\\u0042', 'AB', true],
    ['(a+)+$', 'aaaab', false],
  ];
  for (const [p, name, want] of cases) assert.equal(re(p).matchesPrefix(name), want, `re:${p} on ${JSON.stringify(name)}`);
});

test('refused with the reason: back-references, look-around, conditionals, flags, possessive, oversized', () => {
  const cases: [string, RegExp][] = [
    ['(a)\\1', /back-reference \\1 .*refused.*linear time/],
    ['(?P<x>a)(?P=x)', /back-reference \(\?P=/],
    ['(?<x>a)\\k<x>', /back-reference \\k/],
    ['a(?=b)', /look-around \(\?=/],
    ['a(?!b)', /look-around \(\?!/],
    ['(?<=a)b', /look-around \(\?<=/],
    ['(?<!a)b', /look-around \(\?<!/],
    ['(?(1)a|b)', /conditional/],
    ['(?i)lm_head', /inline flags/],
    ['a++', /possessive/],
    ['a{1001}', /repeat count above 1000/],
    ['((a{1000}){1000}){1000}', /expands to .* instructions/],
    ['x'.repeat(5000), /5000 characters long/],
    ['(ab', /missing \), unterminated subpattern at position 0/],
    ['ab)', /unbalanced parenthesis/],
    ['[ab', /unterminated character set/],
    ['*a', /nothing to repeat at position 0/],
    ['a**', /multiple repeat/],
    ['\\q', /bad escape \\q/],
    ['[z-a]', /bad character range/],
  ];
  for (const [p, why] of cases) {
    const r = LinearRegex.compile(p);
    assert.ok(!(r instanceof LinearRegex), `${p} should be refused`);
    assert.match(r.error, why, p);
  }
  // and the pattern layer reports them as its error (QR115 in the checker)
  const c = compilePattern('re:(a)\\1');
  assert.ok(!isCompiled(c) && /back-reference/.test(c.error));
});

test('the patterns that freeze a backtracking engine finish in linear time (issue 20 #2)', () => {
  const names = [...Array.from({ length: 4 }, (_, b) => ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'].map((p) => `layers.${b}.${p}`)).flat(), 'lm_head'];
  const long = 'a'.repeat(20000) + 'b';
  const pats: [string, string][] = [
    ['(a+)+$', long], ['(a|a)*$', long], ['(a*)*b$', 'a'.repeat(20000)], ['(.*)*_projx$', names[0]!], ['(.*a){20}', long],
    ['(x+x+)+y', 'x'.repeat(20000)], ['(\\w+\\.)*\\w+$', `${'a.'.repeat(10000)}!`],
  ];
  const t0 = performance.now();
  for (const [p, name] of pats) {
    const r = re(p);
    r.matchesPrefix(name);
    for (const n of names) r.matchesPrefix(n);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 1500, `pathological patterns took ${ms.toFixed(0)} ms`);
  // against the tiny LM's names, the 6.5-s pattern is now instant
  const idx = layerIndex(names.map((n) => layer(n, 8, 8)));
  const c = compilePattern('re:(.*)*_projx$');
  assert.ok(isCompiled(c));
  const t1 = performance.now();
  assert.deepEqual(idx.match(c), []);
  assert.ok(performance.now() - t1 < 100);
});

test('linear in the name: 10x the length costs about 10x, not 100x', () => {
  const r = re('(a|aa)*(b|ab)*c$');
  // the best of several runs: other processes on the machine only ever add time
  const time = (n: number): number => {
    const s = 'ab'.repeat(n);
    let best = Infinity;
    for (let k = 0; k < 7; k++) {
      const t0 = performance.now();
      r.matchesPrefix(s);
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  };
  time(2000); // build the DFA states
  const small = Math.max(time(20000), 0.05);
  const big = time(200000);
  assert.ok(big < small * 40, `200k: ${big.toFixed(2)} ms, 20k: ${small.toFixed(2)} ms`);
});

test('the lazy DFA keeps a bounded number of states (memory), and stays correct after starting over', () => {
  // (a|b)*a(a|b){11}: the classic exponential DFA (2^12 states)
  const r = re('(a|b)*a(a|b){11}$');
  let s = 12345;
  const rnd = (): number => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s; };
  for (let k = 0; k < 300; k++) {
    const name = Array.from({ length: 40 }, () => (rnd() & 1 ? 'a' : 'b')).join('');
    assert.equal(r.matchesPrefix(name), /^(?:(a|b)*a(a|b){11}$)/.test(name), name);
    assert.ok(r.dfaStates <= MAX_REGEX_DFA_STATES);
  }
});

test('globs: whole name, `*` and `?`, linear (the issue\'s "*x*x*x*x*x*x*x*y")', () => {
  const cases: [string, string, boolean][] = [
    ['layers.*.mlp.*', 'layers.3.mlp.up_proj', true],
    ['layers.*.mlp.*', 'layers.3.attn.q_proj', false],
    ['*_proj', 'a.q_proj', true],
    ['*_proj', 'a.q_proj.x', false],
    ['layers.?.attn*', 'layers.1.attn.o', true],
    ['layers.?.attn*', 'layers.10.attn.o', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'acb', false],
    ['**', '', true],
    ['?', '', false],
    ['a**b', 'ab', true],
    ['*a*a*', 'a', false],
    ['[x]*', '[x]y', true], // no character classes in globs: brackets are literal
  ];
  for (const [g, name, want] of cases) assert.equal(globMatcher(g)(name), want, `${g} on ${name}`);
  const m = globMatcher('*x*x*x*x*x*x*x*y');
  const t0 = performance.now();
  for (let k = 0; k < 50; k++) assert.equal(m('x'.repeat(5000)), false);
  assert.ok(performance.now() - t0 < 500, `${(performance.now() - t0).toFixed(0)} ms`);
  const c = compilePattern('*' + 'x*'.repeat(3000) + 'y');
  assert.ok(isCompiled(c) && c.kind === 'glob' && !c.test(layer('x'.repeat(20000), 1, 1)));
});

test('fuzz (short): random regular expressions agree with JavaScript, random globs with a reference', () => {
  // bounded by time (JavaScript's side may spend up to 100 ms on a case it cannot decide)
  const r = fuzzPatterns(20, performance.now() + 3000, 3000);
  assert.ok(r.cases >= 100, `only ${r.cases} cases`);
  assert.deepEqual(r.failures, [], `seed ${r.seed}`);
});
