// The probe on convolutions (fmnist-cnn fixture: conv1 reads the graph input, conv2 a hidden
// activation): its im2col Hessians equal the calibration capture's, and the scores behave.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { isAvailable } from '../../../native/index';
import { captureStats } from '../../../extension/runner/engine/calibrate/calibrate';
import { ModelProbe } from '../../../extension/runner/engine/sensitivity/probe';
import { errorScores, quantizeWeight } from '../../../extension/runner/engine/sensitivity/quantize';
import { Rng } from '../../../language-server/core/util/rng';

const model = path.resolve('test/fixtures/fmnist-cnn/model.onnx');
const skip = !existsSync(model) ? 'fmnist-cnn fixture missing' : !isAvailable() ? 'native addon not built' : false;

function batches(): { feeds: Record<string, ort.Tensor>; samples: number }[] {
  const r = new Rng(4);
  return [3, 5].map((n) => ({ feeds: { input: new ort.Tensor('float32', Float32Array.from({ length: n * 28 * 28 }, () => (r.next() < 0.6 ? 0 : r.next())), [n, 1, 28, 28]) }, samples: n }));
}

test('probe: convolutions are skipped unless asked for, with the reason', { skip }, async () => {
  const probe = await ModelProbe.open(model, ['conv1', 'conv2', 'fc1']);
  try {
    assert.deepEqual(probe.layers.map((l) => l.name), ['fc1']);
    assert.deepEqual(probe.skipped.map((s) => s.name), ['conv1', 'conv2']);
    assert.match(probe.skipped[0]!.why, /Conv layers are not probed/);
  } finally {
    await probe.close();
  }
});

test('probe: conv Hessians (im2col rows) equal the calibration capture; errors fall with bits; a 2-bit conv moves the output', { skip }, async () => {
  const probe = await ModelProbe.open(model, ['conv1', 'conv2', 'fc1'], { conv: true });
  try {
    assert.deepEqual(probe.layers.map((l) => l.name), ['conv1', 'conv2', 'fc1']);
    const b = batches();
    const H = await probe.hessiansFor(b.map((x) => x.feeds), {}, b.map((x) => x.samples));
    const ref = await captureStats(model, b, { useNative: false });
    for (const name of ['conv1', 'conv2', 'fc1']) {
      const got = H.get(name)!;
      const want = ref.stats.get(name)!.hessian;
      assert.equal(got.length, want.length, `${name}: Hessian size`);
      let scale = 0;
      let diff = 0;
      for (let i = 0; i < got.length; i++) { scale = Math.max(scale, Math.abs(want[i]!)); diff = Math.max(diff, Math.abs(got[i]! - want[i]!)); }
      assert.ok(scale > 0 && diff <= 1e-4 * scale, `${name}: probe vs capture Hessian differ by ${diff} (scale ${scale})`);
    }
    const l = probe.layers[1]!;
    assert.equal(l.cols, 16 * 3 * 3);
    const W = await probe.weight(l);
    const errs: number[] = [];
    for (const bits of [2, 3, 4, 8]) {
      const Q = await quantizeWeight(W, l, bits, { group: 'channel', symmetric: false }, bits <= 3 ? 0.005 : 0);
      errs.push(errorScores(W, Q, l, H.get(l.name)).hessian!);
    }
    for (let i = 1; i < errs.length; i++) assert.ok(errs[i]! < errs[i - 1]!, `hessian error must fall with bits: ${errs.join(', ')}`);
    const dense = await probe.klOn(b);
    assert.equal(dense.kl, 0);
    const Q2 = await quantizeWeight(W, l, 2, { group: 'channel', symmetric: false }, 0);
    const q = await probe.klOn(b, new Map([[l.name, Q2]]));
    assert.ok(q.kl > 0, 'a 2-bit conv2 moves the class distributions');
  } finally {
    await probe.close();
  }
});
