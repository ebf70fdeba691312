// What the extension says about runs, without VS Code: the run's page, the finish and export
// notifications, and the cached run index (a repaint reads no run.json; a changed one is re-read).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import { writeRecord } from '../../../language-server/core/runs/store';
import { runPage } from '../../../extension/src/runs/run-page';
import { exportMessage, finishMessage, pickerLine, progressText, runTooltip } from '../../../extension/src/runs/summaries';
import { RunIndex } from '../../../extension/src/runs/run-index';
import { progressEvents } from '../../../extension/runner/analysis-command';

const record = (over: Partial<RunRecord> = {}): RunRecord => ({
  id: '20261207-182053-quickstart', status: 'succeeded', recipePath: '/w/quickstart.qrecipe', recipeText: 'model "m.onnx"\n', recipeHash: '', modelPath: '/w/model.onnx', modelHash: '',
  dataHashes: {}, seed: 0, versions: { qrecipe: '0.1.0', onnxruntime: '1.30.0', node: 'v20' }, device: 'cpu', pid: 1,
  startedAt: '2026-12-07T18:20:53.000Z', endedAt: '2026-12-07T18:21:22.000Z', stageSeconds: { calibrate: 3.2, quantize: 12.5 },
  metrics: { original: { perplexity: 2.7688, sizeBytes: 7543692 }, compressed: { perplexity: 2.8027, sizeBytes: 1474956, bitsPerWeight: 4.5625 } },
  layers: [{ name: 'layers.0.mlp.up_proj', method: 'gptq', bits: 8, groupSize: 64, relError: 0.00012, seconds: 0.4 }],
  artifacts: { exports: [{ path: '/w/out/w4.onnx', format: 'onnx-matmulnbits', bytes: 1478000, verified: true, bitsPerWeight: 4.56, check: { metric: 'perplexity', exported: 2.8027, fakeQuant: 2.8027, relDiff: 0.00001, ok: true } }], log: 'run.log' },
  settings: { 'quantize.method': 'gptq', 'quantize.bits': '4b', 'quantize.group': 'g64' },
  ...over,
});

