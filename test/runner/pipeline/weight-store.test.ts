// The changed weights of a run in bounded memory (pipeline/weight-store.ts): quantised layers kept
// as codes give back exactly the quantiser's dequantised weights, entries beyond the budget are
// spilled and read back, replaced entries free their room; quant.bin written one layer at a time is
// the same file as the one written at once.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as native from '../../../native/index';
import { WeightStore } from '../../../extension/runner/pipeline/weight-store';
import { quantMeta, readQuantStore, writeQuantStore, writeQuantStoreStreaming, type QuantizedLayer } from '../../../extension/runner/export/quant-store';
import { randn, rng } from '../helpers';

async function gptqLayer(name: string, rows: number, cols: number, seed: number): Promise<{ q: QuantizedLayer; weights: Float32Array }> {
  const rand = rng(seed);
  const W = randn(rows * cols, rand, 0.05);
  const acc = new native.HessianAccumulator(cols);
  await acc.add(randn(200 * cols, rand), 200, 4);
  const r = await native.gptq(W, acc.H, { rows, cols }, { bits: 4, groupSize: 32, actOrder: true, staticGroups: true });
  return { q: { name, rows, cols, bits: 4, groupSize: 32, symmetric: false, codes: r.codes, scales: r.scales, zeros: r.zeros }, weights: r.weights };
}

for (const budget of [1 << 30, 0]) {
  test(`weight store (${budget ? 'in memory' : 'everything spilled'}): codes give the quantiser's weights bit for bit; floats round-trip; replacing frees`, async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'qr-ws-')), '.scratch');
    const store = new WeightStore(dir, budget);
    const a = await gptqLayer('a', 24, 96, 1);
    const b = await gptqLayer('b', 16, 64, 2);
    await store.setQuantized(a.q);
    await store.setQuantized(b.q);
    const f = randn(40, rng(3));
    await store.setFloat('c', f);
    assert.deepEqual(store.quantized.map((q) => q.name), ['a', 'b']);
    assert.deepEqual(await store.weight('a'), a.weights);
    assert.deepEqual(await store.weight('b'), b.weights);
    assert.deepEqual(await store.weight('c'), f);
    assert.deepEqual((await store.quantizedLayer('a'))!.codes, a.q.codes);
    assert.equal(await store.weight('missing'), undefined);
    // a later stage prunes 'a': it is float now, no longer quantised
    const pruned = a.weights.map((v, i) => (i % 2 ? 0 : v));
    await store.setFloat('a', pruned);
    assert.deepEqual(store.quantized.map((q) => q.name), ['b']);
    assert.deepEqual(await store.weight('a'), pruned);
    assert.equal(existsSync(path.join(dir, 'weights.bin')), budget === 0);
    if (budget === 0) assert.ok(store.stats.spilledBytes > 0 && store.stats.peakMemoryBytes === 0);
    await store.close();
    assert.ok(!existsSync(path.join(dir, 'weights.bin')));
  });
}

test('quant.bin written one layer at a time = written at once; reads back', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qr-qb-'));
  // with an act-order group index, and with fp16 outliers (issue #19: kept with the codes)
  const outliers = { rowPtr: Int32Array.from({ length: 9 }, (_, r) => Math.min(r, 3)), colIdx: Int32Array.from([5, 9, 2]), values: Uint16Array.from([0x3c00, 0xbc00, 0x4000]) };
  const layers = [(await gptqLayer('x', 8, 64, 4)).q, { ...(await gptqLayer('y', 12, 32, 5)).q, gIdx: Int32Array.from({ length: 32 }, (_, c) => c % 1) }, { ...(await gptqLayer('z', 8, 16, 3)).q, outliers }];
  await writeQuantStore(path.join(dir, 'a.bin'), layers);
  const metas = layers.map(quantMeta);
  await writeQuantStoreStreaming(path.join(dir, 'b.bin'), metas, async (n) => layers.find((l) => l.name === n)!);
  assert.deepEqual(readFileSync(path.join(dir, 'b.bin')), readFileSync(path.join(dir, 'a.bin')));
  const back = await readQuantStore(path.join(dir, 'b.bin'));
  assert.deepEqual(back[1]!.gIdx, layers[1]!.gIdx);
  assert.deepEqual(back[2]!.outliers, outliers);
  assert.deepEqual(back[0]!.codes, layers[0]!.codes);
});
