// GPTQ of the addon against the float64 column-by-column reference, and against RTN on layer loss.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { gptq, rtn, type GptqOptions } from '../../native/index';
import { makeLayer, mismatches, relDiff } from './helpers';
import { gptqRef } from './reference/gptq';
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
