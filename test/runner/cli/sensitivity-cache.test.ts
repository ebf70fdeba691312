// Issue 20 #1, #3: the sensitivity cache (`<runs>/.cache/sensitivity-KEY.json`) is a file of the
// workspace, so untrusted: a cache folder that a link leads out of the workspace is neither read
// nor written (the result says so), and an entry that is a FIFO, or JSON for another model, is
// recomputed and replaced, never waited on or believed.
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SensitivityResult } from '../../../language-server/core/sensitivity/types';

import { CLI, ROOT, buildCli } from '../quality/common';
const LM = path.join(ROOT, 'test/fixtures/tiny-lm');

before(buildCli); // the tests drive the bundled CLI: make sure it is current

const RECIPE = `model "${LM}/model.onnx"
data calib { text "${LM}/data/calib.txt"  samples 2  seqlen 32 }
allocate llm-mq on calib {
  targets "re:layers\\\\.0\\\\..*_proj"
  budget 3bits
  candidates 2 4
  metric hessian
  group 64
}
`;

function sensitivity(dir: string): SensitivityResult {
  const r = spawnSync(process.execPath, [CLI, 'sensitivity', path.join(dir, 'r.qrecipe'), '--metrics', 'hessian', '--json'], { cwd: dir, encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `${r.error?.message ?? ''} ${r.stderr}`);
  return JSON.parse(r.stdout) as SensitivityResult;
}

test('sensitivity cache: a linked-out cache folder is not used; a FIFO or foreign entry is recomputed and replaced', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-senscache-'));
  writeFileSync(path.join(dir, 'r.qrecipe'), RECIPE);
  const cache = path.join(dir, '.qrecipe', 'runs', '.cache');
  mkdirSync(path.dirname(cache), { recursive: true });
  const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'qr-elsewhere-'));
  symlinkSync(elsewhere, cache);
  const a = sensitivity(dir);
  assert.ok(a.notes.some((n) => /not cached: .*outside the run store/.test(n)), a.notes.join(' | '));
  assert.deepEqual(readdirSync(elsewhere), [], 'nothing written through the link');

  rmSync(cache);
  const b = sensitivity(dir);
  const [entry] = readdirSync(cache);
  assert.ok(entry && /^sensitivity-[0-9a-f]+\.json$/.test(entry));
  const file = path.join(cache, entry);
  // a FIFO in its place: read without blocking, refused, recomputed, replaced by a regular file
  rmSync(file);
  assert.equal(spawnSync('mkfifo', [file]).status, 0);
  const c = sensitivity(dir);
  assert.deepEqual(c.layers.map((l) => l.name), b.layers.map((l) => l.name));
  assert.ok(lstatSync(file).isFile());
  // an entry for another model (a planted result under the right name) is not believed
  const planted = { ...(JSON.parse(readFileSync(file, 'utf8')) as SensitivityResult), modelHash: '0'.repeat(64), notes: ['planted'] };
  writeFileSync(file, JSON.stringify(planted));
  const d = sensitivity(dir);
  assert.ok(!d.notes.includes('planted'));
});
