// Issue 20 #4: a run store that survives damage. Broken records are listed as broken with the
// reason and never hide or break the others (CLI `runs`, `findRun`); stale `running` records are
// decided by pid and process start time, so a reused pid does not keep a dead run "running".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { scanRuns, listRuns, readRun, findRun, BrokenRunError, writeRecord, linkedOut } from '../../../language-server/core/runs/store';
import { validateRecord } from '../../../language-server/core/runs/record-schema';
import { processStartToken } from '../../../language-server/core/util/process';
import { fuzzRunRecords, sampleRecord } from '../../fuzz/run-records';

function store(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'runs-damage-'));
}
function put(root: string, id: string, text: string): string {
  const dir = path.join(root, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'run.json'), text);
  return dir;
}

test('the issue\'s records: wrong types, invalid JSON, empty — listed as broken with the reason, the others intact', async () => {
  const root = store();
  put(root, '20260101-000000-good', JSON.stringify(sampleRecord('20260101-000000-good', '2026-01-01T00:00:00Z')));
  put(root, '20260102-000000-types', JSON.stringify({ ...sampleRecord('x', '2026-01-02T00:00:00Z'), startedAt: 42 }));
  put(root, '20260103-000000-json', '{"id": "x", "status": ');
  put(root, '20260104-000000-empty', '');
  put(root, '20260105-000000-metric', JSON.stringify(sampleRecord('20260105-000000-metric', '2026-01-05T00:00:00Z', { metrics: { compressed: { perplexity: 'low' as unknown as number } } })));
  put(root, '20260106-000000-path', JSON.stringify(sampleRecord('20260106-000000-path', '2026-01-06T00:00:00Z', { artifacts: { exports: [], log: 'run.log', compressedModel: '../../victim.onnx' } })));
  const { runs, broken } = await scanRuns(root);
  assert.deepEqual(runs.map((r) => r.record.id), ['20260101-000000-good']);
  const why = Object.fromEntries(broken.map((b) => [b.id, b.reason]));
  assert.match(why['20260102-000000-types']!, /startedAt is 42, not a string/);
  assert.match(why['20260103-000000-json']!, /not valid JSON/);
  assert.match(why['20260104-000000-empty']!, /run\.json is empty/);
  assert.match(why['20260105-000000-metric']!, /metrics\.compressed\.perplexity is "low", not a number/);
  assert.match(why['20260106-000000-path']!, /artifacts\.compressedModel .* is not a path inside the run folder/);
  // finding a broken run says why; others are still found
  await assert.rejects(findRun(root, '20260103-000000-json'), (e: Error) => e instanceof BrokenRunError && /not valid JSON/.test(e.message));
  assert.equal((await findRun(root, 'latest')).record.id, '20260101-000000-good');
});

test('the folder names the run: a copied folder or a record claiming another id (or a path) is listed under its folder, none hides another', async () => {
  const root = store();
  const a = sampleRecord('20260101-000000-a', '2026-01-01T00:00:00Z');
  put(root, '20260101-000000-a', JSON.stringify(a));
  put(root, '20260101-000000-a-copy', JSON.stringify(a));
  put(root, '20260102-000000-b', JSON.stringify(sampleRecord('../../etc/passwd', '2026-01-02T00:00:00Z')));
  const { runs, broken } = await scanRuns(root);
  assert.deepEqual(broken, []);
  assert.deepEqual(runs.map((r) => r.record.id), ['20260102-000000-b', '20260101-000000-a-copy', '20260101-000000-a']);
  for (const r of runs) assert.equal(r.record.id, path.basename(r.dir));
  assert.equal((await findRun(root, '20260101-000000-a')).dir, path.join(root, '20260101-000000-a'));
});

test('qrecipe runs lists broken runs after the others and exits 0; --json marks them', () => {
  const root = store();
  put(root, '20260101-000000-good', JSON.stringify(sampleRecord('20260101-000000-good', '2026-01-01T00:00:00Z')));
  put(root, '20260102-000000-bad', JSON.stringify({ id: 3 }));
  const r = spawnSync(process.execPath, ['dist/cli.js', 'runs', '--runs', root], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^20260101-000000-good\s+succeeded/);
  assert.match(lines[1]!, /^20260102-000000-bad\s+broken\s+run\.json does not hold a run record: id is 3, not a string/);
  const j = JSON.parse(spawnSync(process.execPath, ['dist/cli.js', 'runs', '--json', '--runs', root], { encoding: 'utf8' }).stdout) as { id?: string; broken?: string; record?: unknown }[];
  assert.equal(j.length, 2);
  assert.ok(j[0]!.record && j[1]!.broken);
});

