import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdirSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { accumulateHessian, InputStats } from '../../../extension/runner/engine/calibrate/hessian';
import { im2col } from '../../../extension/runner/engine/calibrate/im2col';
import { captureStats, calibrateSequential } from '../../../extension/runner/engine/calibrate/calibrate';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { getLayerWeight } from '../../../extension/runner/engine/model/weights';
import { CancelledError } from '../../../language-server/core/util/cancel';
import { buildMlp, buildConv, f32bytes, randomF32, tempDir } from './helpers';

/** float64 reference: (2/n)·Σ over all rows of x xᵀ. */
function refHessian(chunks: Float32Array[], C: number, n: number): Float64Array {
  const H = new Float64Array(C * C);
  for (const X of chunks) for (let r = 0; r < X.length / C; r++) for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) H[i * C + j]! += (2 / n) * X[r * C + i]! * X[r * C + j]!;
  return H;
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(b[i]!)); err = Math.max(err, Math.abs(a[i]! - b[i]!)); }
  return err / scale;
}

test('accumulateHessian: running mean over chunks equals (2/n)·XᵀX', () => {
  const C = 37;
  const chunks = [randomF32(70 * C, 1), randomF32(130 * C, 2), randomF32(5 * C, 3)];
  const samples = [2, 3, 1];
  const H = new Float32Array(C * C);
  let n = 0;
  chunks.forEach((X, k) => { n = accumulateHessian(H, n, X, X.length / C, C, samples[k]); });
  assert.equal(n, 6);
  assert.ok(maxRelErr(H, refHessian(chunks, C, 6)) < 1e-5);
  for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) assert.equal(H[i * C + j], H[j * C + i]);
});

test('InputStats: native accumulator (when it loads) agrees with TypeScript; column norms', async () => {
  const C = 64;
  const X = randomF32(100 * C, 5);
  const ts = new InputStats(C, true, false);
  await ts.add(X, 100, 4);
  const nat = new InputStats(C, true, true);
  await nat.add(X, 100, 4);
  assert.ok(maxRelErr(nat.H, ts.H) < 1e-5, `${nat.backend} vs typescript`);
  const norms = ts.columnNorms();
  let s = 0;
  for (let r = 0; r < 100; r++) s += X[r * C + 3]! ** 2;
  assert.ok(Math.abs(norms[3]! - Math.sqrt(s)) < 1e-4);
});

test('im2col × W equals onnxruntime Conv (stride, padding, dilation)', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'c.onnx');
  const e = ModelEditor.create(file, 13);
  const [N, C, H, W, O, kh, kw] = [2, 3, 9, 8, 4, 3, 2];
  const Wt = randomF32(O * C * kh * kw, 7);
  e.addGraphValue('input', 'x', 'float32', [N, C, H, W]);
  e.addInitializer('k', 'float32', [O, C, kh, kw], f32bytes(Wt));
  const attrs = { strides: { ints: [2, 1] }, pads: { ints: [1, 0, 2, 1] }, dilations: { ints: [1, 2] } };
  e.addNode({ opType: 'Conv', inputs: ['x', 'k'], outputs: ['y'], attributes: attrs });
  e.addGraphValue('output', 'y', 'float32');
  await e.save(file);
  const x = randomF32(N * C * H * W, 8);
  const s = await ort.InferenceSession.create(file);
  const y = (await s.run({ x: new ort.Tensor('float32', x, [N, C, H, W]) })).y!;
  await s.release();
  const cols = im2col(x, [N, C, H, W], { kernel: [kh, kw], strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2], autoPad: 'NOTSET' });
  const [, , OH, OW] = y.dims as number[];
  assert.equal(cols.rows, N * OH! * OW!);
  const yd = y.data as Float32Array;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let p = 0; p < OH! * OW!; p++) {
    let acc = 0;
    for (let c = 0; c < cols.cols; c++) acc += Wt[o * cols.cols + c]! * cols.data[(n * OH! * OW! + p) * cols.cols + c]!;
    assert.ok(Math.abs(acc - yd[(n * O + o) * OH! * OW! + p]!) < 1e-4);
  }
});

function mlpFeeds(rows: number, seed: number): { feeds: Record<string, ort.Tensor>; samples: number; x: Float32Array } {
  const x = randomF32(rows * 8, seed);
  return { feeds: { x: new ort.Tensor('float32', x, [rows, 8]) }, samples: rows, x };
}

