// One evaluate stage measuring the same metric on two data sets keeps both (run.json
// `perplexity@calib` and `perplexity@heldout`, the plain key the first data set's), `qrecipe runs`
// prints both, Compare has a row for each, and `qrecipe export RUN` checks the export against the
// value on the data set it re-measures (it compared the last data set's value before).
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { RunRecord } from '../../../language-server/core/protocol/runner';
import { compareRuns } from '../../../language-server/core/runs/compare';
import { readRun } from '../../../language-server/core/runs/store';
import { buildCli, CLI, ROOT, runRecipe } from './common';

const LM = path.join(ROOT, 'test/fixtures/tiny-lm');
const ws = mkdtempSync(path.join(os.tmpdir(), 'qr-metrics-'));
mkdirSync(path.join(ws, '.qrecipe'));
before(buildCli);

test('perplexity on calib and on heldout in one evaluate stage: both recorded, listed, compared, and the later export checked on the right one', async () => {
  const r: RunRecord = runRecipe(ws, 'two-sets', `model "${LM}/model.onnx"
data calib { text "${LM}/data/calib.txt"  samples 8  seqlen 256  seed 0 }
data heldout { text "${LM}/data/heldout.txt"  seqlen 256  samples 8 }
quantize rtn { targets "re:layers\\\\.0\\\\..*_proj"  bits 3  group channel }
evaluate { perplexity on calib  perplexity on heldout }
`);
  const c = r.metrics.compressed!;
  const o = r.metrics.original!;
  const onCalib = c['perplexity@calib'];
  const onHeld = c['perplexity@heldout'];
  assert.ok(onCalib !== undefined && onHeld !== undefined, JSON.stringify(c));
  assert.notEqual(onCalib, onHeld, 'two data sets, two values');
  assert.equal(c.perplexity, onCalib, 'the plain key is the first data set\'s (the headline)');
  assert.ok(o['perplexity@calib']! < onCalib! && o['perplexity@heldout']! < onHeld!, JSON.stringify(o));
  // Compare: one row per data set, the headline copy not listed again
  const cmp = compareRuns([r, r]);
  assert.deepEqual(cmp.metrics.map((m) => m.name), ['perplexity@calib', 'perplexity@heldout']);
  assert.deepEqual(cmp.metrics.map((m) => m.values[0]), [onCalib, onHeld]);
  // qrecipe runs
  const runs = spawnSync(process.execPath, [CLI, 'runs'], { cwd: ws, encoding: 'utf8' });
  assert.equal(runs.status, 0, runs.stderr);
  assert.match(runs.stdout, new RegExp(`perplexity on calib [\\d.]+ -> ${onCalib!.toPrecision(5)}, perplexity on heldout [\\d.]+ -> ${onHeld!.toPrecision(5)}`));
  // qrecipe export RUN re-measures the first quality metric (on calib) and compares it with calib's value
  const out = path.join(ws, 'two-sets.onnx');
  const ex = spawnSync(process.execPath, [CLI, 'export', r.id, '--format', 'onnx-matmulnbits', '-o', out], { cwd: ws, encoding: 'utf8' });
  assert.equal(ex.status, 0, ex.stderr);
  const after = await readRun(path.join(ws, '.qrecipe', 'runs', r.id));
  const check = after.artifacts.exports[0]?.check;
  assert.ok(check, JSON.stringify(after.artifacts.exports));
  assert.equal(check.dataset, 'calib');
  assert.equal(check.fakeQuant, onCalib);
  assert.ok(check.ok && check.relDiff < 1e-2, JSON.stringify(check));
});
