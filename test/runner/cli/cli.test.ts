// The runner as the extension sees it: `node dist/cli.js run FILE --json-events` in its own
// process. Bad recipes stop before any compute with located diagnostics; kill -9 and cancel leave
// a consistent run store; `runs` and `compare` read it.
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunnerEvent, RunRecord } from '../../../language-server/core/protocol/runner';
import { lineSplitter } from '../../../language-server/core/protocol/lines';

const ROOT = path.resolve(__dirname, '../../../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const LM = path.join(ROOT, 'test/fixtures/tiny-lm');

before(() => {
  // The tests drive the bundled CLI, as the extension does: make sure it is current.
  const r = spawnSync(process.execPath, [path.join(ROOT, 'extension/scripts/esbuild.mjs')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

function workspace(recipe: string, name = 'r.qrecipe'): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-ws-'));
  mkdirSync(path.join(dir, '.qrecipe'));
  const file = path.join(dir, name);
  writeFileSync(file, recipe);
  return { dir, file };
}

function events(stdout: string): RunnerEvent[] {
  return stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as RunnerEvent);
}

function runSync(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lmRecipe = (quant: string, extra = ''): string => `model "${LM}/model.onnx"
data calib { text "${LM}/data/calib.txt"  samples 8  seqlen 128 }
data heldout { text "${LM}/data/heldout.txt"  seqlen 256  samples 8 }
${quant}
${extra}`;

test('a recipe with errors fails before any compute, with the diagnostics located at file:line:col', () => {
  const { dir, file } = workspace(lmRecipe('quantize rtn { bits 4  grup 64 }\nquantize gptq on nowhere { bits 3 }'));
  const r = runSync(['run', file, '--json-events'], dir);
  assert.equal(r.code, 1);
  const ev = events(r.stdout);
  assert.ok(!ev.some((e) => e.type === 'run-start' || e.type === 'stage-start'), 'no stage ran');
  const errs = ev.filter((e): e is Extract<RunnerEvent, { type: 'log' }> => e.type === 'log' && e.level === 'error');
  assert.ok(errs.some((e) => e.code === 'QR102' && e.line === 4 && e.file === file), JSON.stringify(errs));
  assert.ok(errs.some((e) => e.code === 'QR112' && e.line === 5), 'unknown data set is reported too');
  const end = ev[ev.length - 1]!;
  assert.equal(end.type, 'run-end');
  assert.equal(end.type === 'run-end' && end.status, 'failed');
  assert.ok(!existsSync(path.join(dir, '.qrecipe', 'runs')), 'no run folder was created');
  // Human mode prints the same, located, on stderr, in the form `check` prints (the problem matcher's).
  const h = runSync(['run', file], dir);
  assert.equal(h.code, 1);
  assert.match(h.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: error QR102: `));
});

test('bad inputs (missing data file, unreadable model) fail before compute', () => {
  const { dir, file } = workspace(`model "${LM}/model.onnx"\ndata calib { text "missing.txt" }\nquantize gptq on calib { bits 4 }\n`);
  const r = runSync(['run', file, '--json-events'], dir);
  assert.equal(r.code, 1);
  const ev = events(r.stdout);
  assert.ok(ev.some((e) => e.type === 'log' && e.code === 'QR116' && e.line === 2), r.stdout);
  assert.ok(!ev.some((e) => e.type === 'run-start'));
  const bad = path.join(dir, 'broken.onnx');
  writeFileSync(bad, 'not a model');
  writeFileSync(file, 'model "broken.onnx"\nquantize rtn { bits 4 }\n');
  const r2 = runSync(['run', file, '--json-events'], dir);
  assert.equal(r2.code, 1);
  assert.ok(events(r2.stdout).some((e) => e.type === 'log' && e.level === 'error' && e.line === 1), r2.stdout);
  assert.ok(!existsSync(path.join(dir, '.qrecipe', 'runs')));
});

/** Starts a run and resolves when `when` sees an event; returns the child and the events so far. */
function startRun(file: string, cwd: string, when: (e: RunnerEvent) => boolean) {
  const child = spawn(process.execPath, [CLI, 'run', file, '--json-events'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const seen: RunnerEvent[] = [];
  const hit = new Promise<RunnerEvent[]>((resolve, reject) => {
    const lines = lineSplitter((line) => {
      const e = JSON.parse(line) as RunnerEvent;
      seen.push(e);
      if (when(e)) resolve(seen);
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => lines.push(d));
    child.on('exit', () => reject(new Error(`runner exited before the event: ${JSON.stringify(seen.slice(-3))}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, hit, exited, seen };
}

test('kill -9 in the middle of a layer loop: the store reports the run failed, with its log, and nothing looks complete', async () => {
  const { dir, file } = workspace(lmRecipe('quantize gptq on calib { targets "re:layers\\\\..*_proj"  bits 4  group 64 }', 'evaluate { perplexity on heldout }\nexport onnx-matmulnbits "out/m.onnx"'));
  const run = startRun(file, dir, (e) => e.type === 'layer');
  const seen = await run.hit;
  run.child.kill('SIGKILL');
  await run.exited;
  const start = seen.find((e) => e.type === 'run-start');
  assert.ok(start && start.type === 'run-start');
  const r = runSync(['runs', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const runs = JSON.parse(r.stdout) as { dir: string; record: RunRecord }[];
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.record.status, 'failed');
  assert.match(runs[0]!.record.error ?? '', /crashed or killed/);
  const files = readdirSync(start.runDir).filter((f) => !f.startsWith('.'));
  assert.deepEqual(files.sort(), ['run.json', 'run.log'], 'only the record and the log (scratch files are hidden temp files)');
  assert.ok(files.includes('run.log') && readFileSync(path.join(start.runDir, 'run.log'), 'utf8').includes('quantize'), 'the log says how far it got');
  assert.ok(!files.includes('quant.bin'), 'no quantisation store of a half run');
  assert.ok(!files.includes('model.onnx'), 'no compressed model of a half run');
  assert.ok(!existsSync(path.join(dir, 'out', 'm.onnx')), 'no export');
  assert.equal(JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')).status, 'failed', 'runs --json repaired the record');
});

test('a cancel line on stdin stops the run cleanly: recorded cancelled, exit 130', async () => {
  const { dir, file } = workspace(lmRecipe('quantize gptq on calib { targets "re:layers\\\\..*_proj"  bits 4  group 64 }', 'evaluate { perplexity on heldout }'));
  const run = startRun(file, dir, (e) => e.type === 'layer');
  const seen = await run.hit;
  run.child.stdin.write('{"type":"cancel"}\n');
  const code = await run.exited;
  assert.equal(code, 130);
  const start = seen.find((e) => e.type === 'run-start');
  assert.ok(start && start.type === 'run-start');
  const rec = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  assert.equal(rec.status, 'cancelled');
  assert.ok(rec.endedAt);
  assert.ok(!readdirSync(start.runDir).some((f) => f.endsWith('.tmp')), 'no temp file left behind');
  const last = run.seen[run.seen.length - 1]!;
  assert.equal(last.type === 'run-end' && last.status, 'cancelled');
});

test('two runs: runs lists them newest first, compare shows deltas and the recipe diff, export packs a run later', () => {
  const { dir, file } = workspace(lmRecipe('quantize rtn { targets "re:layers\\\\..*_proj"  bits 4  group 64 }', 'evaluate { perplexity on heldout }'));
  const a = runSync(['run', file, '--json-events'], dir);
  assert.equal(a.code, 0, a.stdout.slice(-2000));
  writeFileSync(file, lmRecipe('quantize rtn { targets "re:layers\\\\..*_proj"  bits 3  group 64 }', 'evaluate { perplexity on heldout }'));
  const b = runSync(['run', file, '--json-events'], dir);
  assert.equal(b.code, 0, b.stdout.slice(-2000));
  const runs = JSON.parse(runSync(['runs', '--json'], dir).stdout) as { dir: string; record: RunRecord }[];
  assert.equal(runs.length, 2);
  assert.ok(runs.every((r) => r.record.status === 'succeeded' && r.record.metrics.compressed?.perplexity && r.record.metrics.original?.perplexity));
  assert.equal(runs[0]!.record.layers[0]!.bits, 3, 'newest first');
  const c = runSync(['compare', runs[1]!.record.id, runs[0]!.record.id, '--json'], dir);
  assert.equal(c.code, 0, c.stderr);
  const cmp = JSON.parse(c.stdout) as { metrics: { name: string; values: number[]; deltas: number[] }[]; recipeDiff: { op: string; text: string }[] };
  const ppl = cmp.metrics.find((m) => m.name === 'perplexity')!;
  assert.ok(ppl.values[1]! > ppl.values[0]!, `3-bit RTN ${ppl.values[1]} is worse than 4-bit ${ppl.values[0]}`);
  assert.ok(cmp.recipeDiff.some((d) => d.op === '+' && /bits 3/.test(d.text)));
  const text = runSync(['compare', runs[1]!.record.id, 'latest'], dir);
  assert.match(text.stdout, /perplexity/);
  const out = path.join(dir, 'later.onnx');
  const e = runSync(['export', 'latest', '--format', 'onnx-matmulnbits', '-o', out], dir);
  assert.equal(e.code, 0, e.stderr);
  const rec = JSON.parse(readFileSync(path.join(runs[0]!.dir, 'run.json'), 'utf8')) as RunRecord;
  const x = rec.artifacts.exports.at(-1)!;
  assert.equal(x.path, out);
  assert.equal(x.verified, true);
  assert.ok(x.check?.ok, JSON.stringify(x.check));
  assert.ok(x.layers!.every((l) => l.encoding === 'matmulnbits' && l.storedBits === 4), '3-bit codes ride in 4-bit MatMulNBits slots');
});
