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

import { CLI, ROOT, buildCli } from '../quality/common';
const LM = path.join(ROOT, 'test/fixtures/tiny-lm');

before(() => {
  // The tests drive the bundled CLI, as the extension does: make sure it is current.
  buildCli();
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
  const ppl = cmp.metrics.find((m) => m.name === 'perplexity@heldout')!; // one row per (metric, data set): core/format/metrics.ts
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

test('issue #19 defect 7: an export never replaces a file without --force; each run keeps its own export (run folder copy + sha256) when a later run writes the same path; re-run uses the stored recipe', async () => {
  const { createHash } = await import('node:crypto');
  const sha = (f: string): string => createHash('sha256').update(new Uint8Array(readFileSync(f))).digest('hex');
  const out = 'out/m.onnx';
  const { dir, file } = workspace(lmRecipe('quantize rtn { targets "re:layers\\\\.0\\\\..*"  bits 4  group 64 }', `export onnx-matmulnbits "${out}"`));
  const first = runSync(['run', file, '--json-events'], dir);
  assert.equal(first.code, 0, first.stdout.slice(-2000));
  const runDir = (stdout: string): string => (events(stdout).find((e) => e.type === 'run-start') as Extract<RunnerEvent, { type: 'run-start' }>).runDir;
  const d1 = runDir(first.stdout);
  const r1 = JSON.parse(readFileSync(path.join(d1, 'run.json'), 'utf8')) as RunRecord;
  const x1 = r1.artifacts.exports[0]!;
  assert.equal(x1.path, path.join(dir, out));
  assert.equal(x1.runCopy, path.join('exports', '0', 'm.onnx'));
  assert.equal(sha(path.join(d1, x1.runCopy!)), x1.sha256, 'the run copy is the recorded file');
  assert.equal(sha(x1.path), x1.sha256, 'the requested path holds the same file');
  assert.ok(Math.abs(x1.predictedBytes! - x1.bytes) / x1.bytes < 0.01, `predicted ${x1.predictedBytes} vs ${x1.bytes}`);
  // the recipe on disk changes (8 bits now); a second run to the same path stops before any compute
  // (QR401 at the export line, no run folder), the file untouched, until --force is given
  writeFileSync(file, readFileSync(file, 'utf8').replace('bits 4', 'bits 8'));
  const runsBefore = readdirSync(path.dirname(d1)).length;
  const refused = runSync(['run', file, '--json-events'], dir);
  assert.equal(refused.code, 1, refused.stdout.slice(-2000));
  const rev = events(refused.stdout);
  assert.ok(!rev.some((e) => e.type === 'run-start' || e.type === 'stage-start'), 'nothing ran');
  const qr401 = rev.find((e): e is Extract<RunnerEvent, { type: 'log' }> => e.type === 'log' && e.code === 'QR401');
  assert.ok(qr401 && qr401.file === file && qr401.line === 5 && qr401.message.includes(x1.path) && /--force/.test(qr401.message), JSON.stringify(qr401));
  assert.equal(readdirSync(path.dirname(d1)).length, runsBefore, 'no run folder');
  assert.equal(sha(x1.path), x1.sha256, 'the file at the path is untouched');
  const human = runSync(['run', file], dir);
  assert.equal(human.code, 1);
  assert.match(human.stderr, new RegExp(`r\\.qrecipe:5:\\d+: error QR401: .*m\\.onnx`), human.stderr);
  // qrecipe export to an existing file: refused likewise (nothing recorded), replaced with --force
  const recBefore = readFileSync(path.join(d1, 'run.json'), 'utf8');
  const ex = runSync(['export', r1.id, '--format', 'onnx-qdq', '-o', out, '--json-events'], dir);
  assert.equal(ex.code, 1);
  const exEnd = events(ex.stdout).at(-1)!;
  assert.ok(exEnd.type === 'run-end' && exEnd.status === 'failed' && /exists.*--force/.test(exEnd.error ?? ''), JSON.stringify(exEnd));
  assert.equal(sha(x1.path), x1.sha256, 'qrecipe export left the file');
  assert.equal(readFileSync(path.join(d1, 'run.json'), 'utf8'), recBefore, 'and the record');
  const second = runSync(['run', file, '--force', '--json-events'], dir);
  assert.equal(second.code, 0, second.stdout.slice(-2000));
  assert.notEqual(sha(x1.path), x1.sha256, 'the path now holds the second run\'s export');
  assert.equal(sha(path.join(d1, x1.runCopy!)), x1.sha256, 'the first run still has its own');
  // re-run of the first run: its stored recipe (4 bits), not the file as it is now (8 bits)
  const again = runSync(['run', '--rerun', r1.id, '--force', '--json-events'], dir);
  assert.equal(again.code, 0, again.stdout.slice(-2000));
  const r3 = JSON.parse(readFileSync(path.join(runDir(again.stdout), 'run.json'), 'utf8')) as RunRecord;
  assert.equal(r3.rerunOf, r1.id);
  assert.equal(r3.recipeText, r1.recipeText);
  assert.ok(r3.layers.every((l) => l.bits === 4), JSON.stringify(r3.layers.map((l) => l.bits)));
  // the same recipe on the same model gives the same codes (the exports differ in their provenance: the run id)
  assert.equal(sha(path.join(runDir(again.stdout), r3.artifacts.quant!)), sha(path.join(d1, r1.artifacts.quant!)));
});

test('two export stages of one run to one path: the second replaces the first\'s file without --force (the run wrote it), each keeps its run copy', async () => {
  const { createHash } = await import('node:crypto');
  const sha = (f: string): string => createHash('sha256').update(new Uint8Array(readFileSync(f))).digest('hex');
  const { dir, file } = workspace(lmRecipe('quantize rtn { targets "re:layers\\\\.0\\\\..*"  bits 4  group 64 }', 'export onnx-qdq "out/two.onnx"\nexport onnx-matmulnbits "out/two.onnx"'));
  const r = runSync(['run', file, '--json-events'], dir);
  assert.equal(r.code, 0, r.stdout.slice(-2000));
  const start = events(r.stdout).find((e) => e.type === 'run-start') as Extract<RunnerEvent, { type: 'run-start' }>;
  const rec = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  const [a, b] = rec.artifacts.exports;
  assert.deepEqual([a!.format, b!.format], ['onnx-qdq', 'onnx-matmulnbits']);
  assert.notEqual(a!.sha256, b!.sha256);
  assert.equal(sha(path.join(dir, 'out/two.onnx')), b!.sha256, 'the path holds the last export');
  assert.equal(sha(path.join(start.runDir, a!.runCopy!)), a!.sha256, 'the first is kept in the run');
});
