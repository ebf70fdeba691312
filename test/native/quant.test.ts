// The quantisation grid and RTN of the addon against the float64 reference quantiser.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { quantGrid, rtn } from '../../native/index';
import { dequant, quantCode, rtnRef, type RefQuantSpec } from './reference/quant';
import { randn } from './reference/random';

const rows = 24;
const cols = 256;
const W = randn(rows * cols, 7, 0.1);
W[5] = 0; // exact zero row entries and an all-zero group exercise the [-1, 1] fallback
for (let j = 0; j < 32; j++) W[3 * cols + j] = 0;

/** Codes may differ only at exact ties of w/scale (x.5), where float32 and float64 round apart. */
function assertCodesMatch(native: Uint8Array, ref: Uint8Array, Wv: Float32Array, scaleOf: (i: number) => number, label: string): void {
  for (let i = 0; i < native.length; i++) {
    if (native[i] === ref[i]) continue;
    const t = Wv[i] / scaleOf(i);
    const tie = Math.abs(Math.abs(t - Math.trunc(t)) - 0.5) < 1e-4;
    assert.ok(tie && Math.abs(native[i] - ref[i]) === 1, `${label}: code ${i} is ${native[i]}, reference ${ref[i]} (w/scale=${t})`);
  }
}

/** Σ|err|^2.4 of one group under given params (float64). */
function groupErr(x: ArrayLike<number>, p: { scale: number; zero: number }, maxq: number): number {
  let e = 0;
  for (let i = 0; i < x.length; i++) e += Math.abs(dequant(quantCode(x[i], p, maxq), p) - x[i]) ** 2.4;
  return e;
}

const specs: RefQuantSpec[] = [
  { bits: 4 },
  { bits: 4, groupSize: 64 },
  { bits: 3, groupSize: 32, symmetric: true },
  { bits: 2, groupSize: 128 },
  { bits: 8 },
  { bits: 4, groupSize: 64, mse: true },
  { bits: 3, symmetric: true, mse: true },
  { bits: 4, groupSize: 100 },
  { bits: 4, groupSize: 96, symmetric: true },
];

for (const spec of specs) {
  test(`rtn matches the reference quantiser ${JSON.stringify(spec)}`, async () => {
    const r = await rtn(W, { rows, cols }, spec);
    const ref = rtnRef(W, rows, cols, spec);
    assert.equal(r.device, 'cpu');
    const g = spec.groupSize || cols;
    const maxq = 2 ** spec.bits - 1;
    for (let k = 0; k < ref.params.length; k++) {
      if (spec.mse) {
        // the search may pick another shrink factor when two are tied in float32: compare the errors
        const x = W.subarray(Math.floor(k / r.groups) * cols + (k % r.groups) * g).subarray(0, Math.min(g, cols - (k % r.groups) * g));
        const mine = groupErr(x, { scale: r.scales[k], zero: r.zeros[k] }, maxq);
        const best = groupErr(x, ref.params[k], maxq);
        assert.ok(mine <= best * (1 + 1e-4) + 1e-30, `group ${k}: mse error ${mine} > reference ${best}`);
        continue;
      }
      assert.ok(Math.abs(r.scales[k] - ref.params[k].scale) <= 1e-6 * Math.abs(ref.params[k].scale), `scale ${k}`);
      assert.equal(r.zeros[k], ref.params[k].zero, `zero ${k}`);
    }
    if (!spec.mse) assertCodesMatch(r.codes, ref.codes, W, (i) => ref.params[Math.floor(i / cols) * r.groups + Math.floor((i % cols) / g)].scale, JSON.stringify(spec));
    // dequantised weights are scale·(code − zero) with the returned grid
    for (let i = 0; i < W.length; i += 13) {
      const k = Math.floor(i / cols) * r.groups + Math.floor((i % cols) / g);
      assert.equal(r.weights[i], Math.fround(r.scales[k] * (r.codes[i] - r.zeros[k])));
    }
    assert.ok(r.codes.every((c) => c <= maxq));
  });
}

test('quantGrid alone gives the same grid as rtn', async () => {
  const spec = { bits: 4, groupSize: 64 };
  const a = await quantGrid(W, { rows, cols }, spec);
  const b = await rtn(W, { rows, cols }, spec);
  assert.deepEqual(a.scales, b.scales);
  assert.deepEqual(a.zeros, b.zeros);
  assert.equal(a.groups, cols / 64);
});

