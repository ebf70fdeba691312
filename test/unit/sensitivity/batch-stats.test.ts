// The per-batch gradient metrics (`taylor`, `fisher`): accumulation against a direct computation,
// the triangle inequality against LLM-MQ's averaged-gradient metric, and the streamed batch
// gradients of the tiny LM (skipped without the fixture or the addon).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isAvailable } from '../../../native/index';
import { BatchTaylorStats, fisherDiagonal } from '../../../extension/runner/engine/sensitivity/batch-stats';
import { SENSITIVITY_METRICS } from '../../../language-server/core/sensitivity/types';
import { METRIC_NAMES } from '../../../webviews/protocol';
import { Rng } from '../../../language-server/core/util/rng';

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

test('batch stats: mean |<g_b, dW>| per candidate, >= the averaged-gradient term; diagonal Fisher', () => {
  const rng = new Rng(7);
  const n = 96;
  const deltas = [0.3, 0.1, 0.02].map((scale) => Float32Array.from({ length: n }, () => scale * rng.normal()));
  const stats = new BatchTaylorStats(deltas);
  // Batch gradients around a near-zero mean, as at a trained model's minimum: antithetic pairs
  // mean ± e, so the noise cancels exactly in the average and only the small mean is left.
  const mean = Float32Array.from({ length: n }, () => 0.01 * rng.normal());
  const batches = Array.from({ length: 6 }, () => Float32Array.from({ length: n }, () => rng.normal()))
    .flatMap((e) => [Float32Array.from(mean, (m, i) => m + e[i]!), Float32Array.from(mean, (m, i) => m - e[i]!)]);
  for (const g of batches) stats.add(g);
  assert.equal(stats.count, batches.length);
  const avg = Float32Array.from(mean, (_, i) => batches.reduce((a, g) => a + g[i]!, 0) / batches.length);
  const taylor = stats.taylor();
  const squares = Float32Array.from(mean, (_, i) => batches.reduce((a, g) => a + g[i]! * g[i]!, 0) / batches.length);
  const W = Float32Array.from({ length: n }, () => rng.normal());
  deltas.forEach((d, k) => {
    const direct = batches.reduce((a, g) => a + Math.abs(dot(g, d)), 0) / batches.length;
    assert.ok(Math.abs(taylor[k]! - direct) <= 1e-9 * Math.max(1, direct), `taylor[${k}] ${taylor[k]} vs ${direct}`);
    const Q = Float32Array.from(W, (w, i) => w - d[i]!);
    const fisher = fisherDiagonal(squares, W, Q);
    let directFisher = 0;
    for (let i = 0; i < n; i++) directFisher += batches.reduce((a, g) => a + (g[i]! * d[i]!) ** 2, 0) / batches.length;
    assert.ok(Math.abs(fisher - directFisher / 2) <= 1e-6 * directFisher, `fisher[${k}] ${fisher} vs ${directFisher / 2}`);
    // The averaged gradient's own diagonal term is far smaller: the batch noise is what it measures.
    const meanFisher = fisherDiagonal(Float32Array.from(avg, (g) => g * g), W, Q);
    assert.ok(fisher > 10 * meanFisher, `Fisher from batch gradients ${fisher} vs from the mean gradient ${meanFisher}`);
    const averaged = Math.abs(dot(avg, d));
    assert.ok(taylor[k]! >= averaged - 1e-9, `triangle inequality: ${taylor[k]} >= ${averaged}`);
    assert.ok(taylor[k]! > 1.5 * averaged, `batch gradients that cancel in the mean still count: ${taylor[k]} vs ${averaged}`);
  });
  // Larger ΔW, larger scores (the deltas above shrink with k).
  assert.ok(taylor[0]! > taylor[1]! && taylor[1]! > taylor[2]!, `taylor falls with |dW|: ${taylor.join(', ')}`);
  assert.throws(() => stats.add(new Float32Array(n - 1)), /ΔW has 96/);
});

test('batch stats: no batch gives zeros', () => {
  const s = new BatchTaylorStats([new Float32Array(4).fill(1)]);
  assert.deepEqual(s.taylor(), [0]);
  assert.throws(() => fisherDiagonal(new Float32Array(3), new Float32Array(4), new Float32Array(4)), /Fisher diagonal has 3/);
});

test('the view validates exactly the engine metrics', () => {
  assert.deepEqual([...METRIC_NAMES], SENSITIVITY_METRICS);
});

const model = path.resolve('test/fixtures/tiny-lm/model.onnx');
const skip = !existsSync(model) ? 'tiny-lm fixture missing' : !isAvailable() ? 'native addon not built' : false;

test('layerGradients streams each window gradient; their mean is the averaged gradient', { skip }, async () => {
  const { ModelProbe } = await import('../../../extension/runner/engine/sensitivity/probe');
  const { layerGradients } = await import('../../../extension/runner/engine/sensitivity/gradients');
  const { quantizeWeight } = await import('../../../extension/runner/engine/sensitivity/quantize');
  const probe = await ModelProbe.open(model, ['layers.1.mlp.down_proj']);
  try {
    const text = 'NAME\n       ls - list directory contents\n\nSYNOPSIS\n       ls [OPTION]... [FILE]...\n  -a, --all  do not ignore entries starting with .\n';
    const bytes = new TextEncoder().encode(text);
    const windows = [0, 20, 40].map((o) => Int32Array.from(bytes.slice(o, o + 48)));
    const l = probe.layers[0]!;
    const W = await probe.weight(l);
    const Q = await quantizeWeight(W, l, 2, { group: 64, symmetric: false }, 0);
    const stats = new BatchTaylorStats([Float32Array.from(W, (w, i) => w - Q[i]!)]);
    const sum = new Float64Array(l.rows * l.cols);
    let calls = 0;
    const g = await layerGradients(probe.model, probe.io, probe.layers, windows, {
      squares: true,
      onBatch: (layer, grad) => {
        assert.equal(layer.name, l.name);
        assert.equal(grad.length, sum.length);
        for (let i = 0; i < grad.length; i++) sum[i]! += grad[i]!;
        stats.add(grad);
        calls++;
      },
    });
    assert.equal(calls, windows.length);
    const mean = g.grads.get(l.name)!;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < mean.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(mean[i]! - sum[i]! / windows.length));
      maxAbs = Math.max(maxAbs, Math.abs(mean[i]!));
    }
    assert.ok(maxAbs > 0 && maxDiff <= 1e-5 * maxAbs, `mean of streamed gradients ${maxDiff} off (max |g| ${maxAbs})`);
    const sq = g.squares.get(l.name)!;
    let jensen = 0;
    for (let i = 0; i < mean.length; i++) jensen = Math.max(jensen, mean[i]! * mean[i]! - sq[i]!);
    assert.ok(jensen <= 1e-6 * maxAbs * maxAbs, `mean squared gradient >= squared mean gradient (off by ${jensen})`);
    const averaged = Math.abs(dot(mean, Float32Array.from(W, (w, i) => w - Q[i]!)));
    assert.ok(stats.taylor()[0]! >= averaged * (1 - 1e-5), `per-window ${stats.taylor()[0]} >= averaged ${averaged}`);
  } finally {
    await probe.close();
  }
});
