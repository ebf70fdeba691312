// Hessian accumulation against float64, chunk by chunk, and Wanda's column norms from its diagonal.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { HessianAccumulator } from '../../native/index';
import { correlatedActivations, hessian64 } from './reference/random';

test('running-mean Hessian over uneven chunks equals (2/n)·XᵀX', async () => {
  const cols = 200;
  const chunks = [[300, 2], [77, 1], [1100, 3]] as const; // tokens, samples
  const acc = new HessianAccumulator(cols);
  const all: Float32Array[] = [];
  let tokens = 0;
  let samples = 0;
  for (const [i, [t, s]] of chunks.entries()) {
    const X = correlatedActivations(t, cols, 40 + i);
    all.push(X);
    await acc.add(X, t, s);
    tokens += t;
    samples += s;
  }
  assert.equal(acc.count, samples);
  const X = new Float32Array(tokens * cols);
  let off = 0;
  for (const x of all) {
    X.set(x, off);
    off += x.length;
  }
  const ref = hessian64(X, tokens, cols, samples);
  let maxRel = 0;
  for (let i = 0; i < cols; i++)
    for (let j = 0; j < cols; j++) {
      const scale = Math.sqrt(ref[i * cols + i] * ref[j * cols + j]);
      maxRel = Math.max(maxRel, Math.abs(acc.H[i * cols + j] - ref[i * cols + j]) / scale);
      assert.equal(acc.H[i * cols + j], acc.H[j * cols + i], 'symmetric');
    }
  assert.ok(maxRel < 1e-5, `max relative error ${maxRel}`);
  const norms = acc.columnNorms();
  for (let j = 0; j < cols; j += 17) {
    let s = 0;
    for (let t = 0; t < tokens; t++) s += X[t * cols + j] ** 2;
    assert.ok(Math.abs(norms[j] - Math.sqrt(s)) <= 1e-4 * Math.sqrt(s));
  }
});

test('hessian rejects a chunk whose length does not match tokens × cols', async () => {
  const acc = new HessianAccumulator(16);
  await assert.rejects(acc.add(new Float32Array(10 * 16 - 1), 10), /X has 159 elements but 10 tokens × 16 features needs 160/);
  assert.throws(() => new HessianAccumulator(0), /positive integer/);
});
