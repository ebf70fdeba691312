// Weights reached through layout/storage ops at different opsets: fp16 + Cast, Identity,
// DequantizeLinear of int8 / int4 (opset 21), Transpose of a Constant; and the float16 round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { loadModel } from '../../../language-server/core/model/reader';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { getLayerWeight, setLayerWeight } from '../../../extension/runner/engine/model/weights';
import { floatToHalf, halfToFloat } from '../../../language-server/core/model/dtype';
import { f32bytes, randomF32, tempDir } from './helpers';

test('float16 conversion round-trips every half value', () => {
  for (let h = 0; h < 0x10000; h++) {
    const f = halfToFloat(h);
    if (Number.isNaN(f)) continue;
    assert.equal(floatToHalf(f), h === 0x8000 ? 0x8000 : h, `half 0x${h.toString(16)}`);
  }
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'ties go to even');
});

test('weights through Cast (fp16), Identity and DequantizeLinear at opset 21', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.onnx');
  const e = ModelEditor.create(file, 21);
  e.addGraphValue('input', 'x', 'float32', [2, 8]);
  const w16 = new Uint16Array(8 * 4).map((_, k) => floatToHalf((k - 16) / 8));
  e.addInitializer('a.weight', 'float16', [8, 4], new Uint8Array(w16.buffer));
  e.addNode({ opType: 'Cast', inputs: ['a.weight'], outputs: ['a.w32'], attributes: { to: { i: 1 } } });
  e.addNode({ opType: 'Identity', inputs: ['a.w32'], outputs: ['a.wid'] });
  e.addNode({ opType: 'MatMul', inputs: ['x', 'a.wid'], outputs: ['y1'], name: 'a' });
  e.addInitializer('b.weight', 'int8', [8, 3], new Uint8Array(24).map((_, k) => (k * 11) & 255));
  e.addInitializer('b.scale', 'float32', [], f32bytes(Float32Array.of(0.05)));
  e.addNode({ opType: 'DequantizeLinear', inputs: ['b.weight', 'b.scale'], outputs: ['b.deq'] });
  e.addNode({ opType: 'MatMul', inputs: ['x', 'b.deq'], outputs: ['y2'], name: 'b' });
  e.addInitializer('c.weight', 'int4', [8, 2], new Uint8Array(8).fill(0x21));
  e.addInitializer('c.scale', 'float32', [], f32bytes(Float32Array.of(0.5)));
  e.addNode({ opType: 'DequantizeLinear', inputs: ['c.weight', 'c.scale'], outputs: ['c.deq'] });
  e.addNode({ opType: 'MatMul', inputs: ['x', 'c.deq'], outputs: ['y3'], name: 'c' });
  for (const y of ['y1', 'y2', 'y3']) e.addGraphValue('output', y, 'float32');
  await e.save(file);

  const m = await loadModel(file);
  const inv = inventoryOf(m);
  const [a, b, c] = ['a', 'b', 'c'].map((n) => inv.layers.find((l) => l.name === n)!);
  assert.deepEqual([a!.dtype, a!.via, a!.rows, a!.cols, a!.bytes], ['float16', ['Cast', 'Identity'], 4, 8, 64]);
  assert.deepEqual([b!.dtype, b!.via, b!.rows, b!.cols], ['int8', ['DequantizeLinear'], 3, 8]);
  assert.deepEqual([c!.dtype, c!.bytes, c!.params], ['int4', 8, 16]);
  assert.equal(inv.opset, 21);

  const ed = new ModelEditor(m);
  const wa = await getLayerWeight(ed, a!);
  assert.equal(wa[1 * 8 + 2], (2 * 4 + 1 - 16) / 8); // W[out=1][in=2] = stored[2][1]
  setLayerWeight(ed, a!, wa.map((v) => v * 2));
  await assert.rejects(getLayerWeight(ed, b!), /quantised/);
  const out = path.join(dir, 'scaled.onnx');
  await ed.save(out);
  const x = new ort.Tensor('float32', randomF32(16, 3), [2, 8]);
  const run = async (f: string): Promise<Record<string, Float32Array>> => {
    const s = await ort.InferenceSession.create(f);
    const r = await s.run({ x });
    await s.release();
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float32Array]));
  };
  const [before, after] = [await run(file), await run(out)];
  before.y1!.forEach((v, i) => assert.ok(Math.abs(after.y1![i]! - 2 * v) < 1e-5));
  assert.deepEqual(after.y2, before.y2);
  assert.deepEqual(after.y3, before.y3);
});

test('weights through Reshape and Squeeze: rows × cols of the consumer view, get/set round trip', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'r.onnx');
  const e = ModelEditor.create(file, 13);
  e.addGraphValue('input', 'x', 'float32', [2, 6]);
  e.addInitializer('flat.weight', 'float32', [24], f32bytes(randomF32(24, 1)));
  e.addInitializer('flat.shape', 'int64', [2], new Uint8Array(BigInt64Array.of(-1n, 4n).buffer));
  e.addNode({ opType: 'Reshape', inputs: ['flat.weight', 'flat.shape'], outputs: ['flat.w2'] });
  e.addNode({ opType: 'MatMul', inputs: ['x', 'flat.w2'], outputs: ['y1'], name: 'flat' });
  e.addInitializer('sq.weight', 'float32', [1, 6, 5], f32bytes(randomF32(30, 2)));
  e.addInitializer('sq.axes', 'int64', [1], new Uint8Array(BigInt64Array.of(0n).buffer));
  e.addNode({ opType: 'Squeeze', inputs: ['sq.weight', 'sq.axes'], outputs: ['sq.w2'] });
  e.addNode({ opType: 'MatMul', inputs: ['x', 'sq.w2'], outputs: ['y2'], name: 'sq' });
  e.addGraphValue('output', 'y1', 'float32');
  e.addGraphValue('output', 'y2', 'float32');
  await e.save(file);
  const m = await loadModel(file);
  const inv = inventoryOf(m);
  const flat = inv.layers.find((l) => l.name === 'flat')!;
  const sq = inv.layers.find((l) => l.name === 'sq')!;
  assert.deepEqual([flat.shape, flat.rows, flat.cols, flat.transposed, flat.via], [[24], 4, 6, true, ['Reshape']]);
  assert.deepEqual([sq.shape, sq.rows, sq.cols, sq.via], [[1, 6, 5], 5, 6, ['Squeeze']]);
  const ed = new ModelEditor(m);
  const w = await getLayerWeight(ed, flat);
  const stored = randomF32(24, 1);
  assert.equal(w[3 * 6 + 1], stored[1 * 4 + 3]); // W[out 3][in 1] = stored[in 1][out 3]
  for (const l of [flat, sq]) setLayerWeight(ed, l, (await getLayerWeight(ed, l)).map((v) => -v));
  const out = path.join(dir, 'neg.onnx');
  await ed.save(out);
  const x = new ort.Tensor('float32', randomF32(12, 3), [2, 6]);
  const run = async (f: string): Promise<Record<string, ort.Tensor>> => {
    const s = await ort.InferenceSession.create(f);
    const r = await s.run({ x });
    await s.release();
    return r;
  };
  const [a, b] = [await run(file), await run(out)];
  for (const k of ['y1', 'y2']) (a[k]!.data as Float32Array).forEach((v, i) => assert.equal((b[k]!.data as Float32Array)[i], -v));
});
