// Every long command speaks one protocol: `sensitivity` and `spade` with --json-events write only
// valid RunnerEvents (progress with ETA, the result, run-end last), stop on a cancel line, and
// report a bad recipe as located log events. `init` writes a quickstart that checks clean and runs;
// `--version` is package.json's; the $qrecipe problem matcher of package.json matches what `check`
// and `run` really print.
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isRunnerEvent, type RunnerEvent, type RunRecord } from '../../../language-server/core/protocol/runner';
import { loadModel } from '../../../language-server/core/model/reader';
import { provenanceOf, summarizeModel } from '../../../language-server/core/model/summary';

import { CLI, ROOT, buildCli } from '../quality/common';
const LM = path.join(ROOT, 'test/fixtures/tiny-lm');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; contributes: { problemMatchers: { name: string; pattern: { regexp: string; file: number; line: number; column: number; severity: number; code: number; message: number } }[] } };

before(buildCli); // the tests drive the bundled CLI: make sure it is current

function workspace(recipe: string): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-proto-'));
  mkdirSync(path.join(dir, '.qrecipe'));
  const file = path.join(dir, 'r.qrecipe');
  writeFileSync(file, recipe);
  return { dir, file };
}

const mq = (samples = 4): string => `model "${LM}/model.onnx"
data calib { text "${LM}/data/calib.txt"  samples ${samples}  seqlen 64 }
allocate llm-mq on calib {
  targets "re:layers\\..*_proj"
  budget 3bits
  candidates 2 3 4
  metric hessian
  group 64
}
`;