test('stale running: a dead pid, and a live pid that is another process (reused), read as failed; the runner itself stays running', async () => {
  const root = store();
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const started = new Date(Date.now() - 60_000).toISOString();
  const dirs = {
    dead: put(root, 'a-dead', JSON.stringify(sampleRecord('a-dead', started, { status: 'running', pid: dead }))),
    // our pid with a start token of another process: pid reused
    reused: put(root, 'b-reused', JSON.stringify(sampleRecord('b-reused', started, { status: 'running', pid: process.pid, pidStart: 'linux:another-boot:1' }))),
    // an older record without a token, naming a process that started after the record was written
    legacy: put(root, 'c-legacy', JSON.stringify(sampleRecord('c-legacy', '2000-01-01T00:00:00Z', { status: 'running', pid: process.pid }))),
    live: put(root, 'd-live', JSON.stringify(sampleRecord('d-live', started, { status: 'running', pid: process.pid, pidStart: processStartToken(process.pid) }))),
  };
  const status = async (d: string) => (await readRun(d)).status;
  assert.equal(await status(dirs.dead), 'failed');
  if (processStartToken(process.pid)) {
    assert.equal(await status(dirs.reused), 'failed');
    assert.equal(await status(dirs.legacy), 'failed');
  }
  assert.equal(await status(dirs.live), 'running');
  // repair writes the verdict back so every reader agrees
  await listRuns(root, { repair: true });
  assert.equal(JSON.parse(readFileSync(path.join(dirs.dead, 'run.json'), 'utf8')).status, 'failed');
  assert.equal(JSON.parse(readFileSync(path.join(dirs.live, 'run.json'), 'utf8')).status, 'running');
});

test('what the runner writes validates, pid start token included', async () => {
  const root = store();
  const dir = path.join(root, 'r');
  mkdirSync(dir);
  const rec = sampleRecord('r', new Date().toISOString(), { pidStart: processStartToken(process.pid) });
  await writeRecord(dir, rec);
  assert.ok('record' in validateRecord(JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8'))));
});

test('fuzz (short): damaged records never hide or break the intact ones', async () => {
  const r = await fuzzRunRecords(7, store(), performance.now() + 3000, 300);
  assert.ok(r.cases >= 50, `only ${r.cases} cases`);
  assert.deepEqual(r.failures, []);
});

test('a fine-tuning record validates; a malformed loss curve is named', () => {
  const ft = { stage: 1, steps: 2, seconds: 1, before: 0.2, after: 0.1, curve: [[1, 0.2, 3], [2, 0.1, 0]], codesChanged: 3, codeUnits: 10, layers: 1, tensors: 0 };
  const rec = sampleRecord('r1', '2026-12-07T20:00:00.000Z');
  assert.ok('record' in validateRecord({ ...rec, finetune: [ft] }));
  const bad = validateRecord({ ...rec, finetune: [{ ...ft, curve: [[1, 'x']] }] });
  assert.ok('problem' in bad && /finetune/.test(bad.problem), JSON.stringify(bad));
});

test('a stale running record reached through a link out of the workspace reads as failed and is not written through the link', async () => {
  const base = store();
  const outside = path.join(base, 'outside');
  const ws = path.join(base, 'ws');
  mkdirSync(path.join(ws, '.qrecipe'), { recursive: true });
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const started = new Date(Date.now() - 60_000).toISOString();
  const text = JSON.stringify(sampleRecord('r-dead', started, { status: 'running', pid: dead }));
  const victim = path.join(put(outside, 'r-dead', text), 'run.json');
  const still = (): void => assert.equal(readFileSync(victim, 'utf8'), text, 'the file behind the link is untouched');
  // 1. the store itself is a link out of the workspace
  symlinkSync(outside, path.join(ws, '.qrecipe', 'runs'));
  const root = path.join(ws, '.qrecipe', 'runs');
  assert.match(linkedOut(path.join(root, 'r-dead')) ?? '', /outside the workspace/);
  const runs = await listRuns(root, { repair: true });
  assert.deepEqual(runs.map((r) => [r.record.id, r.record.status]), [['r-dead', 'failed']]);
  still();
  const r = spawnSync(process.execPath, [path.resolve('dist/cli.js'), 'runs'], { cwd: ws, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^r-dead\s+failed/m);
  assert.match(r.stderr, /resolves to .* outside the workspace.*nothing is written there/);
  still();
  // 2. the store is real, a run's folder is a link (the listing skips it; a direct read never writes)
  rmSync(root);
  mkdirSync(root);
  symlinkSync(path.join(outside, 'r-dead'), path.join(root, 'r-dead'));
  assert.match(linkedOut(path.join(root, 'r-dead')) ?? '', /is a link/);
  assert.equal((await readRun(path.join(root, 'r-dead'), { repair: true })).status, 'failed');
  await listRuns(root, { repair: true });
  still();
  // a real run folder inside the workspace is still repaired
  const own = put(root, 'r-own', text);
  assert.equal(linkedOut(own), undefined);
  await listRuns(root, { repair: true });
  assert.equal(JSON.parse(readFileSync(path.join(own, 'run.json'), 'utf8')).status, 'failed');
});
