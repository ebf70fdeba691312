// GPTQ of the addon against the float64 column-by-column reference, and against RTN on layer loss.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { gptq, HOLD, outliers, rtn, type GptqOptions } from '../../native/index';
import { makeLayer, mismatches, relDiff } from './helpers';
import { gptqRef } from './reference/gptq';
import { roundToHalf } from './reference/pack';
import { layerLoss } from './reference/random';

const L = makeLayer(48, 256, 512, 11);
const shape = { rows: L.rows, cols: L.cols };

const variants: GptqOptions[] = [
  { bits: 4 },
  { bits: 3, groupSize: 64 },
  { bits: 4, groupSize: 64, actOrder: true },
  { bits: 4, groupSize: 64, actOrder: true, staticGroups: true },
  { bits: 2, groupSize: 32, symmetric: true },
  { bits: 8, blockSize: 32 },
  // a shorter last group (256 = 100 + 100 + 56); groups are fitted when reached, on the columns the
  // lazy update has reached, as the reference does, so the block is a multiple of the group here
  { bits: 4, groupSize: 100, blockSize: 100 },
  { bits: 3, groupSize: 96, actOrder: true, staticGroups: true },
];

for (const o of variants) {
  test(`gptq matches the float64 reference ${JSON.stringify(o)}`, async () => {
    const r = await gptq(L.W, L.H, shape, o);
    const ref = gptqRef(L.W, L.H, L.rows, L.cols, o);
    // float32 error propagation could flip a code sitting on a rounding tie (none seen in practice:
    // 0 differences on these layers); allow one in 10⁴ and compare the losses tightly
    const diff = mismatches(r.codes, ref.codes);
    console.log(`gptq ${JSON.stringify(o)}: ${diff} codes differ from float64, loss rel diff ${relDiff(r.loss, ref.loss).toExponential(2)}`);
    assert.ok(diff <= r.codes.length * 1e-4, `${diff} of ${r.codes.length} codes differ`);
    assert.ok(relDiff(r.loss, ref.loss) < 1e-5, `loss ${r.loss} vs reference ${ref.loss}`);
    assert.deepEqual([...r.perm], ref.perm);
    // the returned grid and group mapping reproduce the dequantised weights exactly
    for (let i = 0; i < r.codes.length; i++) {
      const row = Math.floor(i / L.cols);
      const k = row * r.groups + r.gIdx[i % L.cols];
      assert.equal(r.weights[i], Math.fround(r.scales[k] * (r.codes[i] - r.zeros[k])), `weight ${i}`);
    }
  });
}

/** A 2:4 mask (the lower |w| two of every four) and the top 1% |w| of the rest as outliers. */
function holdFor(W: Float32Array, rows: number, cols: number): { hold: Uint8Array; Wp: Float32Array } {
  const hold = new Uint8Array(rows * cols);
  const Wp = W.slice();
  for (let i = 0; i < W.length; i += 4) {
    const idx = [0, 1, 2, 3].sort((a, b) => Math.abs(W[i + a]) - Math.abs(W[i + b]));
    for (const k of idx.slice(0, 2)) { hold[i + k] = HOLD.pruned; Wp[i + k] = 0; }
  }
  const order = [...Wp.keys()].filter((i) => !hold[i]).sort((a, b) => Math.abs(Wp[b]) - Math.abs(Wp[a]));
  for (const i of order.slice(0, Math.floor(0.01 * W.length))) hold[i] = HOLD.outlier;
  return { hold, Wp };
}

for (const o of [{ bits: 3, groupSize: 64 }, { bits: 4, actOrder: true }, { bits: 2, groupSize: 32, symmetric: true }] as GptqOptions[]) {
  test(`gptq with held entries (2:4 pruned stay 0, 1% outliers kept in fp16) matches the float64 reference ${JSON.stringify(o)}`, async () => {
    const { hold, Wp } = holdFor(L.W, L.rows, L.cols);
    const r = await gptq(Wp, L.H, shape, { ...o, hold });
    const ref = gptqRef(Wp, L.H, L.rows, L.cols, { ...o, hold });
    const diff = mismatches(r.codes, ref.codes);
    assert.ok(diff <= r.codes.length * 1e-4, `${diff} of ${r.codes.length} codes differ`);
    assert.ok(relDiff(r.loss, ref.loss) < 1e-5, `loss ${r.loss} vs reference ${ref.loss}`);
    let pruned = 0;
    for (let i = 0; i < hold.length; i++) {
      const row = Math.floor(i / L.cols);
      const k = row * r.groups + r.gIdx[i % L.cols];
      if (hold[i] === HOLD.none) {
        assert.equal(r.weights[i], Math.fround(r.scales[k] * (r.codes[i] - r.zeros[k])), `weight ${i}`);
        continue;
      }
      // a held entry's code is the code of 0: the packed dense part is 0 there
      assert.ok(r.scales[k] * (r.codes[i] - r.zeros[k]) === 0, `code of held entry ${i}`);
      if (hold[i] === HOLD.pruned) { assert.equal(r.weights[i], 0, `pruned entry ${i}`); pruned++; }
      else assert.equal(r.weights[i], roundToHalf(r.weights[i]), `outlier ${i} is an fp16 value`);
      assert.ok(Math.abs(r.weights[i] - ref.Q[i]) <= 1e-3 * Math.abs(ref.Q[i]) + 1e-9, `held entry ${i}: ${r.weights[i]} vs ${ref.Q[i]}`);
    }
    assert.equal(pruned, L.W.length / 2, 'the 2:4 mask is kept: half the weights are exactly 0');
  });
}

