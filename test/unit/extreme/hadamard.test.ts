// Randomized Hadamard transforms: the Paley matrices are Hadamard, every plan gives an orthogonal
// rotation, the fast transform equals its dense matrix, and a rotated Hessian keeps the layer loss.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { hadamardPlan, paleyKind, paleyMatrix, rotateHessian, rotateMatrix, Rotation } from '../../../extension/runner/engine/extreme/hadamard';
import { Rng } from '../../../language-server/core/util/rng';

test('Paley I and II matrices satisfy H·Hᵀ = d·I', () => {
  for (const d of [4, 12, 20, 28, 36, 44, 60, 108, 180]) {
    assert.ok(paleyKind(d), `order ${d}`);
    const H = paleyMatrix(d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += H[i * d + k]! * H[j * d + k]!;
        assert.equal(s, i === j ? d : 0, `order ${d} (${paleyKind(d)}): row ${i}·row ${j}`);
      }
    }
  }
});

test('plans: full Hadamard where one exists, blocks otherwise', () => {
  assert.deepEqual(hadamardPlan(512), { n: 512, block: 512, factors: [512] });
  assert.deepEqual(hadamardPlan(192), { n: 192, block: 192, factors: [12, 16] });
  assert.deepEqual(hadamardPlan(240), { n: 240, block: 240, factors: [60, 4] });
  assert.deepEqual(hadamardPlan(360), { n: 360, block: 360, factors: [180, 2] });
  assert.deepEqual(hadamardPlan(1440), { n: 1440, block: 1440, factors: [180, 8] });
  assert.equal(hadamardPlan(6625).block, 1); // odd: no Hadamard block at all
  assert.equal(hadamardPlan(9).block, 1);
  assert.equal(hadamardPlan(6).block, 2); // 6 = 3 blocks of 2
});

for (const n of [8, 12, 16, 48, 192, 240, 360, 512, 6, 9]) {
  test(`rotation of size ${n} is orthogonal and its fast form equals its matrix`, () => {
    const R = Rotation.random(n, 7 + n);
    const M = R.matrix();
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += M[i * n + k]! * M[j * n + k]!;
        assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-12, `R·Rᵀ[${i},${j}] = ${s}`);
      }
    }
    const rng = new Rng(n);
    const x = Float64Array.from({ length: n }, () => rng.normal());
    const y = Float64Array.from(x);
    R.applyStrided(y, 0, 1);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += M[i * n + k]! * x[k]!;
      assert.ok(Math.abs(s - y[i]!) < 1e-12, `R·x[${i}]`);
    }
    R.applyStrided(y, 0, 1, true);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(y[i]! - x[i]!) < 1e-12, 'Rᵀ·R·x = x');
  });
}

test('tr(ΔW·H·ΔWᵀ) is unchanged by rotating ΔW on both sides and H on its side', () => {
  const rows = 24;
  const cols = 48;
  const rng = new Rng(3);
  const D = Float64Array.from({ length: rows * cols }, () => rng.normal());
  const X = Float64Array.from({ length: 64 * cols }, () => rng.normal() * (1 + rng.next() * 3));
  const H = new Float64Array(cols * cols);
  for (let t = 0; t < 64; t++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) H[i * cols + j]! += X[t * cols + i]! * X[t * cols + j]!;
  const loss = (d: Float64Array, h: Float64Array): number => {
    let s = 0;
    for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) s += d[r * cols + i]! * h[i * cols + j]! * d[r * cols + j]!;
    return s;
  };
  const U = Rotation.random(rows, 1);
  const V = Rotation.random(cols, 2);
  const Dr = Float64Array.from(D);
  rotateMatrix(Dr, rows, cols, U, V);
  const Hr = rotateHessian(H, cols, V);
  const a = loss(D, H);
  const b = loss(Dr, Hr);
  assert.ok(Math.abs(a - b) / a < 1e-10, `${a} vs ${b}`);
  rotateMatrix(Dr, rows, cols, U, V, true);
  for (let i = 0; i < D.length; i++) assert.ok(Math.abs(Dr[i]! - D[i]!) < 1e-10);
});
