import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { createRunDir, writeRecord, readRun, listRuns, findRun, deleteRun } from '../../../language-server/core/runs/store';
import { compareRuns, formatComparison, lineDiff } from '../../../language-server/core/runs/compare';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import { processStartToken } from '../../../language-server/core/util/process';

function record(id: string, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id, status: 'succeeded', recipePath: '/x/a.qrecipe', recipeText: 'model "m.onnx"\nquantize rtn { bits 4 }\n', recipeHash: 'h', modelPath: '/x/m.onnx', modelHash: 'mh',
    dataHashes: {}, seed: 0, versions: { qrecipe: '0.1.0', onnxruntime: '1.30.0', node: process.version }, device: 'cpu', pid: process.pid,
    startedAt: new Date().toISOString(), stageSeconds: {}, metrics: {}, layers: [], artifacts: { exports: [], log: 'run.log' }, ...over,
  };
}

test('a run left "running" by a dead process reads as failed, and repair writes that back', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'runs-'));
  const { dir, id } = await createRunDir(root, '/x/quick start.qrecipe');
  assert.match(id, /^\d{8}-\d{6}-quick_start$/);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited already
  await writeRecord(dir, record(id, { status: 'running', pid: dead }));
  const seen = await readRun(dir);
  assert.equal(seen.status, 'failed');
  assert.match(seen.error ?? '', /crashed or killed/);
  assert.equal(JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')).status, 'running', 'no write without repair');
  await readRun(dir, { repair: true });
  assert.equal(JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')).status, 'failed');
  assert.deepEqual(readdirSync(dir), ['run.json'], 'atomic write leaves no temp file');
});

test('a live running run stays running; list is newest first; find by prefix and latest', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'runs-'));
  const a = await createRunDir(root, 'a.qrecipe', new Date('2026-01-01T00:00:00Z'));
  const b = await createRunDir(root, 'a.qrecipe', new Date('2026-01-01T00:00:00Z'));
  assert.notEqual(a.id, b.id, 'same second gives distinct folders');
  await writeRecord(a.dir, record(a.id, { startedAt: '2026-01-01T00:00:00Z' }));
  // this process is the "runner": its start token says so (the record's date is older than the process)
  await writeRecord(b.dir, record(b.id, { startedAt: '2026-01-02T00:00:00Z', status: 'running', pidStart: processStartToken(process.pid) }));
  const runs = await listRuns(root);
  assert.deepEqual(runs.map((r) => r.record.id), [b.id, a.id]);
  assert.equal(runs[0].record.status, 'running');
  assert.equal((await findRun(root, 'latest')).record.id, b.id);
  assert.equal((await findRun(root, b.id)).record.id, b.id);
  // same second: a.id is a prefix of b.id (<id>-1), and still names a alone
  assert.ok(b.id.startsWith(a.id));
  assert.equal((await findRun(root, a.id)).record.id, a.id);
  await assert.rejects(findRun(root, '2026'), /matches 2 runs/);
  await assert.rejects(findRun(root, 'nope'), /no run 'nope'/);
  await deleteRun(a.dir);
  assert.equal((await listRuns(root)).length, 1);
});

test('compare gives deltas against the original and a recipe diff', () => {
  const a = record('a', { metrics: { original: { perplexity: 5 }, compressed: { perplexity: 5.5, sizeBytes: 100 } }, layers: [{ name: 'l0', bits: 4 }] });
  const b = record('b', { recipeText: 'model "m.onnx"\nquantize gptq { bits 4 }\n', metrics: { original: { perplexity: 5 }, compressed: { perplexity: 5.2 } }, layers: [{ name: 'l0', bits: 4 }, { name: 'l0', sparsity: 0.5 }] });
  const c = compareRuns([a, b]);
  const ppl = c.metrics.find((m) => m.name === 'perplexity')!;
  assert.deepEqual(ppl.values, [5.5, 5.2]);
  assert.ok(Math.abs(ppl.deltas[1]! - 0.2) < 1e-12);
  assert.equal(c.metrics.find((m) => m.name === 'sizeBytes')!.values[1], undefined);
  assert.deepEqual(c.layers[0].runs[1], { name: 'l0', bits: 4, sparsity: 0.5 });
  assert.equal(c.layers[0].differs, true, 'pruned in one run only');
  assert.deepEqual(c.recipeDiff.filter((d) => d.op !== ' '), [{ op: '-', text: 'quantize rtn { bits 4 }' }, { op: '+', text: 'quantize gptq { bits 4 }' }]);
});

test('lineDiff: identical texts have no changes; insertion only adds', () => {
  assert.ok(lineDiff('a\nb', 'a\nb').every((d) => d.op === ' '));
  assert.deepEqual(lineDiff('a\nc', 'a\nb\nc').map((d) => d.op).join(''), ' + ');
});

test('issue #19 item 10: compare counts layers whose method or group differs (RTN vs GPTQ at the same width was "0 differ")', () => {
  const rtn = record('rtn', { layers: [{ name: 'l0', method: 'rtn', bits: 4, groupSize: 64 }, { name: 'l1', method: 'rtn', bits: 4, groupSize: 64 }] });
  const gptq = record('gptq', { layers: [{ name: 'l0', method: 'gptq', bits: 4, groupSize: 64, loss: 1 }, { name: 'l1', method: 'rtn', bits: 4, groupSize: 128 }] });
  const same = record('same', { layers: [{ name: 'l0', method: 'rtn', bits: 4, groupSize: 64, loss: 3 }, { name: 'l1', method: 'rtn', bits: 4, groupSize: 64 }] });
  const c = compareRuns([rtn, gptq]);
  assert.deepEqual(c.layers.map((l) => l.differs), [true, true]);
  const text = formatComparison(c);
  assert.match(text, /layers: 2 \(2 differ/);
  assert.match(text, /l0 +rtn 4b g64 +gptq 4b g64/);
  assert.match(text, /l1 +rtn 4b g64 +rtn 4b g128/);
  assert.deepEqual(compareRuns([rtn, same]).layers.map((l) => l.differs), [false, false], 'a loss alone is not a different setting');
});