test('captureStats: Hessians of a graph input and of a hidden activation, groups, skipped layers', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'mlp.onnx');
  const e = buildMlp(file);
  await e.save(file);
  const batches = [mlpFeeds(5, 1), mlpFeeds(3, 2)];
  const { stats, report } = await captureStats(file, batches, { groupLayers: 1, useNative: false });
  assert.equal(report.groups, 3);
  const up = stats.get('model.layers.0.mlp.up_proj')!;
  assert.equal(up.samples, 8);
  assert.ok(maxRelErr(up.hessian, refHessian(batches.map((b) => b.x), 8, 8)) < 1e-5);
  // head reads hr = relu(x · W1): recompute it from the stored weight
  const editor = new ModelEditor(await loadModel(file));
  const upLayer = inventoryOf(editor.model).layers.find((l) => l.name === 'model.layers.0.mlp.up_proj')!;
  const W1 = await getLayerWeight(editor, upLayer); // 16 × 8
  const hr = batches.map((b) => {
    const out = new Float32Array((b.x.length / 8) * 16);
    for (let r = 0; r < b.x.length / 8; r++) for (let o = 0; o < 16; o++) {
      let s = 0;
      for (let i = 0; i < 8; i++) s += W1[o * 8 + i]! * b.x[r * 8 + i]!;
      out[r * 16 + o] = Math.max(0, s);
    }
    return out;
  });
  const head = stats.get('head')!;
  assert.ok(maxRelErr(head.hessian, refHessian(hr, 16, 8)) < 1e-4);
  assert.ok(report.peakRssMB > 0);

  const conv = path.join(dir, 'conv.onnx');
  await buildConv(conv).save(conv);
  const cx = randomF32(2 * 72, 4);
  const res = await captureStats(conv, [{ feeds: { x: new ort.Tensor('float32', cx, [2, 2, 6, 6]) }, samples: 2 }], { useNative: false });
  assert.deepEqual(res.report.skipped.map((s) => s.name), ['dw']);
  assert.match(res.report.skipped[0]!.reason, /depthwise/);
  const c1 = res.stats.get('conv1')!;
  assert.equal(c1.rows, 2 * 36);
  const unfolded = im2col(cx, [2, 2, 6, 6], { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], autoPad: 'NOTSET' });
  assert.ok(maxRelErr(c1.hessian, refHessian([unfolded.data], 18, 2)) < 1e-5);
});

test('calibrateSequential: later groups see the weights written for earlier groups', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'mlp.onnx');
  await buildMlp(file).save(file);
  const batches = [mlpFeeds(4, 3)];
  const inv = inventoryOf((await loadModel(file)));
  const up = inv.layers.find((l) => l.name === 'model.layers.0.mlp.up_proj')!;
  const head = inv.layers.find((l) => l.name === 'head')!;
  const seen: string[] = [];
  let headH: Float32Array | undefined;
  const { editor, report } = await calibrateSequential(file, batches, async (layers, stats) => {
    seen.push(layers.map((l) => l.name).join());
    if (layers[0] === up) return new Map([[up.name, new Float32Array(up.rows * up.cols)]]); // prune everything
    headH = stats.get(head.name)!.hessian;
    return undefined;
  }, { groups: [[up], [head]], useNative: false });
  assert.deepEqual(seen, [up.name, head.name]);
  assert.equal(report.passes, 2);
  assert.ok(headH!.every((v) => v === 0), 'head input is relu(x·0) = 0');
  assert.ok((await getLayerWeight(editor, up)).every((v) => v === 0));
});

test('calibration on an external-data model leaves no temp files beside it', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'mlp.onnx');
  await buildMlp(file).save(file, { externalData: true, externalThreshold: 64 });
  const before = readdirSync(dir).sort();
  const inv = inventoryOf(await loadModel(file));
  const up = inv.layers.find((l) => l.name === 'model.layers.0.mlp.up_proj')!;
  const head = inv.layers.find((l) => l.name === 'head')!;
  let headRows = 0;
  await calibrateSequential(file, [mlpFeeds(3, 9)], async (layers, stats) => {
    if (layers[0] === up) return new Map([[up.name, new Float32Array(up.rows * up.cols).fill(0.1)]]);
    headRows = stats.get(head.name)!.rows;
    return undefined;
  }, { groups: [[up], [head]] });
  assert.equal(headRows, 3);
  assert.deepEqual(readdirSync(dir).sort(), before);
});

test('cancelling calibration and saving throws CancelledError and leaves no temp files', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'mlp.onnx');
  await buildMlp(file).save(file, { externalData: true, externalThreshold: 64 });
  const before = readdirSync(dir).sort();
  const ac = new AbortController();
  const run = captureStats(file, [mlpFeeds(2, 1), mlpFeeds(2, 2)], {
    groupLayers: 1, signal: ac.signal, onProgress: (p) => { if (p.done === 1) ac.abort(); },
  });
  await assert.rejects(run, CancelledError);
  assert.deepEqual(readdirSync(dir).sort(), before);
  const editor = new ModelEditor(await loadModel(file));
  const ac2 = new AbortController();
  ac2.abort();
  await assert.rejects(editor.save(path.join(dir, 'copy.onnx'), { signal: ac2.signal, externalData: true }), CancelledError);
  assert.deepEqual(readdirSync(dir).sort(), before);
});
