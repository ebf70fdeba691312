// VQ's inner loops in the addon (native/vq.ts) against the TypeScript path of vq.ts: both sum every
// output in the same order in float64 and the addon's baseline build has no fused multiply-add, so
// the native CPU path must give the same loss history, codes and codebooks exactly (tolerance 0:
// any reordering of a sum would show here first). CUDA's twin is test/gpu/vq-cuda.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeLayer } from '../../native/helpers';
import { vqQuantize, type VqSpec } from '../../../extension/runner/engine/extreme/vq';
import * as native from '../../../native/index';

const available = native.isAvailable();

async function both(rows: number, cols: number, seed: number, spec: VqSpec): Promise<void> {
  const L = makeLayer(rows, cols, 512, seed);
  const ts = await vqQuantize(L.W, L.H, rows, cols, { ...spec, engine: 'ts' });
  const nat = await vqQuantize(L.W, L.H, rows, cols, { ...spec, engine: 'native', device: 'cpu' });
  assert.equal(ts.ranOn, 'ts');
  assert.equal(nat.ranOn, 'cpu');
  assert.deepEqual(nat.history, ts.history, 'loss after k-means and every round');
  assert.deepEqual(nat.layer.codes, ts.layer.codes);
  assert.deepEqual(nat.layer.books, ts.layer.books);
  assert.deepEqual(nat.layer.scales, ts.layer.scales);
  assert.ok(ts.history.length > 2, 'at least two rounds ran');
}

test('vq native CPU = TypeScript: 1 codebook × 8 bits, dim 4, no row scales (the tiny-LM recipe)', { skip: !available }, async () => {
  await both(96, 192, 7, { dim: 4, codebooks: 1, bits: 8, scales: false, iterations: 4, tolerance: 0 });
});

test('vq native CPU = TypeScript: 2 additive codebooks, row scales, k-means on a sample', { skip: !available }, async () => {
  await both(48, 64, 3, { dim: 4, codebooks: 2, bits: 6, iterations: 3, tolerance: 0, kmeansSample: 400 });
});

test('vqNearest: the nearest centroid (first on ties) and its distance; arguments are checked', { skip: !available }, async () => {
  const points = Float64Array.from([0, 0, 1, 1, 2, 2, 0.5, 0.5]);
  const C = Float64Array.from([0, 0, 1, 1, 2, 2]);
  const assign = new Int32Array(4);
  const dist = new Float64Array(4);
  await native.vqNearest(points, 4, 2, C, 3, assign, dist, { device: 'cpu' });
  assert.deepEqual([...assign], [0, 1, 2, 0]); // 0.5 is as far from 0 as from 1: the first wins
  assert.deepEqual([...dist], [0, 0, 0, 0.5]);
  await assert.rejects(native.vqNearest(points, 4, 2, C, 4, assign, dist), /centroids has 6 elements/);
});

test('vqCodes and vqNormal refuse a code outside the codebook', { skip: !available }, async () => {
  const s = { rows: 2, cols: 4, dim: 2, codebooks: 1, K: 4 };
  const H = new Float64Array(16);
  for (let i = 0; i < 4; i++) H[i * 5] = 1;
  const codes = Int32Array.from([0, 1, 2, 4]);
  await assert.rejects(native.vqCodes(s, H, new Float64Array(8), new Float64Array(2).fill(1), codes, new Float64Array(8), new Float64Array(8), { device: 'cpu' }), /code 4 at index 3 is not in 0..3/);
  await assert.rejects(native.vqNormal(s, 0, H, codes, new Float64Array(2), new Float64Array(64)), /code 4/);
  await assert.rejects(native.vqNormal(s, 1, H, codes, new Float64Array(2), new Float64Array(64)), /book must be in 0..0/);
});
