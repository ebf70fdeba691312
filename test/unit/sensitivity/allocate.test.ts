import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Allocator } from '../../../language-server/core/sensitivity/allocate';
import { allocationBytes, layerBytes } from '../../../language-server/core/cost/cost';
import type { LayerSensitivity } from '../../../language-server/core/sensitivity/types';

const layout = { group: 128, symmetric: false } as const;

function layer(name: string, rows: number, cols: number, scores: number[], candidates = [2, 3, 4, 8]): LayerSensitivity {
  return {
    name, op: 'MatMul', rows, cols, params: rows * cols, candidates, metric: 'hessian', scores: { hessian: scores },
    outlierFraction: candidates.map((b) => (b === 2 ? 0.005 : 0)), relError: candidates.map(() => 0),
    bytes: candidates.map((b) => layerBytes({ rows, cols }, { bits: b, ...layout, outliers: b === 2 ? 0.005 : 0 })),
  };
}

test('allocation bytes are the export\'s: MatMulNBits slots, float32 scales per block, packed zero points, 10-byte outliers; int4 QDQ', () => {
  const l = { op: 'MatMul' as const, rows: 64, cols: 256, dtype: 'float32', bytes: 64 * 256 * 4 };
  const g = { opset: 17, opTypes: ['MatMul'] };
  const b = allocationBytes(l, { bits: 3, ...layout, outliers: 0.01 }, 'onnx-matmulnbits', g);
  assert.equal(b.codes, (64 * 256 * 4) / 8, '3-bit codes take 4-bit slots');
  assert.equal(b.scales, 64 * 2 * 4 + 64 * 1, 'a float32 scale per block of 128, 2 packed 4-bit zero points a row');
  const nnz = Math.floor(0.01 * 64 * 256);
  assert.equal(b.outliers, nnz * 10);
  assert.equal(b.total, b.codes + b.scales + b.outliers);
  assert.equal(allocationBytes(l, { bits: 4, group: 'channel', symmetric: true }, 'onnx-matmulnbits', g).scales, 64 * 4, 'symmetric: no zero points; one 256-column block');
  const q = allocationBytes(l, { bits: 2, group: 64, symmetric: false }, 'onnx-qdq', g);
  assert.equal(q.codes, (64 * 256 * 4) / 8, '2-bit codes as int4');
  assert.equal(q.scales, 64 * 4 * 4 + (64 * 4) / 2, 'a float32 scale and a uint4 zero point per group');
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
