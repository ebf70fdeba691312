// Issue 20 #7: faults at any point end in a consistent store. A disk with 8 KB or 0 bytes free
// (a real tmpfs; the test is skipped where mounting one is not allowed), kill -9 at random moments
// and a cancel at random moments: the event stream ends with run-end whenever the process lives,
// no record is broken or left running, no empty run folder is left, nothing half-written looks
// complete, and no `.NAME.PID.RND.tmp` file or scratch folder survives the next start.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunnerEvent } from '../../../language-server/core/protocol/runner';
import { scanRuns, SCRATCH_DIR } from '../../../language-server/core/runs/store';
import { tempPathFor } from '../../../language-server/core/util/atomic';
import { endCancelledSync } from '../../../extension/runner/pipeline/run-recipe';
import { sampleRecord } from '../../fuzz/run-records';
import { loadModel } from '../../../language-server/core/model/reader';
import { Rng } from '../../../language-server/core/util/rng';
import { writeMlpModel } from '../helpers';

import { CLI, buildCli } from '../quality/common';

before(buildCli); // the tests drive the bundled CLI: make sure it is current

async function workspace(dir: string): Promise<string> {
  mkdirSync(path.join(dir, '.qrecipe'), { recursive: true });
  await writeMlpModel(path.join(dir, 'm.onnx'));
  const recipe = path.join(dir, 'r.qrecipe');
  writeFileSync(recipe, 'model "m.onnx"\nquantize rtn { bits 8  group channel }\nexport onnx-fakequant "out/x.onnx"\n');
  return recipe;
}

/** Every file or folder under `dir` whose name says it is a temp file or a scratch folder. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = path.join(d, n);
      if (/\.tmp$/.test(n) || n === '.scratch') out.push(p);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** The store is consistent: nothing broken, nothing left running by a dead process, no empty run folder. */
async function consistent(dir: string): Promise<string[]> {
  const root = path.join(dir, '.qrecipe', 'runs');
  if (!existsSync(root)) return [];
  const { runs, broken } = await scanRuns(root);
  assert.deepEqual(broken, [], 'no broken record');
  for (const r of runs) assert.notEqual(r.record.status, 'running', `${r.record.id} left running`);
  for (const n of readdirSync(root)) if (!n.startsWith('.')) assert.ok(existsSync(path.join(root, n, 'run.json')), `empty run folder ${n}`);
  return runs.map((r) => r.record.status);
}

function events(stdout: string): RunnerEvent[] {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RunnerEvent);
}

/** A tmpfs of `kb` KiB at a fresh folder, or undefined where mounting is not allowed. */
function tmpfs(kb: number): string | undefined {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? dir : undefined;
}

for (const free of [8 * 1024, 0]) {
  test(`disk full (${free} bytes free): run-end failed naming the cause, consistent store, no temp files after the next start`, async (t) => {
    const dir = tmpfs(512);
    if (!dir) { t.skip('cannot mount a tmpfs here (not root)'); return; }
    try {
      const recipe = await workspace(dir);
      const st = statfsSync(dir);
      const avail = st.bavail * st.bsize;
      writeFileSync(path.join(dir, 'filler'), new Uint8Array(Math.max(0, avail - free)));
      const r = spawnSync(process.execPath, [CLI, 'run', recipe, '--json-events'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 1, r.stderr);
      const ev = events(r.stdout);
      const end = ev.at(-1)!;
      assert.ok(end.type === 'run-end' && end.status === 'failed' && /ENOSPC|no space/.test(end.error ?? ''), JSON.stringify(ev.slice(-3)));
      assert.ok(!existsSync(path.join(dir, 'out', 'x.onnx')), 'no export that looks complete');
      await consistent(dir);
      if (free === 0) assert.deepEqual(readdirSync(path.join(dir, '.qrecipe', 'runs')).filter((n) => !n.startsWith('.')), [], 'no empty run folder');
      // the next start, with space again
      rmSync(path.join(dir, 'filler'));
      assert.equal(spawnSync(process.execPath, [CLI, 'runs'], { cwd: dir, encoding: 'utf8' }).status, 0);
      assert.deepEqual(leftovers(dir), []);
    } finally {
      spawnSync('umount', [dir]);
    }
  });
}

test('kill -9 at random moments: a consistent store, no half-written file that looks complete, no temp files after the next start', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-kill-'));
  const recipe = await workspace(dir);
  const rng = new Rng(Number(process.env.QRECIPE_FAULT_SEED ?? 11));
  const kills = Number(process.env.QRECIPE_FAULT_COUNT ?? 8);
  let left = 0;
  for (let k = 0; k < kills; k++) {
    const delay = 100 + rng.int(1100);
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'run', recipe, '--json-events', '--force'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
      const timer = setTimeout(() => child.kill('SIGKILL'), delay);
      child.on('close', () => { clearTimeout(timer); resolve(); });
    });
    await consistent(dir);
    left += leftovers(dir).length;
    // an export that exists is whole (written by rename)
    if (existsSync(path.join(dir, 'out', 'x.onnx'))) await loadModel(path.join(dir, 'out', 'x.onnx'));
  }
  t.diagnostic(`${kills} kills left ${left} temp files or scratch folders behind before the next start`);
  // the next start: `qrecipe runs` sweeps the store, a run also the export's and the model's folders
  assert.equal(spawnSync(process.execPath, [CLI, 'runs'], { cwd: dir, encoding: 'utf8' }).status, 0);
  assert.deepEqual(leftovers(dir).filter((f) => f.includes(`${path.sep}.qrecipe${path.sep}`)), [], 'the store is swept by runs');
  const next = spawnSync(process.execPath, [CLI, 'run', recipe, '--force'], { cwd: dir, encoding: 'utf8' });
  assert.equal(next.status, 0, next.stderr);
  assert.deepEqual(leftovers(dir), [], 'swept at the next start');
});

