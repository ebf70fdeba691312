// SparseGPT against its float64 reference, and its reconstruction error against Wanda and magnitude.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { HessianAccumulator, magnitude, sparsegpt, wanda } from '../../native/index';
import { makeLayer, mismatches, relDiff } from './helpers';
import { layerLoss } from './reference/random';
import { sparsegptRef } from './reference/sparsegpt';

const L = makeLayer(40, 256, 512, 21);
const shape = { rows: L.rows, cols: L.cols };

function assertNM(mask: Uint8Array, rows: number, cols: number, n: number, m: number): void {
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < cols; j += m) {
      let k = 0;
      for (let t = 0; t < m; t++) k += mask[r * cols + j + t];
      assert.equal(k, n, `row ${r}, columns ${j}..${j + m - 1}: ${k} pruned, expected ${n}`);
    }
}

for (const o of [{ sparsity: 0.5 }, { sparsity: 0.7 }, { n: 2, m: 4 }, { n: 4, m: 8 }, { sparsity: 0.5, quant: { bits: 4 } }]) {
  test(`sparsegpt matches the float64 reference ${JSON.stringify(o)}`, async () => {
    const r = await sparsegpt(L.W, L.H, shape, o);
    const ref = sparsegptRef(L.W, L.H, L.rows, L.cols, o);
    const diff = mismatches(r.mask, ref.mask);
    console.log(`sparsegpt ${JSON.stringify(o)}: ${diff} mask entries differ from float64, loss rel diff ${relDiff(r.loss, ref.loss).toExponential(2)}`);
    assert.ok(diff <= r.mask.length * 1e-4, `${diff} mask entries differ`);
    assert.ok(relDiff(r.loss, ref.loss) < 1e-5, `loss ${r.loss} vs reference ${ref.loss}`);
    for (let i = 0; i < r.mask.length; i++) if (r.mask[i]) assert.equal(r.weights[i], 0);
    if (o.n) assertNM(r.mask, L.rows, L.cols, o.n, o.m!);
    else {
      const frac = r.mask.reduce((a, b) => a + b, 0) / r.mask.length;
      assert.ok(Math.abs(frac - (o.sparsity ?? 0)) < 0.01, `sparsity ${frac}`);
    }
    if (o.quant) {
      assert.ok(r.quantized);
      for (let i = 0; i < r.weights.length; i++) {
        const row = Math.floor(i / L.cols);
        assert.equal(r.weights[i], Math.fround(r.quantized.scales[row] * (r.quantized.codes[i] - r.quantized.zeros[row])));
      }
    }
  });
}

test('sparsegpt reconstructs better than magnitude and Wanda at the same sparsity', async () => {
  const lines: string[] = [];
  for (const [i, pattern] of [{ sparsity: 0.5 }, { n: 2, m: 4 }, { n: 4, m: 8 }, { sparsity: 0.6 }].entries()) {
    const layer = makeLayer(48, 256, 512, 70 + i);
    const sh = { rows: layer.rows, cols: layer.cols };
    const acc = new HessianAccumulator(layer.cols);
    await acc.add(layer.X, layer.tokens, layer.samples);
    const s = await sparsegpt(layer.W, acc.H, sh, pattern);
    const w = await wanda(layer.W, acc.columnNorms(), sh, pattern);
    const m = await magnitude(layer.W, sh, pattern);
    const [ls, lw, lm] = [s, w, m].map((x) => layerLoss(layer.W, x.weights, sh.rows, sh.cols, layer.X, layer.tokens));
    lines.push(`${JSON.stringify(pattern)}: sparsegpt/wanda ${(ls / lw).toFixed(3)}, sparsegpt/magnitude ${(ls / lm).toFixed(3)}`);
    assert.ok(ls <= lw, `SparseGPT ${ls} > Wanda ${lw} for ${JSON.stringify(pattern)}`);
    assert.ok(ls <= lm, `SparseGPT ${ls} > magnitude ${lm} for ${JSON.stringify(pattern)}`);
    const prunedS = s.mask.reduce((a, b) => a + b, 0);
    const prunedW = w.mask.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(prunedS - prunedW) <= s.mask.length * 0.01, 'same sparsity');
  }
  console.log(`reconstruction error ratios: ${lines.join('; ')}`);
});

test('sparsegpt rejects N:M patterns that do not fit', async () => {
  await assert.rejects(sparsegpt(L.W, L.H, shape, { n: 4, m: 3 }), /0 < n < m/);
  await assert.rejects(sparsegpt(L.W, L.H, { rows: 64, cols: 150 }, { n: 2, m: 4 }), /not a multiple of m=4|W has/);
  await assert.rejects(sparsegpt(L.W, L.H, shape, { sparsity: 1 }), /sparsity must be in \[0, 1\)/);
});
