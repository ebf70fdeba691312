// The layer loop of the compression stages: one job per GPU at once, every layer exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { forEachLayer } from '../../../extension/runner/pipeline/compress';

const names = Array.from({ length: 13 }, (_, i) => `layers.${i}.mlp`);

for (const concurrency of [1, 2, 4, 32]) {
  test(`forEachLayer runs every layer once with at most ${concurrency} at a time`, async () => {
    const seen: string[] = [];
    let running = 0;
    let peak = 0;
    await forEachLayer(names, concurrency, async (name) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 1 + (name.length % 3)));
      seen.push(name);
      running--;
    });
    assert.deepEqual([...seen].sort(), [...names].sort());
    assert.equal(peak, Math.min(concurrency, names.length));
  });
}

test('after a failure forEachLayer starts no further layer, lets running ones finish, then rejects with it', async () => {
  const started: string[] = [];
  let running = 0;
  await assert.rejects(
    forEachLayer(names, 3, async (name) => {
      started.push(name);
      running++;
      await new Promise((r) => setTimeout(r, name === 'layers.3.mlp' ? 1 : 5));
      running--;
      if (name === 'layers.3.mlp') throw new Error(`layer '${name}' failed`);
    }),
    /layers\.3\.mlp/,
  );
  assert.equal(running, 0, 'a layer job was still running when the stage failed');
  const count = started.length;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(started.length, count, 'a layer started after the stage failed');
  assert.ok(count < names.length, `started ${count} of ${names.length}`);
});

test('issue #19 item 10: SparseGPT\'s block holds whole N:M groups and never passes the native maximum (block 4096 with 3:6 was 4098)', async () => {
  const { sparseGptBlock } = await import('../../../extension/runner/pipeline/prune');
  const { OBS_BLOCK } = await import('../../../native/limits');
  for (const m of [1, 2, 4, 6, 7, 8, 48, 64]) {
    for (const block of [1, 5, 100, 128, 4000, 4095, 4096]) {
      const b = sparseGptBlock(block, m);
      assert.equal(b % m, 0, `block ${block}, m ${m}: ${b}`);
      assert.ok(b >= m && b <= OBS_BLOCK.max, `block ${block}, m ${m}: ${b}`);
    }
  }
  assert.equal(sparseGptBlock(4096, 6), 4092);
  assert.equal(sparseGptBlock(128, 4), 128);
});