test('gptq with outliers held out beats RTN with the same outliers (it is GPTQ, not RTN) and plain GPTQ at 2 bits', async () => {
  const q = { bits: 2, groupSize: 64 };
  const o = await outliers(L.W, shape, 0.01, q);
  const hold = new Uint8Array(L.W.length);
  for (let row = 0; row < L.rows; row++) for (let k = o.outliers.rowPtr[row]; k < o.outliers.rowPtr[row + 1]; k++) hold[row * L.cols + o.outliers.colIdx[k]] = HOLD.outlier;
  const g = await gptq(L.W, L.H, shape, { ...q, hold });
  const plain = await gptq(L.W, L.H, shape, q);
  const rtnOut = Float32Array.from(o.dense.weights);
  for (let row = 0; row < L.rows; row++) {
    for (let k = o.outliers.rowPtr[row]; k < o.outliers.rowPtr[row + 1]; k++) {
      const at = row * L.cols + o.outliers.colIdx[k];
      rtnOut[at] = roundToHalf(L.W[at]);
    }
  }
  const lg = layerLoss(L.W, g.weights, L.rows, L.cols, L.X, L.tokens);
  const lr = layerLoss(L.W, rtnOut, L.rows, L.cols, L.X, L.tokens);
  const lp = layerLoss(L.W, plain.weights, L.rows, L.cols, L.X, L.tokens);
  console.log(`2-bit layer loss: GPTQ+outliers ${lg.toExponential(3)}, RTN+outliers ${lr.toExponential(3)}, GPTQ ${lp.toExponential(3)}`);
  assert.ok(lg < 0.8 * lr, `GPTQ with outliers ${lg} vs RTN with outliers ${lr}`);
  assert.ok(lg < lp, `GPTQ with outliers ${lg} vs GPTQ without ${lp}`);
});

test('gptq on a layer whose columns the group size does not divide: 200 = 3×64 + 8', async () => {
  const M = makeLayer(16, 200, 256, 21);
  const r = await gptq(M.W, M.H, { rows: 16, cols: 200 }, { bits: 3, groupSize: 64 });
  const ref = gptqRef(M.W, M.H, 16, 200, { bits: 3, groupSize: 64 });
  assert.equal(r.groups, 4);
  assert.ok(mismatches(r.codes, ref.codes) <= 1, `${mismatches(r.codes, ref.codes)} codes differ`);
  assert.ok(relDiff(r.loss, ref.loss) < 1e-5);
});

test('gptq refuses a hold value it does not know', async () => {
  const hold = new Uint8Array(L.W.length);
  hold[7] = 3;
  await assert.rejects(gptq(L.W, L.H, shape, { bits: 4, hold }), /hold\[7\] is 3/);
});

test('gptq group index: contiguous without act-order, permuted groups with act-order', async () => {
  const plain = await gptq(L.W, L.H, shape, { bits: 4, groupSize: 64 });
  assert.deepEqual([...plain.gIdx], Array.from({ length: L.cols }, (_, c) => Math.floor(c / 64)));
  const act = await gptq(L.W, L.H, shape, { bits: 4, groupSize: 64, actOrder: true });
  for (let j = 0; j < L.cols; j++) assert.equal(act.gIdx[act.perm[j]], Math.floor(j / 64));
  const st = await gptq(L.W, L.H, shape, { bits: 4, groupSize: 64, actOrder: true, staticGroups: true });
  assert.deepEqual([...st.gIdx], [...plain.gIdx]);
});

test('gptq layer loss ‖WX − ŴX‖² is below RTN on every layer tested', async () => {
  const ratios: string[] = [];
  for (const [i, [rows, cols, bits, g]] of ([[32, 128, 4, 0], [64, 256, 3, 64], [40, 384, 4, 128], [24, 256, 2, 32]] as const).entries()) {
    const layer = makeLayer(rows, cols, 384, 50 + i);
    const q = { bits, groupSize: g };
    const a = await gptq(layer.W, layer.H, { rows, cols }, q);
    const b = await rtn(layer.W, { rows, cols }, q);
    const la = layerLoss(layer.W, a.weights, rows, cols, layer.X, layer.tokens);
    const lb = layerLoss(layer.W, b.weights, rows, cols, layer.X, layer.tokens);
    ratios.push(`${rows}×${cols} w${bits}g${g}: ${(la / lb).toFixed(3)}`);
    assert.ok(la <= lb, `layer ${i}: GPTQ ${la} > RTN ${lb}`);
  }
  console.log(`GPTQ/RTN layer-loss ratios: ${ratios.join(', ')}`);
});

test('gptq zeroes dead input columns', async () => {
  const H = L.H.slice();
  const dead = 5;
  for (let j = 0; j < L.cols; j++) {
    H[dead * L.cols + j] = 0;
    H[j * L.cols + dead] = 0;
  }
  const r = await gptq(L.W, H, shape, { bits: 4 });
  for (let row = 0; row < L.rows; row++) assert.equal(r.weights[row * L.cols + dead], 0);
  const ref = gptqRef(L.W, H, L.rows, L.cols, { bits: 4 });
  assert.ok(relDiff(r.loss, ref.loss) < 1e-4);
});

test('gptq rejects a Hessian of the wrong size and a non-PSD Hessian', async () => {
  await assert.rejects(gptq(L.W, L.H.subarray(1), shape, { bits: 4 }), /H has 65535 elements but a 256×256 Hessian needs 65536/);
  const bad = new Float32Array(L.cols * L.cols);
  for (let j = 0; j < L.cols; j++) bad[j * L.cols + j] = j === 3 ? -1e6 : 1;
  await assert.rejects(gptq(L.W, bad, shape, { bits: 4, percdamp: 0 }), /not positive definite/);
});
