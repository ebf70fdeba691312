// The relative output error of a compressed layer (engine/calibrate/output-error.ts) against a
// float64 reference computed from the activations themselves: ‖(W − Ŵ)X‖² / ‖WX‖².
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relativeOutputError } from '../../../extension/runner/engine/calibrate/output-error';
import { randomF32 } from '../model/helpers';

test('relative output error = ‖ΔW·X‖² / ‖W·X‖² of the calibration activations (H = 2XᵀX/n)', async () => {
  const [rows, cols, n] = [24, 40, 90];
  const W = randomF32(rows * cols, 1);
  const Q = W.map((v, i) => v + (i % 7 === 0 ? 0.05 : -0.01));
  const X = randomF32(n * cols, 2);
  const H = new Float32Array(cols * cols);
  for (let t = 0; t < n; t++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) H[i * cols + j]! += (2 / n) * X[t * cols + i]! * X[t * cols + j]!;
  let num = 0;
  let den = 0;
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < rows; r++) {
      let y = 0;
      let d = 0;
      for (let c = 0; c < cols; c++) { y += W[r * cols + c]! * X[t * cols + c]!; d += (W[r * cols + c]! - Q[r * cols + c]!) * X[t * cols + c]!; }
      num += d * d;
      den += y * y;
    }
  }
  const got = await relativeOutputError(W, Q, H, rows, cols);
  assert.ok(Math.abs(got - num / den) <= 1e-4 * (num / den), `${got} vs ${num / den}`);
  assert.equal(await relativeOutputError(W, W, H, rows, cols), 0);
});
