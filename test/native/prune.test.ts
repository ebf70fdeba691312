// Wanda and magnitude pruning against their references: masks identical (exact counts, index tie-break).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { magnitude, wanda } from '../../native/index';
import { magnitudeRef, wandaRef } from './reference/prune';
import { randn } from './reference/random';

const rows = 32;
const cols = 128;
const W = randn(rows * cols, 3, 0.1);
W[10] = W[11]; // a tie
const norms = Float32Array.from(randn(cols, 4), (x) => Math.abs(x) + 0.1);

for (const p of [{ sparsity: 0.5 }, { sparsity: 0.3 }, { n: 2, m: 4 }, { n: 4, m: 8 }, { sparsity: 0 }]) {
  test(`wanda mask equals the reference ${JSON.stringify(p)}`, async () => {
    const r = await wanda(W, norms, { rows, cols }, p);
    assert.deepEqual(r.mask, wandaRef(W, norms, rows, cols, p));
    for (let i = 0; i < W.length; i++) assert.equal(r.weights[i], r.mask[i] ? 0 : W[i]);
  });
  test(`magnitude mask equals the reference ${JSON.stringify(p)}`, async () => {
    const r = await magnitude(W, { rows, cols }, p);
    assert.deepEqual(r.mask, magnitudeRef(W, rows, cols, p));
    for (let i = 0; i < W.length; i++) assert.equal(r.weights[i], r.mask[i] ? 0 : W[i]);
  });
}

test('wanda prunes exactly ⌊cols·s⌋ per row', async () => {
  const r = await wanda(W, norms, { rows, cols }, { sparsity: 0.37 });
  for (let row = 0; row < rows; row++) {
    let k = 0;
    for (let j = 0; j < cols; j++) k += r.mask[row * cols + j];
    assert.equal(k, Math.floor(cols * 0.37));
  }
});

test('wanda needs one norm per input column', async () => {
  await assert.rejects(wanda(W, norms.subarray(1), { rows, cols }, { sparsity: 0.5 }), /colNorms has 127 elements but 128 input features needs 128/);
});
