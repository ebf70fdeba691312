// The Runs view's repaint cost (issue #22 item 6): before, every repaint (one per 150 ms while a run
// reports progress) re-read and parsed every run.json; now RunIndex keeps the records and re-reads
// only a run.json whose mtime or size changed. Run: npm run bench:runs-index. Prints the time of one
// listing of N runs (14 KB records, like a 28-layer quickstart run) both ways and their ratio, and
// the run.json reads of a repaint while one run progresses.
import { mkdtempSync, mkdirSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listRuns, writeRecord } from '../../language-server/core/runs/store';
import type { RunRecord } from '../../language-server/core/protocol/runner';
import { RunIndex } from '../../extension/src/runs/run-index';

const N = Number(process.env.RUNS ?? 300);
const REPS = 20;

function record(i: number): RunRecord {
  const layers = Array.from({ length: 28 }, (_, k) => ({ name: `layers.${k >> 3}.mlp.proj_${k}`, method: 'gptq', bits: 4, groupSize: 64, loss: 0.01 * k, relError: 1e-3, device: 'cpu', seconds: 0.4 }));
  return {
    id: `run-${i}`, status: 'succeeded', recipePath: `/w/r${i % 5}.qrecipe`, recipeText: 'model "m.onnx"\n'.repeat(20), recipeHash: 'h'.repeat(64), modelPath: '/w/m.onnx', modelHash: 'h'.repeat(64),
    dataHashes: { calib: 'h'.repeat(64) }, seed: 0, versions: { qrecipe: '0.1.0', onnxruntime: '1.30.0', node: 'v20' }, device: 'cpu', pid: 1,
    startedAt: new Date(Date.UTC(2026, 11, 7, 0, 0, i)).toISOString(), endedAt: new Date(Date.UTC(2026, 11, 7, 1, 0, i)).toISOString(), stageSeconds: { quantize: 10 },
    metrics: { original: { perplexity: 2.4, sizeBytes: 7543692 }, compressed: { perplexity: 2.45, sizeBytes: 1474956, bitsPerWeight: 4.56 } }, layers,
    artifacts: { exports: [], log: 'run.log' }, settings: { 'quantize.method': 'gptq', 'quantize.bits': '4b' },
  };
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < REPS; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / REPS;
}

(async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'qr-bench-runs-'));
  for (let i = 0; i < N; i++) { mkdirSync(path.join(root, `run-${i}`)); await writeRecord(path.join(root, `run-${i}`), record(i)); }
  const index = new RunIndex();
  await index.list([root]);
  const before = await time(() => listRuns(root));
  const after = await time(() => index.list([root]));
  // one run progresses: its run.json is rewritten between repaints
  const reads0 = index.reads;
  for (let i = 0; i < REPS; i++) {
    await writeRecord(path.join(root, 'run-0'), { ...record(0), endedAt: new Date(Date.now() + i).toISOString() });
    utimesSync(path.join(root, 'run-0', 'run.json'), new Date(), new Date(Date.now() + 1000 * (i + 1)));
    await index.list([root]);
  }
  console.log(`runs-index: ${N} runs, one listing: re-read every run.json ${before.toFixed(1)} ms, cached index ${after.toFixed(1)} ms (${(before / after).toFixed(1)}x faster)`);
  console.log(`runs-index: run.json reads per repaint while one run changes: ${((index.reads - reads0) / REPS).toFixed(1)} (was ${N})`);
  rmSync(root, { recursive: true, force: true });
})();
