// Issue 20 #1: an export path cannot point anywhere. Every path a run or `qrecipe export` writes is
// resolved (links too) and must stay inside the workspace (the recipe's folder for the CLI) unless
// --allow-outside; never the model, the recipe or the run store; an existing file is replaced only
// with --force, unless it is an earlier export of the workspace's runs. `check` flags the same
// paths (QR130/QR131) at the export path's range, and a refused run writes nothing at all.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunnerEvent } from '../../../language-server/core/protocol/runner';
import { writeMlpModel } from '../helpers';

import { CLI, buildCli } from '../quality/common';

before(buildCli); // the tests drive the bundled CLI: make sure it is current

function cli(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string; events: RunnerEvent[] } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  const events = args.includes('--json-events') ? r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RunnerEvent) : [];
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, events };
}

/** A workspace with a small MLP model and a recipe exporting to `exportPath`. */
async function ws(exportPath: string): Promise<{ dir: string; recipe: string; model: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-confine-'));
  mkdirSync(path.join(dir, '.qrecipe'));
  const model = path.join(dir, 'm.onnx');
  await writeMlpModel(model);
  const recipe = path.join(dir, 'r.qrecipe');
  writeFileSync(recipe, `model "m.onnx"\nquantize rtn { bits 8  group channel }\nexport onnx-fakequant ${JSON.stringify(exportPath)}\n`);
  return { dir, recipe, model };
}

const runsOf = (dir: string): string[] => (existsSync(path.join(dir, '.qrecipe', 'runs')) ? readdirSync(path.join(dir, '.qrecipe', 'runs')) : []);

test('an absolute path outside the workspace: QR130 at the path, the run writes nothing, the victim is untouched (the issue\'s ~/.bashrc)', async () => {
  const outside = mkdtempSync(path.join(os.tmpdir(), 'qr-victim-'));
  const victim = path.join(outside, '.bashrc');
  writeFileSync(victim, 'echo original\n');
  const { dir, recipe } = await ws(victim);
  const check = cli(['check', recipe], dir);
  assert.equal(check.code, 1);
  assert.match(check.stdout, /r\.qrecipe:3:23: error QR130: The export .*\.bashrc is outside the workspace .*--allow-outside/);
  const r = cli(['run', recipe, '--json-events'], dir);
  assert.equal(r.code, 1);
  assert.ok(!r.events.some((e) => e.type === 'run-start'), 'nothing ran');
  const end = r.events.at(-1)!;
  assert.ok(end.type === 'run-end' && end.status === 'failed');
  assert.equal(readFileSync(victim, 'utf8'), 'echo original\n');
  assert.deepEqual(runsOf(dir), [], 'no run folder');
});

test('relative ../../ paths create no folder outside; a link in the path that leads outside counts as outside', async () => {
  const { dir, recipe } = await ws('../../qr-escape-dir/sub/x.onnx');
  const r = cli(['run', recipe], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /QR130/);
  assert.ok(!existsSync(path.resolve(dir, '../../qr-escape-dir')));
  const outside = mkdtempSync(path.join(os.tmpdir(), 'qr-linked-'));
  const w2 = await ws('out/x.onnx');
  symlinkSync(outside, path.join(w2.dir, 'out'));
  const c = cli(['check', w2.recipe], w2.dir);
  assert.match(c.stdout, /QR130: The export .*out\/x\.onnx \(resolves to .*qr-linked-.*\/x\.onnx\) is outside the workspace/);
  assert.equal(cli(['run', w2.recipe], w2.dir).code, 1);
  assert.deepEqual(readdirSync(outside), []);
});

test('never the model, the recipe itself, or the run store: QR131, and --allow-outside --force do not change that', async () => {
  for (const target of ['m.onnx', 'r.qrecipe', '.qrecipe/runs/x/run.json']) {
    const { dir, recipe, model } = await ws(target);
    const before = readFileSync(model);
    const c = cli(['check', recipe], dir);
    assert.match(c.stdout, /error QR131: The export .* (an input of this recipe|inside the run store)/, target);
    const r = cli(['run', recipe, '--allow-outside', '--force'], dir);
    assert.equal(r.code, 1, target);
    assert.equal(readFileSync(model).toString('base64'), before.toString('base64'));
    assert.match(readFileSync(recipe, 'utf8'), /^model "m\.onnx"/);
  }
});

