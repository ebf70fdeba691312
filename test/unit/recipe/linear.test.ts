// Issue 20 #8: no quadratic paths in parsing, lowering, the checks or compare. Each case times a
// size n and 10n (the best of a few runs: other processes only add time) and requires the ratio to
// look linear (a quadratic path gives ~100x); plus what overflowed the call stack, and the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../language-server/core/recipe/analyze';
import { lineDiff } from '../../../language-server/core/runs/compare';
import { didYouMean } from '../../../language-server/core/recipe/diagnostics';
import { Rng } from '../../../language-server/core/util/rng';
import { allocationBudget } from '../../../language-server/core/sensitivity/recipe-edit';
import { layer, memoryHost, tinyLm } from './synthetic';

const host = memoryHost({}, tinyLm());

async function best(f: () => Promise<unknown> | unknown, runs = 2): Promise<number> {
  let b = Infinity;
  for (let k = 0; k < runs; k++) { const t0 = performance.now(); await f(); b = Math.min(b, performance.now() - t0); }
  return b;
}

async function linear(label: string, make: (n: number) => string, n: number): Promise<void> {
  const small = make(n);
  const big = make(10 * n);
  await analyze('/work/l.qrecipe', small, host); // warm up
  const ts = Math.max(await best(() => analyze('/work/l.qrecipe', small, host)), 1);
  const tb = await best(() => analyze('/work/l.qrecipe', big, host)); // best of two: a load spike only adds time
  assert.ok(tb < 35 * ts, `${label}: ${n} → ${ts.toFixed(0)} ms, ${10 * n} → ${tb.toFixed(0)} ms (${(tb / ts).toFixed(1)}x for 10x the input)`);
}

test('data sets (the duplicate check), stages, overrides and targets scale linearly', async () => {
  await linear('data sets', (n) => 'model "m.onnx"\n' + Array.from({ length: n }, (_, k) => `data d${k} { text "c.txt" }`).join('\n'), 5000);
  await linear('stages', (n) => 'model "m.onnx"\n' + 'quantize rtn { bits 4 }\n'.repeat(n), 1000);
  await linear('overrides', (n) => `model "m.onnx"\nquantize rtn { bits 4\n${Array.from({ length: n }, (_, k) => `override "layers.${k}.x" { bits 8 }`).join('\n')}\n}\n`, 2000);
  await linear('targets', (n) => `model "m.onnx"\nquantize rtn { targets ${Array.from({ length: n }, (_, k) => `"t${k}"`).join(' ')} }\n`, 2000);
  await linear('data references', (n) => `model "m.onnx"\n${Array.from({ length: n }, (_, k) => `data d${k} { text "c.txt" }\nevaluate { perplexity on d${n - 1 - k} }`).join('\n')}\n`, 1000);
});

test('130,000 values on one line, 100,000 layers\' worth of candidates: no stack overflow (push(...) and Math.min(...) are gone)', async () => {
  const a = await analyze('/work/v.qrecipe', `model "m.onnx"\nquantize rtn { targets ${'"x" '.repeat(130_000)}}\n`, host);
  assert.ok(a.diagnostics.length > 130_000 && a.diagnostics.every((d) => d.code !== 'QR199'));
  const b = await analyze('/work/c.qrecipe', `model "m.onnx"\ndata c { text "c.txt" }\nallocate llm-mq on c { budget 3bits candidates ${'3 '.repeat(130_000)}}\n`, host);
  assert.ok(b.diagnostics.every((d) => d.code !== 'QR199'));
  // a model of 130k embedding tables (the tokenizer-vocabulary check) and "Write allocation"'s budget over 130k candidates
  const gathers = Array.from({ length: 130_000 }, (_, k) => layer(`emb${k}`, 10 + (k % 7), 4, 'Gather'));
  const g = await analyze('/work/g.qrecipe', 'model "m.onnx"\nquantize rtn { bits 4 }\n', memoryHost({}, tinyLm(2, gathers)));
  assert.ok(g.diagnostics.every((d) => d.code !== 'QR199'));
  const c = Array.from({ length: 130_000 }, (_, k) => 2 + (k % 7));
  assert.equal(allocationBudget([{ name: 'a', params: 10 }], { a: c }, {}), '2bits');
});

