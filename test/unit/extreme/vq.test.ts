// AQLM-style vector quantization of one layer: the objective never increases, the decode is what
// the codes say, the result beats the 2-bit scalar grids at the same code bits, and incoherence
// processing lowers GPTQ's 2-bit loss on a layer with outliers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeLayer } from '../../native/helpers';
import { layerLoss, vqDecode, vqProblem, vqQuantize } from '../../../extension/runner/engine/extreme/vq';
import { incoherenceFor, incoherenceOf, rotateLayer, unrotateWeight } from '../../../extension/runner/engine/extreme/incoherence';
import { gptq, rtn } from '../../../native/index';

const L = makeLayer(48, 64, 512, 3);
const shape = { rows: L.rows, cols: L.cols };
const zero = new Float32Array(L.W.length);
const base = layerLoss(L.W, zero, L.H, L.rows, L.cols);

test('vq: the objective never increases, the weights are the decoded codes, the loss is reported', async () => {
  const r = await vqQuantize(L.W, L.H, L.rows, L.cols, { dim: 4, codebooks: 2, bits: 6, iterations: 5, tolerance: 0 });
  for (let i = 1; i < r.history.length; i++) assert.ok(r.history[i]! <= r.history[i - 1]! * (1 + 1e-9), `round ${i}: ${r.history[i]} > ${r.history[i - 1]}`);
  assert.ok(r.history[r.history.length - 1]! < 0.8 * r.history[0]!, `rounds improve on k-means: ${r.history.join(' ')}`);
  assert.deepEqual(r.weights, vqDecode(r.layer));
  assert.equal(r.layer.codes.length, 48 * 16 * 2);
  assert.ok(r.layer.codes instanceof Uint8Array);
  assert.ok(Math.abs(r.loss - layerLoss(L.W, r.weights, L.H, L.rows, L.cols)) <= 1e-9 * r.loss);
  assert.ok(Math.abs(r.relError - r.loss / base) < 1e-12);
});

test('vq at 2 code bits per weight beats RTN and GPTQ at 2 bits on the layer loss', async () => {
  // 6,144 vectors for 256 codes: the codebook cannot simply memorise the layer
  const B = makeLayer(192, 128, 512, 4);
  const sh = { rows: B.rows, cols: B.cols };
  const b0 = layerLoss(B.W, new Float32Array(B.W.length), B.H, B.rows, B.cols);
  const v = await vqQuantize(B.W, B.H, B.rows, B.cols, { dim: 4, codebooks: 1, bits: 8, iterations: 4 });
  const g = await gptq(B.W, B.H, sh, { bits: 2, groupSize: 0 });
  const n = await rtn(B.W, sh, { bits: 2, groupSize: 0 });
  const lv = v.loss / b0;
  const lg = layerLoss(B.W, g.weights, B.H, B.rows, B.cols) / b0;
  const ln = layerLoss(B.W, n.weights, B.H, B.rows, B.cols) / b0;
  console.log(`relative layer loss: vq 1x8 g4 ${lv.toExponential(2)}, gptq w2 ${lg.toExponential(2)}, rtn w2 ${ln.toExponential(2)}`);
  assert.ok(lv < lg && lg < ln);
});

test('incoherence: rotated weights are incoherent, and GPTQ 2-bit on them loses less', async () => {
  const W = Float32Array.from(L.W);
  for (let i = 0; i < W.length; i += 61) W[i]! *= 8; // strong outliers
  const inc = incoherenceFor(L.rows, L.cols, { in: 11, out: 12 });
  const rl = rotateLayer(W, L.H, L.rows, L.cols, inc);
  assert.ok(incoherenceOf(rl.W) < 0.5 * incoherenceOf(W), `μ ${incoherenceOf(W).toFixed(1)} → ${incoherenceOf(rl.W).toFixed(1)}`);
  const plain = await gptq(W, L.H, shape, { bits: 2, groupSize: 0 });
  const rot = await gptq(rl.W, rl.H!, shape, { bits: 2, groupSize: 0 });
  const back = unrotateWeight(rot.weights, L.rows, L.cols, inc);
  const b0 = layerLoss(W, zero, L.H, L.rows, L.cols);
  const lp = layerLoss(W, plain.weights, L.H, L.rows, L.cols) / b0;
  const lr = layerLoss(W, back, L.H, L.rows, L.cols) / b0;
  // the rotated problem's own loss equals the loss in the original basis (orthogonal rotations)
  const lrr = layerLoss(rl.W, rot.weights, rl.H!, L.rows, L.cols) / b0;
  console.log(`gptq w2: ${lp.toExponential(2)} plain, ${lr.toExponential(2)} with incoherence`);
  assert.ok(Math.abs(lr - lrr) < 1e-3 * lr, `${lr} vs rotated ${lrr}`);
  assert.ok(lr < 0.8 * lp);
});

test('vq specs that cannot work are refused with the reason', () => {
  assert.match(vqProblem({ dim: 5, codebooks: 1, bits: 8 }, 8, 64)!, /does not divide the 64 input columns/);
  assert.match(vqProblem({ dim: 4, codebooks: 1, bits: 17 }, 8, 64)!, /code width 17/);
  assert.equal(vqProblem({ dim: 8, codebooks: 2, bits: 8 }, 8, 64), undefined);
});
