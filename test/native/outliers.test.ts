// LLM-MQ outlier split and the per-bit-width quantisation errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { outliers, quantError, rtn } from '../../native/index';
import { makeLayer } from './helpers';
import { halfToFloat, roundToHalf } from './reference/pack';
import { dequant, fitParams, quantCode } from './reference/quant';
import { randn } from './reference/random';

const rows = 32;
const cols = 256;
const W = randn(rows * cols, 17, 0.05);
for (let i = 0; i < W.length; i += 211) W[i] = (i % 2 ? 1 : -1) * (0.5 + (i % 7) / 10);

test('outliers: exactly the top |w| in fp16 CSR, dense + sparse = original', async () => {
  const frac = 0.01;
  const r = await outliers(W, { rows, cols }, frac, { bits: 2, groupSize: 64 });
  const nnz = Math.floor(frac * rows * cols);
  assert.equal(r.outliers.rowPtr[rows], nnz);
  const isOut = new Uint8Array(rows * cols);
  for (let row = 0; row < rows; row++)
    for (let k = r.outliers.rowPtr[row]; k < r.outliers.rowPtr[row + 1]; k++) {
      const i = row * cols + r.outliers.colIdx[k];
      isOut[i] = 1;
      assert.equal(halfToFloat(r.outliers.values[k]), roundToHalf(W[i]), `fp16 value at ${i}`);
      assert.equal(r.dense.weights[i], 0);
      assert.equal(r.dense.weights[i] + halfToFloat(r.outliers.values[k]), roundToHalf(W[i]));
      if (k > r.outliers.rowPtr[row]) assert.ok(r.outliers.colIdx[k] > r.outliers.colIdx[k - 1], 'sorted columns');
    }
  // every outlier is at least as large as every kept weight
  let minOut = Infinity;
  let maxKept = 0;
  for (let i = 0; i < W.length; i++) {
    if (isOut[i]) minOut = Math.min(minOut, Math.abs(W[i]));
    else maxKept = Math.max(maxKept, Math.abs(W[i]));
  }
  assert.ok(minOut >= maxKept);
  // the dense grid is fitted without the outliers
  for (let row = 0; row < rows; row++)
    for (let k = 0; k < r.dense.groups; k++) {
      const kept: number[] = [];
      for (let j = k * 64; j < (k + 1) * 64; j++) if (!isOut[row * cols + j]) kept.push(W[row * cols + j]);
      const p = fitParams(kept, { bits: 2 });
      const g = row * r.dense.groups + k;
      assert.ok(Math.abs(r.dense.scales[g] - p.scale) <= 1e-6 * p.scale);
      for (let j = k * 64; j < (k + 1) * 64; j += 9) {
        const i = row * cols + j;
        if (isOut[i]) continue;
        const q = quantCode(W[i], p, 3);
        assert.ok(Math.abs(r.dense.weights[i] - dequant(q, p)) <= 1e-6, `dense ${i}`);
      }
    }
});

test('outliers with a shorter last group (256 = 2·100 + 56): every group fitted on its own kept columns', async () => {
  const r = await outliers(W, { rows, cols }, 0.01, { bits: 3, groupSize: 100 });
  assert.equal(r.dense.groups, 3);
  const isOut = new Uint8Array(rows * cols);
  for (let row = 0; row < rows; row++) for (let k = r.outliers.rowPtr[row]; k < r.outliers.rowPtr[row + 1]; k++) isOut[row * cols + r.outliers.colIdx[k]] = 1;
  for (let row = 0; row < rows; row++) {
    const kept: number[] = [];
    for (let j = 200; j < cols; j++) if (!isOut[row * cols + j]) kept.push(W[row * cols + j]);
    const p = fitParams(kept, { bits: 3 });
    assert.ok(Math.abs(r.dense.scales[row * 3 + 2] - p.scale) <= 1e-6 * p.scale, `row ${row}: last group`);
  }
});

test('outliers lower the 2-bit quantisation error of the rest', async () => {
  const plain = await rtn(W, { rows, cols }, { bits: 2, groupSize: 64 });
  const split = await outliers(W, { rows, cols }, 0.005, { bits: 2, groupSize: 64 });
  let ePlain = 0;
  let eSplit = 0;
  const isOut = new Set<number>();
  for (let row = 0; row < rows; row++)
    for (let k = split.outliers.rowPtr[row]; k < split.outliers.rowPtr[row + 1]; k++) isOut.add(row * cols + split.outliers.colIdx[k]);
  for (let i = 0; i < W.length; i++) {
    ePlain += (W[i] - plain.weights[i]) ** 2;
    eSplit += isOut.has(i) ? (W[i] - roundToHalf(W[i])) ** 2 : (W[i] - split.dense.weights[i]) ** 2;
  }
  assert.ok(eSplit < ePlain, `with outliers ${eSplit} ≥ without ${ePlain}`);
});

test('quantError: ‖ΔW‖², ½tr(ΔW H ΔWᵀ) and |⟨G,ΔW⟩| per bit width match float64', async () => {
  const L = makeLayer(24, 128, 256, 5);
  const G = randn(L.rows * L.cols, 8);
  const bits = [2, 3, 4, 8];
  const r = await quantError(L.W, { rows: L.rows, cols: L.cols }, bits, { groupSize: 32 }, { H: L.H, G });
  for (const [bi, b] of bits.entries()) {
    const q = await rtn(L.W, { rows: L.rows, cols: L.cols }, { bits: b, groupSize: 32 });
    const d = Float64Array.from(L.W, (w, i) => w - q.weights[i]);
    let sq = 0;
    let gr = 0;
    let h = 0;
    for (let i = 0; i < d.length; i++) {
      sq += d[i] * d[i];
      gr += G[i] * d[i];
    }
    for (let row = 0; row < L.rows; row++)
      for (let a = 0; a < L.cols; a++) {
        let s = 0;
        for (let c = 0; c < L.cols; c++) s += L.H64[a * L.cols + c] * d[row * L.cols + c];
        h += d[row * L.cols + a] * s;
      }
    h /= 2;
    assert.ok(Math.abs(r.squared[bi] - sq) <= 1e-9 * sq + 1e-12, `squared ${b}`);
    assert.ok(Math.abs(r.gradient[bi] - Math.abs(gr)) <= 1e-6 * Math.abs(gr) + 1e-9, `gradient ${b}`);
    assert.ok(Math.abs(r.hessian[bi] - h) <= 1e-4 * h, `hessian ${b}: ${r.hessian[bi]} vs ${h}`);
  }
  // fewer bits, more error
  assert.ok(r.squared[0] > r.squared[1] && r.squared[1] > r.squared[2] && r.squared[2] > r.squared[3]);
  const noExtras = await quantError(L.W, { rows: L.rows, cols: L.cols }, [4], {});
  assert.ok(Number.isNaN(noExtras.hessian[0]) && Number.isNaN(noExtras.gradient[0]));
});