function run(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every stdout line must be a valid event: the protocol has no second dialect. */
function events(stdout: string): RunnerEvent[] {
  return stdout.split('\n').filter((l) => l.trim()).map((l) => {
    const e: unknown = JSON.parse(l);
    assert.ok(isRunnerEvent(e), `not a valid RunnerEvent: ${l.slice(0, 200)}`);
    return e;
  });
}

test('sensitivity --json-events: progress with an ETA, the result as an event, run-end last; nothing on stderr', () => {
  const { dir, file } = workspace(mq());
  const r = run(['sensitivity', file, '--metrics', 'hessian', '--no-cache', '--json-events'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no progress dialect on stderr');
  const ev = events(r.stdout);
  const progress = ev.filter((e): e is Extract<RunnerEvent, { type: 'progress' }> => e.type === 'progress');
  assert.ok(progress.length >= 28, `${progress.length} progress events`);
  assert.ok(progress.every((p) => p.stage === 'sensitivity'));
  assert.ok(progress.some((p) => p.etaSeconds !== undefined && p.etaSeconds >= 0 && /^layer /.test(p.label ?? '')), 'per-layer progress carries an ETA');
  const result = ev.find((e) => e.type === 'result');
  assert.ok(result && result.type === 'result' && result.command === 'sensitivity');
  assert.equal(result.data.layers.length, 28);
  assert.deepEqual(ev.at(-1), { ...ev.at(-1), type: 'run-end', status: 'succeeded' });
});

test('sensitivity without an allocate stage answers with the samples SPADE can take', () => {
  const { dir, file } = workspace(`model "${LM}/model.onnx"\ndata calib { text "${LM}/data/calib.txt"  samples 4  seqlen 64 }\n`);
  const ev = events(run(['sensitivity', file, '--json-events'], dir).stdout);
  const result = ev.find((e) => e.type === 'result');
  assert.ok(result?.type === 'result' && result.command === 'sensitivity');
  assert.equal(result.data.layers.length, 0);
  assert.ok((result.data.spadeSamples ?? []).length > 0);
});

test('a recipe with errors: located log events with their codes, then run-end failed (exit 1)', () => {
  const { dir, file } = workspace(mq().replace('group 64', 'grup 64'));
  const r = run(['sensitivity', file, '--json-events'], dir);
  assert.equal(r.code, 1);
  const ev = events(r.stdout);
  assert.ok(ev.some((e) => e.type === 'log' && e.level === 'error' && e.code === 'QR102' && e.line === 8 && e.file === file), r.stdout);
  const end = ev.at(-1);
  assert.ok(end?.type === 'run-end' && end.status === 'failed');
});

test('a cancel line on stdin stops sensitivity: run-end cancelled, exit 130', async () => {
  const { dir, file } = workspace(mq(64));
  const child = spawn(process.execPath, [CLI, 'sensitivity', file, '--no-cache', '--json-events'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let sent = false;
  const t0 = Date.now();
  let cancelledAt = 0;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (!sent && out.includes('"type":"progress"')) { sent = true; cancelledAt = Date.now(); child.stdin.write('{"type":"cancel"}\n'); }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ev = events(out);
  assert.ok(sent, 'progress came before the end');
  assert.equal(code, 130);
  const end = ev.at(-1);
  assert.ok(end?.type === 'run-end' && end.status === 'cancelled', out.slice(-300));
  assert.ok(!ev.some((e) => e.type === 'result'));
  assert.ok(Date.now() - cancelledAt < 10_000, `stopped ${Date.now() - cancelledAt} ms after the cancel line (started ${cancelledAt - t0} ms in)`);
});

test('spade --json-events: progress, the trace as a result event, run-end', () => {
  const { dir, file } = workspace(mq());
  const r = run(['spade', file, '--sample', 'The quick brown fox jumps over the lazy dog', '--augment', '2', '--json-events'], dir);
  assert.equal(r.code, 0, r.stderr);
  const ev = events(r.stdout);
  assert.ok(ev.some((e) => e.type === 'progress' && e.stage === 'spade'));
  const result = ev.find((e) => e.type === 'result');
  assert.ok(result?.type === 'result' && result.command === 'spade');
  assert.equal(result.data.layers.length, 28);
  assert.equal(ev.at(-1)?.type, 'run-end');
});

test('init writes the quickstart, which checks clean; a second init refuses to overwrite it', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-init-'));
  const r = run(['init', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const { recipe, files } = JSON.parse(r.stdout) as { recipe: string; files: string[] };
  assert.equal(recipe, path.join(dir, 'qrecipe-quickstart', 'quickstart.qrecipe'));
  assert.deepEqual(files.map((f) => path.relative(path.join(dir, 'qrecipe-quickstart'), f)).sort(), ['data/calib.txt', 'data/heldout.txt', 'model.onnx', 'quickstart.qrecipe']);
  const check = run(['check', recipe], dir);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stderr, /0 errors, 0 warnings/);
  // the bundled recipe is examples/quickstart.qrecipe with local paths: one text, two places
  const example = readFileSync(path.join(ROOT, 'examples/quickstart.qrecipe'), 'utf8');
  assert.equal(readFileSync(recipe, 'utf8'), example.replaceAll('../test/fixtures/tiny-lm/', ''));
  const again = run(['init'], dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists already/);
});

test('init --model writes a recipe for a model of yours that checks clean with the text you name', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-init-'));
  const r = run(['init', 'recipes', '--model', `${LM}/model.onnx`, '--calib', `${LM}/data/calib.txt`, '--heldout', `${LM}/data/heldout.txt`, '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const { recipe } = JSON.parse(r.stdout) as { recipe: string };
  assert.equal(recipe, path.join(dir, 'recipes', 'model.qrecipe'));
  assert.equal(run(['check', recipe], dir).code, 0);
});

test('--version prints package.json\'s version, and `npx qrecipe` runs the CLI (package.json bin)', () => {
  const r = run(['--version'], ROOT);
  assert.equal(r.stdout.trim(), pkg.version);
  const npx = spawnSync('npx', ['--no-install', 'qrecipe', '--version'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(npx.status, 0, npx.stderr);
  assert.equal(npx.stdout.trim(), pkg.version);
});

test('the $qrecipe problem matcher matches what check and run print, with file, line, column, severity and code', () => {
  const matcher = pkg.contributes.problemMatchers.find((m) => m.name === 'qrecipe')!;
  const re = new RegExp(matcher.pattern.regexp);
  const { dir, file } = workspace(mq().replace('group 64', 'grup 64'));
  const outputs = { check: run(['check', file], dir).stdout, run: run(['run', file], dir).stderr };
  for (const [cmd, text] of Object.entries(outputs)) {
    const hits = text.split('\n').map((l) => re.exec(l)).filter((m): m is RegExpExecArray => !!m);
    const typo = hits.find((m) => m[matcher.pattern.code] === 'QR102');
    assert.ok(typo, `${cmd}: no line matched the problem matcher:\n${text}`);
    assert.equal(typo[matcher.pattern.file], file);
    assert.equal(typo[matcher.pattern.line], '8');
    assert.equal(typo[matcher.pattern.severity], 'error');
    assert.match(typo[matcher.pattern.message]!, /grup/);
    assert.ok(Number(typo[matcher.pattern.column]) > 0);
  }
  assert.ok(!existsSync(path.join(dir, '.qrecipe', 'runs')), 'the run stopped before compute');
});

test('export --json-events: a later export speaks the protocol, records its provenance, and Inspect reads it back', async () => {
  const { dir, file } = workspace(`model "${LM}/model.onnx"\nquantize rtn { targets "Linear"  ignore "lm_head"  bits 4  group 64 }\n`);
  const r = run(['run', file, '--json-events'], dir);
  assert.equal(r.code, 0, r.stderr);
  const start = events(r.stdout).find((e) => e.type === 'run-start');
  assert.ok(start?.type === 'run-start');
  const out = path.join(dir, 'w4.onnx');
  const ex = run(['export', start.runId, '--format', 'onnx-matmulnbits', '-o', out, '--json-events'], dir);
  assert.equal(ex.code, 0, ex.stdout + ex.stderr);
  const ev = events(ex.stdout);
  assert.ok(ev.some((e) => e.type === 'artifact' && e.kind === 'export' && e.path === out));
  assert.deepEqual(ev.at(-1), { ...ev.at(-1), type: 'run-end', status: 'succeeded' });
  const record = JSON.parse(readFileSync(path.join(start.runDir, 'run.json'), 'utf8')) as RunRecord;
  assert.equal(record.artifacts.exports.at(-1)?.path, out);
  const s = summarizeModel(await loadModel(out));
  assert.equal(s.quantized.length, 28);
  assert.ok(s.quantized.every((q) => q.encoding === 'MatMulNBits' && q.bits === 4 && q.group === 64));
  assert.deepEqual(Object.fromEntries(provenanceOf(s).map((p) => [p.label, p.value])), {
    'source model': `${LM}/model.onnx`, recipe: file, run: start.runId, format: 'onnx-matmulnbits', 'written by QRecipe': pkg.version,
  });
  assert.deepEqual(record.settings, { 'quantize.method': 'rtn', 'quantize.bits': '4b', 'quantize.group': 'g64', 'quantize.scheme': 'asym' }, 'the run records the settings that name it');
});
