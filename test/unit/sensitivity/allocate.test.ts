import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Allocator } from '../../../language-server/core/sensitivity/allocate';
import { layerBytes } from '../../../language-server/core/sensitivity/cost';
import type { LayerSensitivity } from '../../../language-server/core/sensitivity/types';

const layout = { group: 128, symmetric: false } as const;

function layer(name: string, rows: number, cols: number, scores: number[], candidates = [2, 3, 4, 8]): LayerSensitivity {
  return {
    name, op: 'MatMul', rows, cols, params: rows * cols, candidates, metric: 'hessian', scores: { hessian: scores },
    outlierFraction: candidates.map((b) => (b === 2 ? 0.005 : 0)), relError: candidates.map(() => 0),
    bytes: candidates.map((b) => layerBytes({ rows, cols }, b, layout, b === 2 ? 0.005 : 0)),
  };
}

test('layer bytes: n·b/8 codes, 4 bytes per group asymmetric (2 symmetric), CSR outliers', () => {
  const b = layerBytes({ rows: 64, cols: 256 }, 3, layout, 0.01);
  assert.equal(b.codes, (64 * 256 * 3) / 8);
  assert.equal(b.scales, 64 * 2 * 4);
  const nnz = Math.floor(0.01 * 64 * 256);
  assert.equal(b.outliers, nnz * 6 + 65 * 4);
  assert.equal(b.total, b.codes + b.scales + b.outliers);
  assert.equal(layerBytes({ rows: 64, cols: 256 }, 3, { group: 'channel', symmetric: true }, 0).scales, 64 * 2);
});

test('more budget never predicts more loss; sensitive layers get more bits', () => {
  const layers = [layer('a', 64, 256, [100, 30, 10, 0.1]), layer('b', 64, 256, [1, 0.3, 0.1, 0.001]), layer('c', 128, 256, [50, 10, 3, 0.05])];
  const al = new Allocator(layers);
  const uniform4 = al.evaluate([4, 4, 4]);
  const a = al.solve({ kind: 'bytes', bytes: uniform4.bytes });
  assert.ok(a.bytes <= uniform4.bytes);
  assert.ok(a.predicted <= uniform4.predicted, 'optimal at the uniform size is no worse than uniform');
  assert.ok(a.bits[0]! >= a.bits[1]!, 'the more sensitive layer of the same size gets at least as many bits');
  let last = Infinity;
  for (let bits = 2; bits <= 8; bits += 0.25) {
    const s = al.solve({ kind: 'bits', bits });
    assert.ok(s.averageBits <= bits + 1e-9);
    assert.ok(s.exact && s.lowerBound === s.predicted, 'proven optimal, so its own bound');
    assert.ok(s.predicted <= last + 1e-12);
    last = s.predicted;
  }
});

test('pins hold a layer at its width and are refused when not a candidate', () => {
  const layers = [layer('a', 64, 256, [100, 30, 10, 0.1]), layer('b', 64, 256, [1, 0.3, 0.1, 0.001])];
  const free = new Allocator(layers).solve({ kind: 'bits', bits: 8 });
  assert.deepEqual(free.bits, [8, 8]);
  const pinned = new Allocator(layers, { pins: { a: 2 } }).solve({ kind: 'bits', bits: 8 });
  assert.deepEqual(pinned.bits, [2, 8]);
  const fromRecipe = new Allocator([{ ...layers[0]!, pinned: 3 }, layers[1]!]).solve({ kind: 'bits', bits: 2 });
  assert.equal(fromRecipe.bits[0], 3);
  assert.equal(fromRecipe.feasible, false, '2 bits average is below the pinned minimum');
  assert.throws(() => new Allocator(layers, { pins: { b: 5 } }), /layer b: pinned width 5/);
});

test('the frontier starts at the smallest size and ends at the largest', () => {
  const layers = [layer('a', 64, 256, [100, 30, 10, 0.1]), layer('b', 32, 128, [1, 0.3, 0.1, 0.001])];
  const al = new Allocator(layers);
  const f = al.frontier('bytes');
  assert.equal(f[0]!.bytes, al.range('bytes').min);
  assert.equal(f.at(-1)!.bytes, al.range('bytes').max);
  assert.deepEqual(f.at(-1)!.bits, [8, 8]);
});