test('a run page names metrics with units and changes, lists exports with their check, settings, layers and times', () => {
  const page = runPage(record(), '/w/.qrecipe/runs/x', 'gptq 4b g64');
  assert.match(page, /^# quickstart · gptq 4b g64$/m);
  assert.match(page, /\*\*succeeded\*\* in 29 s on cpu/);
  assert.match(page, /\| perplexity \| 2\.769 \| 2\.803 \| \+0\.0339 \(worse\) \|/);
  assert.match(page, /\| size \| 7\.19 MiB \| 1\.41 MiB \| −5\.79 MiB \(better\) \|/);
  assert.match(page, /\| bits per weight \| — \| 4\.56 bits \| {2}\|/);
  assert.match(page, /`\/w\/out\/w4\.onnx` \| onnx-matmulnbits \| 1\.41 MiB \| 4\.56 \| yes \| perplexity 2\.803 vs 2\.803 simulated/);
  assert.match(page, /- \*\*quantize\*\*: gptq, 4b, g64/);
  assert.match(page, /\| layers\.0\.mlp\.up_proj \| gptq \| 8 \| 64 \|/);
  assert.doesNotMatch(page, /bitsPerWeight|sizeBytes/, 'no raw metric keys');
});

test('issue #19 defect 7: a run page says when its export\'s path now holds another file, and where the run\'s own copy is', () => {
  const r = record();
  r.artifacts.exports[0] = { ...r.artifacts.exports[0]!, runCopy: 'exports/0/w4.onnx', sha256: 'ab'.repeat(32), mtimeMs: 1000 };
  const mine = runPage(r, '/w/.qrecipe/runs/x', 'l', () => ({ size: 1478000, mtimeMs: 1000 }));
  assert.doesNotMatch(mine, /replaced since|is gone/);
  const replaced = runPage(r, '/w/.qrecipe/runs/x', 'l', () => ({ size: 1478000, mtimeMs: 2000 }));
  assert.match(replaced, /`\/w\/out\/w4\.onnx` has been replaced since; this run's export is `\/w\/\.qrecipe\/runs\/x\/exports\/0\/w4\.onnx` \(sha256 abababababababab…\)/);
  assert.match(runPage(r, '/w/.qrecipe/runs/x', 'l', () => undefined), /`\/w\/out\/w4\.onnx` is gone/);
});

test('the finish notification carries the key metrics against the original, and the export', () => {
  assert.equal(finishMessage(record()), 'quickstart.qrecipe finished in 29 s: perplexity 2.803 (+0.0339 vs original), 1.41 MiB (20 % of the original), exported w4.onnx (loads in onnxruntime).');
  assert.equal(finishMessage(record({ metrics: {}, artifacts: { exports: [], log: 'run.log' } })), 'quickstart.qrecipe finished in 29 s.');
  assert.equal(exportMessage(record().artifacts.exports[0]!), 'exported w4.onnx (onnx-matmulnbits): 1.41 MiB, 4.56 bits per weight, loads in onnxruntime, perplexity 2.803, 0.00 % from the simulated run.');
  const line = pickerLine(record(), 'gptq 4b g64');
  assert.deepEqual(line, { label: 'quickstart · gptq 4b g64', description: 'ppl 2.803 · 1.41 MiB', detail: `succeeded · ${line.detail.split(' · ')[1]} · 20261207-182053-quickstart` });
  assert.match(runTooltip(record(), 'gptq 4b g64'), /\| perplexity \| 2\.769 \| 2\.803 \| \+0\.0339 \|/);
});

test('the run index reads a run.json once, and again only when it changes', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'qr-index-'));
  const a = path.join(root, 'a'), b = path.join(root, 'b');
  mkdirSync(a);
  mkdirSync(b);
  await writeRecord(a, record({ id: 'a', startedAt: '2026-12-07T18:00:00Z' }));
  await writeRecord(b, record({ id: 'b', startedAt: '2026-12-07T19:00:00Z' }));
  const index = new RunIndex();
  assert.deepEqual((await index.list([root])).map((e) => e.record.id), ['b', 'a'], 'newest first');
  assert.equal(index.reads, 2);
  await index.list([root]);
  await index.list([root]);
  assert.equal(index.reads, 2, 'repaints read nothing');
  await writeRecord(a, record({ id: 'a', startedAt: '2026-12-07T18:00:00Z', status: 'failed', error: 'x' }));
  utimesSync(path.join(a, 'run.json'), new Date(), new Date(Date.now() + 5000));
  const again = await index.list([root]);
  assert.equal(index.reads, 3, 'only the changed record is read');
  assert.equal(again.find((e) => e.record.id === 'a')?.record.status, 'failed');
});

test('analysis progress: the ETA of a phase comes from its own pace, and a new phase starts afresh', () => {
  let now = 0;
  const got: { label?: string; etaSeconds?: number }[] = [];
  const report = progressEvents((e) => { if (e.type === 'progress') got.push({ label: e.label, etaSeconds: e.etaSeconds }); }, 'sensitivity', () => now);
  report({ done: 0, total: 4, label: 'calibration: Hessians' });
  now = 2000; report({ done: 1, total: 4, label: 'calibration: Hessians' });
  now = 4000; report({ done: 2, total: 4, label: 'calibration: Hessians' });
  now = 4000; report({ done: 0, total: 28, label: 'layer layers.0.q_proj' });
  now = 5000; report({ done: 1, total: 28, label: 'layer layers.0.k_proj' });
  assert.deepEqual(got.map((g) => g.etaSeconds), [undefined, 6, 4, undefined, 27]);
});

test('live progress: the stage ETA, the block label, and the run ETA counting down between events', () => {
  assert.equal(progressText({ stageLabel: 'calibrate on calib' }), 'calibrate on calib');
  const p = { stage: 'quantize' as const, done: 2, total: 8, layer: 'block 3/8: capture', etaSeconds: 120 };
  assert.equal(progressText(p), 'quantize 25% (2/8) block 3/8: capture · 2 min 0 s left');
  const at = 1_000_000;
  const withRun = { ...p, runEtaSeconds: 600, runEtaAt: at };
  assert.match(progressText(withRun, at), /2 min 0 s left in this stage, about 10 min 0 s for the run$/);
  assert.match(progressText(withRun, at + 300_000), /about 5 min 0 s for the run$/);
  assert.match(progressText({ ...withRun, etaSeconds: undefined }, at + 700_000), /\(2\/8\) block 3\/8: capture · about 0\.0 s for the run$/);
});
