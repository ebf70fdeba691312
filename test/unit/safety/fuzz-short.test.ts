// The short, fixed-seed version of the recipe and ONNX-header fuzz families (issue 20); the patterns
// and run-record families have theirs beside their tests. `npm run test:fuzz` runs them all longer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzRecipes } from '../../fuzz/recipes';
import { fuzzOnnxHeaders } from '../../fuzz/onnx-headers';

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