test('cancel at random moments: run-end is the last event, the record agrees, nothing left behind even before the next start', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-cancel-'));
  const recipe = await workspace(dir);
  const rng = new Rng(5);
  for (let k = 0; k < 6; k++) {
    const delay = 50 + rng.int(1000);
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'run', recipe, '--json-events', '--force'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      const timer = setTimeout(() => child.stdin.write('{"type":"cancel"}\n'), delay);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout }); });
    });
    const ev = events(out.stdout);
    const end = ev.at(-1)!;
    assert.equal(end.type, 'run-end', `delay ${delay}: ${JSON.stringify(ev.slice(-2))}`);
    if (end.type === 'run-end') assert.equal(out.code, end.status === 'succeeded' ? 0 : end.status === 'cancelled' ? 130 : 1);
    const start = ev.find((e) => e.type === 'run-start');
    const statuses = await consistent(dir);
    if (start && start.type === 'run-start' && end.type === 'run-end') {
      const { runs } = await scanRuns(path.join(dir, '.qrecipe', 'runs'));
      assert.equal(runs.find((r) => r.record.id === start.runId)?.record.status, end.status, 'the record says what run-end said');
    }
    assert.ok(statuses.length <= k + 1);
    assert.deepEqual(leftovers(dir), [], `delay ${delay}`);
  }
});

test('what a process killed mid-write leaves (temp files of a dead pid, in the run\'s export folder too, a scratch folder) is swept at the next start; a live writer\'s temp file is kept', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-sweep-'));
  const recipe = await workspace(dir);
  assert.equal(spawnSync(process.execPath, [CLI, 'run', recipe], { cwd: dir, encoding: 'utf8' }).status, 0);
  const runsDir = path.join(dir, '.qrecipe', 'runs');
  const runDir = path.join(runsDir, readdirSync(runsDir)[0]!);
  // a writer killed with -9 in the middle of its writes: its temp files stay behind
  const script = `const fs=require('fs');const p=process.pid;
fs.mkdirSync(${JSON.stringify(path.join(dir, 'out'))},{recursive:true});
fs.writeFileSync(${JSON.stringify(path.join(dir, 'out'))}+'/.x.onnx.'+p+'.k1.tmp','half');
fs.writeFileSync(${JSON.stringify(runDir)}+'/.run.json.'+p+'.k2.tmp','{"id":');
fs.mkdirSync(${JSON.stringify(path.join(runDir, '.scratch'))},{recursive:true});
fs.writeFileSync(${JSON.stringify(dir)}+'/.m.calib.onnx.'+p+'.k3.tmp','x');
fs.mkdirSync(${JSON.stringify(path.join(runDir, 'exports', '0'))},{recursive:true});
fs.writeFileSync(${JSON.stringify(path.join(runDir, 'exports', '0'))}+'/.x.onnx.'+p+'.k4.tmp','half');
console.log('ready');setInterval(()=>{},1000);`;
  await new Promise<void>((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', () => child.kill('SIGKILL'));
    child.on('close', () => resolve());
  });
  // and one of a live process (this test): never touched
  const live = path.join(dir, 'out', `.y.onnx.${process.pid}.live.tmp`);
  writeFileSync(live, 'writing');
  assert.equal(leftovers(dir).length, 6);
  const next = spawnSync(process.execPath, [CLI, 'run', recipe, '--force'], { cwd: dir, encoding: 'utf8' });
  assert.equal(next.status, 0, next.stderr);
  assert.deepEqual(leftovers(dir), [live]);
});

test('the cancel deadline\'s end on a full disk: run-end failed naming ENOSPC, the last record kept, no temp file or scratch left; with space: cancelled', async (t) => {
  for (const full of [true, false]) {
    const dir = tmpfs(256);
    if (!dir) { t.skip('cannot mount a tmpfs here (not root)'); return; }
    try {
      const runDir = path.join(dir, '20260101-000000-r');
      mkdirSync(path.join(runDir, SCRATCH_DIR), { recursive: true });
      writeFileSync(path.join(runDir, SCRATCH_DIR, 'codes.bin'), new Uint8Array(1024));
      const record = sampleRecord('20260101-000000-r', '2026-01-01T00:00:00Z', { status: 'running', pid: process.pid });
      writeFileSync(path.join(runDir, 'run.json'), JSON.stringify(record));
      writeFileSync(tempPathFor(path.join(dir, 'x.onnx')), 'half an export');
      if (full) {
        const st = statfsSync(dir);
        writeFileSync(path.join(dir, 'filler'), new Uint8Array(st.bavail * st.bsize));
      }
      const ev: RunnerEvent[] = [];
      endCancelledSync(runDir, record, [dir], { emit: (e) => ev.push(e), attachLog: () => undefined }, Date.now());
      const end = ev.at(-1)!;
      assert.equal(end.type, 'run-end');
      if (end.type !== 'run-end') return;
      const onDisk = JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { status: string };
      if (full) {
        assert.equal(end.status, 'failed');
        assert.match(end.error ?? '', /cancelled by the user; .*ENOSPC/);
        assert.equal(onDisk.status, 'running', 'the last record written stays (read as failed once this process is gone)');
      } else {
        assert.equal(end.status, 'cancelled');
        assert.equal(onDisk.status, 'cancelled');
      }
      assert.deepEqual(leftovers(dir), []);
    } finally {
      spawnSync('umount', [dir]);
    }
  }
});
