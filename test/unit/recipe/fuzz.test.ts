// Fuzz: ≥ 10,000 seeded mutations of the example and golden recipes (byte flips, insertions,
// deletions, splices of other recipes). For each: the parser is lossless, nothing throws, the
// analysis finishes (a generous per-document bound catches hangs, not slowness), no internal error
// is reported, every diagnostic and fix range lies inside the document, formatting of error-free
// results is idempotent, and completion/hover answer at a random offset.
// QRECIPE_FUZZ_SEED and QRECIPE_FUZZ_COUNT override the seed (default 4) and count (default 10000).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Rng } from '../../../language-server/core/util/rng';
import { parse } from '../../../language-server/core/recipe/parser';
import { print } from '../../../language-server/core/recipe/syntax';
import { analyze } from '../../../language-server/core/recipe/analyze';
import { format } from '../../../language-server/core/recipe/format';
import { LineIndex } from '../../../language-server/core/recipe/diagnostics';
import { complete } from '../../../language-server/server/completion';
import { hover } from '../../../language-server/server/hover';
import { layer, memoryHost, tinyLm } from './synthetic';

const SEED = Number(process.env.QRECIPE_FUZZ_SEED ?? 4);
const COUNT = Number(process.env.QRECIPE_FUZZ_COUNT ?? 10000);
const HANG_MS = 2000;

function corpus(): string[] {
  const dirs = ['examples', 'test/unit/recipe/golden/ok', 'test/unit/recipe/golden/err'].map((d) => path.join(process.cwd(), d));
  return dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.qrecipe')).map((f) => readFileSync(path.join(d, f), 'utf8')));
}

const PIECES = ['{', '}', '"', '#', '\n', '\r\n', ' ', 're:', '2:4', '50%', '2MiB', '3bits', 'on', 'quantize', 'prune', 'data', 'use "x.qrecipe"',
  'override "*" {', 'bits', 'group', '128', '-1', '1e309', '\u0000', '\uFFFF', '\uD800', 'é', '\t', '\\', '"re:(', 'targets', 'ignore'];

function mutate(rng: Rng, src: string, others: string[]): string {
  let s = src;
  const n = 1 + rng.int(4);
  for (let k = 0; k < n; k++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(5)) {
      case 0: s = s.slice(0, at) + String.fromCharCode(rng.int(rng.next() < 0.8 ? 128 : 0x10000)) + s.slice(at + 1); break;
      case 1: s = s.slice(0, at) + PIECES[rng.int(PIECES.length)] + s.slice(at); break;
      case 2: s = s.slice(0, at) + s.slice(at + 1 + rng.int(40)); break;
      case 3: { const o = others[rng.int(others.length)]; const a = rng.int(o.length + 1); s = s.slice(0, at) + o.slice(a, a + rng.int(120)) + s.slice(at); break; }
      default: { const b = rng.int(s.length + 1); const [x, y] = at < b ? [at, b] : [b, at]; s = s.slice(0, x) + s.slice(y) + s.slice(x, y); break; }
    }
  }
  return s;
}

test(`fuzz: ${COUNT} mutated recipes (seed ${SEED})`, async () => {
  const rng = new Rng(SEED);
  const base = corpus();
  const inv = tinyLm(2, [layer('conv1', 16, 9, 'Conv')]);
  const host = memoryHost({ '/work/base.qrecipe': base[0], '/work/x.qrecipe': 'use "x.qrecipe"\n' }, inv, ['/work/']);
  let withErrors = 0;
  let formatted = 0;
  for (let i = 0; i < COUNT; i++) {
    const text = mutate(rng, base[rng.int(base.length)], base);
    const ctx = `case ${i} (seed ${SEED}): ${JSON.stringify(text.slice(0, 300))}`;
    const t0 = performance.now();
    const p = parse(text);
    assert.equal(print(p.tree), text, `lossless: ${ctx}`);
    const a = await analyze('/work/fuzz.qrecipe', text, host);
    for (const d of a.diagnostics) {
      assert.ok(d.start >= 0 && d.start <= d.end && d.end <= text.length, `range ${d.start}..${d.end} of ${text.length}: ${d.code} ${ctx}`);
      assert.notEqual(d.code, 'QR199', `${d.message} ${ctx}`);
      for (const f of d.fixes ?? []) assert.ok(f.start >= 0 && f.start <= f.end && f.end <= text.length, `fix range: ${ctx}`);
    }
    if (a.diagnostics.some((d) => d.severity === 'error')) withErrors++;
    const f = format(text);
    if (f !== undefined) { formatted++; assert.equal(format(f), f, `format idempotent: ${ctx}`); assert.deepEqual(parse(f).errors, [], `format keeps it valid: ${ctx}`); }
    if (i % 10 === 0) {
      const lines = new LineIndex(text);
      const off = rng.int(text.length + 1);
      await complete(p, lines, off, '/work/fuzz.qrecipe', a);
      hover(p, lines, off, a);
    }
    const ms = performance.now() - t0;
    assert.ok(ms < HANG_MS, `took ${ms.toFixed(0)} ms (hang?): ${ctx}`);
  }
  assert.ok(withErrors > COUNT / 4, `mutations produce errors (${withErrors})`);
  assert.ok(formatted > 0, 'some mutations stay valid and are formatted');
});

test('pathological inputs: deep nesting, runs of braces, quotes and junk finish without throwing', async () => {
  const host = memoryHost({}, tinyLm());
  const inputs = [
    'quantize rtn {' + ' override "x" {'.repeat(3000), '{'.repeat(20000), '}'.repeat(20000), '"\n'.repeat(5000), '\u0000\uFFFF'.repeat(10000),
    'quantize rtn { bits 4 }\n'.repeat(2000), 'a '.repeat(20000), `quantize rtn { targets ${'"x" '.repeat(5000)}}`,
  ];
  for (const text of inputs) {
    const p = parse(text);
    assert.equal(print(p.tree), text);
    const a = await analyze('/work/p.qrecipe', text, host);
    assert.ok(a.diagnostics.every((d) => d.end <= text.length && d.code !== 'QR199'));
    const f = format(text);
    if (f !== undefined) assert.equal(format(f), f);
  }
});
