// Which float tensors fine-tuning trains besides the quantised layers: the scale and bias of a
// normalisation and 1-D tensors read by Mul/Add, never BatchNormalization's running mean and
// variance (a step on a variance can make it negative: the PP-OCRv4 fine-tuning diverged on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { loadModel } from '../../../language-server/core/model/reader';
import { encodeMessage } from '../../../language-server/core/model/onnx-proto';
import { trainableFloats } from '../../../extension/runner/engine/extreme/finetune';

test('trainable floats: BatchNormalization scale and bias and a Mul weight, not the running statistics', async () => {
  const file = '/tmp/qrecipe-trainable.onnx';
  const e = ModelEditor.create(file, 13);
  const f = (n: number, v = 1): Uint8Array => new Uint8Array(new Float32Array(n).fill(v).buffer);
  e.addGraphValue('input', 'x', 'float32', [1, 4, 2, 2]);
  for (const n of ['bn_scale', 'bn_bias', 'bn_mean', 'bn_var']) e.addInitializer(n, 'float32', [4], f(4));
  e.addInitializer('gain', 'float32', [2], f(2, 2));
  e.addNode({ opType: 'BatchNormalization', inputs: ['x', 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], outputs: ['y'] });
  e.addNode({ opType: 'Mul', inputs: ['y', 'gain'], outputs: ['z'] });
  e.addGraphValue('output', 'z', 'float32', [1, 4, 2, 2]);
  writeFileSync(file, encodeMessage('ModelProto', e.model.proto));
  assert.deepEqual(trainableFloats(await loadModel(file), new Set()).sort(), ['bn_bias', 'bn_scale', 'gain']);
});
