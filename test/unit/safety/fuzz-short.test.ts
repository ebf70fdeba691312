// The short, fixed-seed version of the recipe, ONNX-header and quant.bin fuzz families (issue 20); the patterns
// and run-record families have theirs beside their tests. `npm run test:fuzz` runs them all longer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzRecipes } from '../../fuzz/recipes';
import { fuzzOnnxHeaders } from '../../fuzz/onnx-headers';
import { fuzzQuantStore } from '../../fuzz/quant-store';

test('fuzz (short): hostile mutated recipes analyse without error, losslessly, in bounded time', async () => {
  const r = await fuzzRecipes(31, performance.now() + 8000, 1500, 5000);
  assert.ok(r.cases >= 200, `only ${r.cases} cases`);
  assert.deepEqual(r.failures, []);
});

test('fuzz (short): lying ONNX headers give an inventory or a ModelFileError naming the file, nothing else', async () => {
  const r = await fuzzOnnxHeaders(32, performance.now() + 8000, 800);
  assert.ok(r.cases >= 100, `only ${r.cases} cases`);
  assert.deepEqual(r.failures, []);
});

test('fuzz (short): a damaged quant.bin gives layers of consistent sizes or an Error naming the file, nothing else', async () => {
  const r = await fuzzQuantStore(33, performance.now() + 6000, 600);
  assert.ok(r.cases >= 100, `only ${r.cases} cases`);
  assert.deepEqual(r.failures, []);
});

test('a quant.bin that is a FIFO or a link to /dev/zero is refused at once, naming the file', async () => {
  const { mkdtempSync, symlinkSync } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  const os = await import('node:os');
  const path = await import('node:path');
  const { readQuantStore } = await import('../../../extension/runner/export/quant-store');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-quant-special-'));
  const fifo = path.join(dir, 'quant.bin');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  await assert.rejects(readQuantStore(fifo), (e: Error) => e.message.startsWith(fifo) && /not a regular file/.test(e.message));
  const zero = path.join(dir, 'zero.bin');
  symlinkSync('/dev/zero', zero);
  await assert.rejects(readQuantStore(zero), (e: Error) => e.message.startsWith(zero));
});
