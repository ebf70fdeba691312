// What Inspect Model and the Models view say about a model: a compressed export's quantised layers
// in each form QRecipe writes (MatMulNBits, DequantizeLinear, Cast/Sub/Mul) with their real bit
// width, group and bytes, under the names of the source model's layers, and its provenance.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import path from 'node:path';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { loadModel } from '../../../language-server/core/model/reader';
import { formatModelSummary, provenanceOf, summarizeModel, summaryLine, PROVENANCE_KEYS } from '../../../language-server/core/model/summary';
import { tempDir } from './helpers';

const f32 = (n: number, v = 0.1): Uint8Array => new Uint8Array(new Float32Array(n).fill(v).buffer);
/** uint8 codes cycling through 0..2^bits−1. */
const codes = (n: number, bits: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i % (1 << bits));

test('a model with the three quantised forms: names, encodings, bits from the codes, groups, bytes, provenance', async () => {
  const file = path.join(tempDir(), 'compressed.onnx');
  const e = ModelEditor.create(file, 17);
  e.addGraphValue('input', 'A', 'float32', [1, 64]);
  e.addGraphValue('output', 'Y', 'float32', [1, 16]);
  // 1. MatMulNBits: K=64, N=32, 4 bits, blocks of 32 → B [32, 2, 16]
  e.addInitializer('layers.0.mlp.up_proj.weight_Q4', 'uint8', [32, 2, 16], codes(32 * 2 * 16, 8));
  e.addInitializer('layers.0.mlp.up_proj.weight_scales', 'float32', [64], f32(64));
  e.addInitializer('layers.0.mlp.up_proj.weight_zp', 'uint8', [32], new Uint8Array(32).fill(0x88));
  e.addNode({ opType: 'MatMulNBits', domain: 'com.microsoft', name: 'up_MatMulNBits', inputs: ['A', 'layers.0.mlp.up_proj.weight_Q4', 'layers.0.mlp.up_proj.weight_scales', 'layers.0.mlp.up_proj.weight_zp'], outputs: ['H1'],
    attributes: { K: { i: 64 }, N: { i: 32 }, bits: { i: 4 }, block_size: { i: 32 } } });
  // 2. DequantizeLinear per channel: 3-bit codes stored in uint8, W [32 in, 32 out] (MatMul B)
  e.addInitializer('layers.0.mlp.down_proj.weight_quantized', 'uint8', [32, 32], codes(32 * 32, 3));
  e.addInitializer('layers.0.mlp.down_proj.weight_scale', 'float32', [32], f32(32));
  e.addInitializer('layers.0.mlp.down_proj.weight_zero_point', 'uint8', [32], new Uint8Array(32).fill(4));
  e.addNode({ opType: 'DequantizeLinear', name: 'down_DequantizeLinear', inputs: ['layers.0.mlp.down_proj.weight_quantized', 'layers.0.mlp.down_proj.weight_scale', 'layers.0.mlp.down_proj.weight_zero_point'], outputs: ['Wd'], attributes: { axis: { i: 1 } } });
  e.addNode({ opType: 'MatMul', name: 'down', inputs: ['H1', 'Wd'], outputs: ['H2'] });
  // 3. Cast/Sub/Mul: 2-bit codes [16 rows, 2 groups, 16], reshaped to [16, 32] and transposed for MatMul
  e.addInitializer('lm_head.weight_codes', 'uint8', [16, 2, 16], codes(16 * 32, 2));
  e.addInitializer('lm_head.weight_zeros', 'float32', [16, 2, 1], f32(32, 1));
  e.addInitializer('lm_head.weight_scales', 'float32', [16, 2, 1], f32(32));
  e.addInitializer('shape', 'int64', [2], new Uint8Array(new BigInt64Array([16n, 32n]).buffer));
  e.addNode({ opType: 'Cast', name: 'lm_head.weight_Cast', inputs: ['lm_head.weight_codes'], outputs: ['cf'], attributes: { to: { i: 1 } } });
  e.addNode({ opType: 'Sub', name: 'lm_head.weight_Sub', inputs: ['cf', 'lm_head.weight_zeros'], outputs: ['cs'] });
  e.addNode({ opType: 'Mul', name: 'lm_head.weight_Mul', inputs: ['cs', 'lm_head.weight_scales'], outputs: ['cm'] });
  e.addNode({ opType: 'Reshape', name: 'r', inputs: ['cm', 'shape'], outputs: ['cr'] });
  e.addNode({ opType: 'Transpose', name: 't', inputs: ['cr'], outputs: ['ct'], attributes: { perm: { ints: [1, 0] } } });
  e.addNode({ opType: 'MatMul', name: 'head', inputs: ['H2', 'ct'], outputs: ['Y'] });
  e.setOpset('com.microsoft', 1);
  e.model.proto.metadataProps = [{ key: PROVENANCE_KEYS.source, value: '/w/model.onnx' }, { key: PROVENANCE_KEYS.run, value: '20261207-182053-q' }, { key: 'other', value: 'x' }];
  await e.save(file);

  const s = summarizeModel(await loadModel(file));
  assert.deepEqual(s.quantized.map((q) => [q.name, q.encoding, q.rows, q.cols, q.bits, q.storedBits, q.group]), [
    ['layers.0.mlp.up_proj', 'MatMulNBits', 32, 64, 4, 4, 32],
    ['layers.0.mlp.down_proj', 'DequantizeLinear', 32, 32, 3, 8, 'channel'],
    ['lm_head', 'Cast/Sub/Mul', 16, 32, 2, 8, 16],
  ]);
  assert.equal(s.quantized[0]!.bytes, 32 * 2 * 16 + 64 * 4 + 32);
  assert.equal(s.layers.length, 0, 'no float layer is left: the quantised ones are not listed twice');
  assert.equal(summaryLine(s).split(' · ')[0], '3 quantised layers (2-bit/3-bit/4-bit)');
  assert.deepEqual(provenanceOf(s), [{ label: 'source model', value: '/w/model.onnx' }, { label: 'run', value: '20261207-182053-q' }]);
  const text = formatModelSummary(s);
  assert.match(text, /Provenance:\n {2}source model {2}\/w\/model\.onnx/);
  assert.match(text, /layers\.0\.mlp\.down_proj +DequantizeLinear +32 x 32 +3 \(in 8\) +channel/);
  assert.match(text, /3 quantised layers: 3,584 params in 3\.2 KiB = 7\.29 bits per weight/);
});

test('a float model: its layers, no quantised ones, no provenance', async () => {
  const s = summarizeModel(await loadModel(path.resolve(__dirname, '../../../../test/fixtures/tiny-lm/model.onnx')));
  assert.equal(s.layers.length, 30);
  assert.equal(s.quantized.length, 0);
  assert.deepEqual(provenanceOf(s), []);
  assert.match(summaryLine(s), /^30 layers · 7\.\d\d MiB$/);
  assert.match(formatModelSummary(s), /30 compressible layers: /);
});