test('an existing file is replaced only with --force (QR401, before any compute; not a confinement problem); --allow-outside writes outside', async () => {
  const { dir, recipe } = await ws('out/x.onnx');
  mkdirSync(path.join(dir, 'out'));
  writeFileSync(path.join(dir, 'out', 'x.onnx'), 'precious');
  const r = cli(['run', recipe, '--json-events'], dir);
  assert.equal(r.code, 1);
  assert.ok(!r.events.some((e) => e.type === 'write-refused'), 'inside the workspace: only the --force rule applies');
  assert.ok(r.events.some((e) => e.type === 'log' && e.code === 'QR401'), JSON.stringify(r.events.slice(-3)));
  // the run's QR401 is its error; the checker's warning of the same file is not repeated
  assert.deepEqual(r.events.filter((e) => e.type === 'log' && e.code === 'QR401').map((e) => e.type === 'log' && e.level), ['error']);
  assert.equal(readFileSync(path.join(dir, 'out', 'x.onnx'), 'utf8'), 'precious');
  assert.deepEqual(runsOf(dir), [], 'nothing was run');
  // qrecipe check warns of it (exit 0: a warning)
  const c = cli(['check', recipe], dir);
  assert.equal(c.code, 0, c.stdout);
  assert.match(c.stdout, /warning QR401: .*out\/x\.onnx exists already: a run will ask/);
  const forced = cli(['run', recipe, '--force', '--json-events'], dir);
  assert.equal(forced.code, 0);
  assert.ok(!forced.events.some((e) => e.type === 'log' && e.code === 'QR401'), 'given --force, no QR401 at all');
  assert.notEqual(readFileSync(path.join(dir, 'out', 'x.onnx'), 'utf8'), 'precious');
  // --force never lifts the confinement: the recipe itself stays refused
  writeFileSync(recipe, readFileSync(recipe, 'utf8').replace('"out/x.onnx"', '"r.qrecipe"'));
  const self = cli(['run', recipe, '--force', '--allow-outside'], dir);
  assert.equal(self.code, 1);
  // outside, with consent
  const outside = path.join(mkdtempSync(path.join(os.tmpdir(), 'qr-out-')), 'y.onnx');
  const w2 = await ws(outside);
  assert.equal(cli(['run', w2.recipe], w2.dir).code, 1);
  const ok = cli(['run', w2.recipe, '--allow-outside'], w2.dir);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(existsSync(outside));
});

test('qrecipe export RUN -o <run>/model.onnx is refused; outside the current folder needs --allow-outside; existing needs --force', async () => {
  const { dir, recipe } = await ws('out/x.onnx');
  assert.equal(cli(['run', recipe], dir).code, 0);
  const [id] = runsOf(dir);
  const runDir = path.join(dir, '.qrecipe', 'runs', id!);
  const modelBefore = readFileSync(path.join(runDir, 'model.onnx'));
  const e1 = cli(['export', 'latest', '--format', 'onnx-qdq', '-o', path.join(runDir, 'model.onnx')], dir);
  assert.equal(e1.code, 1);
  assert.match(e1.stderr, /inside the run store/);
  assert.equal(readFileSync(path.join(runDir, 'model.onnx')).toString('base64'), modelBefore.toString('base64'));
  const e2 = cli(['export', 'latest', '--format', 'onnx-qdq', '-o', path.join(dir, 'm.onnx')], dir);
  assert.match(e2.stderr, /an input of this recipe/);
  const away = path.join(mkdtempSync(path.join(os.tmpdir(), 'qr-exp-')), 'q.onnx');
  const e3 = cli(['export', 'latest', '--format', 'onnx-qdq', '-o', away], dir);
  assert.equal(e3.code, 1);
  assert.match(e3.stderr, /outside the workspace.*--allow-outside/);
  assert.equal(cli(['export', 'latest', '--format', 'onnx-qdq', '-o', away, '--allow-outside'], dir).code, 0);
  writeFileSync(path.join(dir, 'keep.onnx'), 'keep');
  const e4 = cli(['export', 'latest', '--format', 'onnx-qdq', '-o', 'keep.onnx'], dir);
  assert.match(e4.stderr, /keep\.onnx exists, nothing was exported: give --force/);
  assert.equal(readFileSync(path.join(dir, 'keep.onnx'), 'utf8'), 'keep');
  assert.equal(cli(['export', 'latest', '--format', 'onnx-qdq', '-o', 'keep.onnx', '--force'], dir).code, 0);
});

test('a run store that a link in the workspace leads out of (a planted .qrecipe link): run and export refuse it, nothing is written or swept there; --allow-outside follows it', async () => {
  const { dir, recipe } = await ws('out/m8.onnx');
  const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'qr-elsewhere-'));
  // what the sweep would remove if it ran there: a scratch folder of something that is not a run
  mkdirSync(path.join(elsewhere, 'runs', 'project', '.scratch'), { recursive: true });
  writeFileSync(path.join(elsewhere, 'runs', 'project', '.scratch', 'work.bin'), 'keep');
  const dotq = path.join(dir, '.qrecipe');
  spawnSync('rmdir', [dotq]);
  symlinkSync(elsewhere, dotq);
  const r = cli(['run', recipe, '--json-events'], dir);
  assert.equal(r.code, 1, r.stderr);
  const refused = r.events.find((e) => e.type === 'write-refused');
  assert.ok(refused && refused.type === 'write-refused' && refused.problems.some((p) => /run store .* resolves to .*outside the workspace/.test(p.message)), JSON.stringify(r.events.slice(-3)));
  assert.equal(r.events.at(-1)?.type, 'run-end');
  assert.deepEqual(readdirSync(path.join(elsewhere, 'runs')), ['project'], 'no run folder written through the link');
  assert.ok(existsSync(path.join(elsewhere, 'runs', 'project', '.scratch', 'work.bin')), 'nothing swept through the link');
  assert.ok(!existsSync(path.join(dir, 'out')));
  const e = cli(['export', 'latest', '--format', 'onnx-fakequant', '-o', 'x.onnx'], dir);
  assert.notEqual(e.code, 0);
  assert.ok(existsSync(path.join(elsewhere, 'runs', 'project', '.scratch', 'work.bin')));
  // the user's consent follows it (and still sweeps only run folders)
  const ok = cli(['run', recipe, '--allow-outside'], dir);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(readdirSync(path.join(elsewhere, 'runs')).length, 2);
  assert.ok(existsSync(path.join(elsewhere, 'runs', 'project', '.scratch', 'work.bin')));
});
