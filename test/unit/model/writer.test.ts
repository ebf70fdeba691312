import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../../language-server/core/model/reader';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { inventoryOf } from '../../../language-server/core/model/inventory';
import { getLayerWeight, setLayerWeight } from '../../../extension/runner/engine/model/weights';
import { buildMlp, buildConv, tempDir, randomF32 } from './helpers';

async function run(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(file);
  const r = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float32Array]));
}

async function roundTrip(file: string, feeds: Record<string, ort.Tensor>, external: boolean): Promise<void> {
  const before = await run(file, feeds);
  const editor = new ModelEditor(await loadModel(file));
  const inv = inventoryOf(editor.model);
  for (const l of inv.layers) setLayerWeight(editor, l, await getLayerWeight(editor, l));
  const out = path.join(path.dirname(file), external ? 'same-ext.onnx' : 'same.onnx');
  const res = await editor.save(out, { externalData: external, externalThreshold: 64 });
  assert.equal(!!res.externalPath, external);
  const after = await run(out, feeds);
  for (const k of Object.keys(before)) assert.deepEqual(after[k], before[k], `output ${k}`);
}

test('replacing every weight by itself keeps outputs identical (inline and external data)', async () => {
  const dir = tempDir();
  const mlp = path.join(dir, 'mlp.onnx');
  await buildMlp(mlp).save(mlp);
  const feeds = { x: new ort.Tensor('float32', randomF32(3 * 8, 9), [3, 8]) };
  await roundTrip(mlp, feeds, false);
  await roundTrip(mlp, feeds, true);
  const conv = path.join(dir, 'conv.onnx');
  await buildConv(conv).save(conv);
  await roundTrip(conv, { x: new ort.Tensor('float32', randomF32(2 * 72, 3), [2, 2, 6, 6]) }, true);
  // the external copy re-saved inline, from its side file, is still the same model
  const ext = new ModelEditor(await loadModel(path.join(dir, 'same-ext.onnx')));
  await ext.save(path.join(dir, 'back.onnx'));
  const a = await run(path.join(dir, 'back.onnx'), { x: new ort.Tensor('float32', randomF32(2 * 72, 3), [2, 2, 6, 6]) });
  const b = await run(conv, { x: new ort.Tensor('float32', randomF32(2 * 72, 3), [2, 2, 6, 6]) });
  assert.deepEqual(a.y, b.y);
});

test('setLayerWeight changes the output as the orientation says', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'mlp.onnx');
  await buildMlp(file).save(file);
  const editor = new ModelEditor(await loadModel(file));
  const side = inventoryOf(editor.model).layers.find((l) => l.name === 'side')!;
  const up = inventoryOf(editor.model).layers.find((l) => l.name === 'model.layers.0.mlp.up_proj')!;
  // W = e_0 e_0ᵀ-like: output row r copies input column r
  const w = new Float32Array(side.rows * side.cols);
  for (let r = 0; r < side.rows; r++) w[r * side.cols + r] = 1;
  setLayerWeight(editor, side, w);
  const wu = await getLayerWeight(editor, up);
  assert.equal(wu.length, 16 * 8);
  const out = path.join(dir, 'edited.onnx');
  await editor.save(out);
  const x = randomF32(8, 4);
  const r = await run(out, { x: new ort.Tensor('float32', x, [1, 8]) });
  assert.deepEqual(Array.from(r.y2!), [x[0], x[1], x[2]]);
});

test('new nodes, initializers of other types and opset imports', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'mlp.onnx');
  const e = buildMlp(file);
  e.setOpset('com.microsoft', 1);
  e.addInitializer('scale', 'float16', [1], new Uint8Array([0x00, 0x40])); // 2.0 in half precision
  e.addNode({ opType: 'Cast', inputs: ['scale'], outputs: ['scale32'], name: 'cast_scale', attributes: { to: { i: 1 } } }, { before: '/head/Gemm' });
  e.replaceNode('relu', [
    { opType: 'Relu', inputs: ['h'], outputs: ['hr0'], name: 'relu' },
    { opType: 'Mul', inputs: ['hr0', 'scale32'], outputs: ['hr'], name: 'scale_mul' },
  ]);
  await e.save(file);
  const m = await loadModel(file);
  assert.ok(m.proto.opsetImport!.some((o) => o.domain === 'com.microsoft' && o.version === 1));
  const plain = path.join(dir, 'plain.onnx');
  await buildMlp(plain).save(plain);
  const x = new ort.Tensor('float32', randomF32(8, 2), [1, 8]);
  const a = await run(file, { x });
  const b = await run(plain, { x });
  // Gemm is linear in hr, so doubling hr doubles y minus the bias once
  const bias = randomF32(4, 3);
  for (let k = 0; k < 4; k++) assert.ok(Math.abs(a.y![k]! - (2 * (b.y![k]! - bias[k]!) + bias[k]!)) < 1e-4);
});

test('a failed save leaves no output file and no temp files', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.onnx');
  const e = buildMlp(file);
  e.addInitializer('lazy', 'float32', [1024], () => { throw new Error('producer failed'); });
  await assert.rejects(e.save(file, { externalData: true }), /producer failed/);
  assert.equal(existsSync(file), false);
  assert.deepEqual(readdirSync(dir), []);
});

test('lazy tensors stream to external data; a reader gets them back by offset', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'big.onnx');
  const e = ModelEditor.create(file);
  e.addGraphValue('input', 'x', 'float32', [1, 256]);
  const ws = [0, 1, 2].map((k) => randomF32(256 * 256, 100 + k));
  ws.forEach((w, k) => e.addInitializer(`w${k}`, 'float32', [256, 256], () => new Uint8Array(w.buffer)));
  e.addNode({ opType: 'MatMul', inputs: ['x', 'w0'], outputs: ['a'] });
  e.addNode({ opType: 'MatMul', inputs: ['a', 'w1'], outputs: ['b'] });
  e.addNode({ opType: 'MatMul', inputs: ['b', 'w2'], outputs: ['y'] });
  e.addGraphValue('output', 'y', 'float32', [1, 256]);
  const res = await e.save(file, { externalData: true });
  assert.ok(statSync(file).size < 4096, 'weights are not in the .onnx file');
  assert.ok(res.externalBytes! >= 3 * 256 * 256 * 4);
  const back = new ModelEditor(await loadModel(file));
  const layers = inventoryOf(back.model).layers;
  assert.equal(layers.length, 3);
  assert.ok(layers.every((l) => l.external));
  const w1 = await getLayerWeight(back, layers[1]!);
  assert.equal(w1[3 * 256 + 5], ws[1]![5 * 256 + 3]); // W = storedᵀ
});