test('the grid always represents 0 exactly and includes the row range', async () => {
  const spec = { bits: 3, groupSize: 32 };
  const r = await rtn(W, { rows, cols }, spec);
  const maxq = 7;
  for (let k = 0; k < r.scales.length; k++) {
    const p = { scale: r.scales[k], zero: r.zeros[k] };
    assert.equal(dequant(quantCode(0, p, maxq), p), 0);
  }
});

test('rtn rejects bad shapes and specs with clear messages', async () => {
  await assert.rejects(rtn(W, { rows, cols: cols + 1 }, { bits: 4 }), /W has 6144 elements but a 24×257 weight needs 6168/);
  await assert.rejects(rtn(W, { rows, cols }, { bits: 9 }), /bits must be an integer in 2\.\.8/);
  await assert.rejects(rtn(W, { rows, cols }, { bits: 4, groupSize: -1 }), /groupSize must be a non-negative integer/);
  await assert.rejects(rtn(W, { rows: 0, cols }, { bits: 4 }), /shape must be positive/);
});

test('a group size that does not divide cols leaves a shorter last group (GPTQ\'s reference, MatMulNBits)', async () => {
  const r = await rtn(W, { rows, cols }, { bits: 4, groupSize: 100 });
  assert.equal(r.groups, 3);
  // the last group (columns 200..255) has its own grid, fitted on its 56 columns only
  const last = Array.from({ length: 56 }, (_, j) => W[7 * cols + 200 + j]);
  const ref = rtnRef(last, 1, 56, { bits: 4 });
  assert.ok(Math.abs(r.scales[7 * 3 + 2] - ref.params[0].scale) <= 1e-6 * ref.params[0].scale);
  assert.deepEqual([...r.gIdx.subarray(195, 205)], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
});

test('symmetric grids use the full signed range: the largest |w| of each group is code 0 (−2^(b−1)), as onnxruntime\'s quantiser', async () => {
  // one group per row; row 0's extreme is positive, row 1's negative, row 2's a tie (|min| = max)
  const n = 64;
  const x = new Float32Array(3 * n);
  for (let j = 0; j < n; j++) {
    x[j] = -0.5 + (1.5 * j) / (n - 1); // −0.5 … 1.0
    x[n + j] = -1.0 + (1.5 * j) / (n - 1); // −1.0 … 0.5
    x[2 * n + j] = -1 + (2 * j) / (n - 1); // −1 … 1
  }
  for (const bits of [2, 3, 4, 8]) {
    const r = await rtn(x, { rows: 3, cols: n }, { bits, symmetric: true });
    const half = 2 ** (bits - 1);
    assert.deepEqual([...r.zeros], [half, half, half]);
    // ORT: scale = (extreme of larger magnitude) / −half, so that extreme dequantises exactly
    assert.deepEqual([...r.scales], [Math.fround(1 / -half), Math.fround(-1 / -half), Math.fround(-1 / -half)]);
    assert.equal(r.codes[n - 1], 0, `${bits} bits: the positive extreme 1.0 is code 0`);
    assert.equal(r.weights[n - 1], 1);
    assert.equal(r.codes[n], 0, `${bits} bits: the negative extreme −1.0 is code 0`);
    assert.equal(r.weights[n], -1);
    // every level is used over a row spanning the range: 2^bits codes, not 2^bits − 1
    const used = new Set(r.codes.subarray(2 * n, 3 * n));
    if (bits <= 4) assert.equal(used.size, 2 ** bits, `${bits} bits: ${used.size} levels used`);
  }
});

test('RTN keeps a pruned layer\'s zeros: every grid holds 0 exactly (asymmetric, symmetric, MSE, shorter last group)', async () => {
  const Wp = W.slice();
  for (let i = 0; i < Wp.length; i += 4) { Wp[i] = 0; Wp[i + 1] = 0; } // 2:4-like zeros
  for (const spec of [{ bits: 4, groupSize: 64 }, { bits: 3, groupSize: 100, symmetric: true }, { bits: 2, groupSize: 32, mse: true }, { bits: 4, symmetric: true, mse: true }]) {
    const r = await rtn(Wp, { rows, cols }, spec);
    for (let i = 0; i < Wp.length; i += 4) assert.ok(r.weights[i] === 0 && r.weights[i + 1] === 0, `${JSON.stringify(spec)}: zero at ${i} became ${r.weights[i]}, ${r.weights[i + 1]}`);
  }
});