test('imports that fan out (each file uses the next twice, 20 deep) are read once each, not 2^20 times', async () => {
  const files: Record<string, string> = {};
  for (let k = 0; k < 20; k++) files[`/work/i${k}.qrecipe`] = `use "i${k + 1}.qrecipe"\nuse "i${k + 1}.qrecipe"\n`;
  files['/work/i20.qrecipe'] = 'quantize rtn { bits 4 }\n';
  const h = memoryHost(files, tinyLm());
  const t0 = performance.now();
  const a = await analyze('/work/top.qrecipe', 'model "m.onnx"\nuse "i0.qrecipe"\n', h);
  assert.ok(performance.now() - t0 < 2000, `${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(a.imports.length, 21);
});

test('did-you-mean on a 1 MB word or 100k candidates is bounded', () => {
  const t0 = performance.now();
  assert.equal(didYouMean('q'.repeat(1 << 20), ['quantize', 'prune']), undefined);
  didYouMean('layers.0.mlp.up_prj', Array.from({ length: 100_000 }, (_, k) => `layers.${k}.mlp.up_proj`));
  assert.ok(performance.now() - t0 < 1000, `${(performance.now() - t0).toFixed(0)} ms`);
});

/** Applying a diff to its first text gives the second, and its edit count is minimal (LCS). */
function checkDiff(a: string, b: string): void {
  const d = lineDiff(a, b);
  assert.deepEqual(d.filter((l) => l.op !== '+').map((l) => l.text), a.split('\n'));
  assert.deepEqual(d.filter((l) => l.op !== '-').map((l) => l.text), b.split('\n'));
  const x = a.split('\n'), y = b.split('\n');
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  assert.equal(d.filter((l) => l.op !== ' ').length, x.length + y.length - 2 * lcs[0]![0]!, `not minimal: ${JSON.stringify([a, b])}`);
}

test('recipe diff (Myers O(ND)): correct and minimal on random small texts; 50k-line recipes in bounded time', () => {
  const rng = new Rng(3);
  for (let k = 0; k < 400; k++) {
    const line = () => 'abcde'[rng.int(5)]!;
    const a = Array.from({ length: rng.int(12) }, line).join('\n');
    const b = Array.from({ length: rng.int(12) }, line).join('\n');
    checkDiff(a, b);
  }
  const base = Array.from({ length: 50_000 }, (_, k) => `override "layers.${k}.x" { bits ${2 + (k % 7)} }`);
  const edited = base.map((l, k) => (k % 5000 === 0 ? l.replace('bits', 'bits 8 #') : l));
  let t0 = performance.now();
  const d = lineDiff(base.join('\n'), edited.join('\n'));
  assert.equal(d.filter((l) => l.op === '-').length, 10);
  assert.ok(performance.now() - t0 < 2000, `few edits: ${(performance.now() - t0).toFixed(0)} ms`);
  // two unrelated 50k-line recipes: bounded, still a correct diff
  const other = Array.from({ length: 50_000 }, (_, k) => `data d${k} { text "f${k}.txt" }`);
  t0 = performance.now();
  const all = lineDiff(base.join('\n'), other.join('\n'));
  assert.ok(performance.now() - t0 < 5000, `all different: ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(all.filter((l) => l.op === '-').length, 50_000);
  assert.equal(all.filter((l) => l.op === '+').length, 50_000);
});

test('qrecipe check on 10 MB of random bytes: at most 1,000 lines printed, the rest counted (issue 20 #9)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const rng = new Rng(9);
  const bytes = new Uint8Array(10 << 20);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'qr-junk-')), 'junk.qrecipe');
  writeFileSync(file, bytes);
  const r = spawnSync(process.execPath, ['dist/cli.js', 'check', file], { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 120_000 });
  assert.equal(r.status, 1);
  assert.equal(r.stdout.trim().split('\n').length, 1000);
  assert.match(r.stderr, /errors?, \d+ warnings? \(the first 1000 shown, [\d,]+ more not printed\)/);
});
