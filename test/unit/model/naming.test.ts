// Layer names from each exporter's conventions, aliases in patterns, tied tensors counted once,
// and the half-precision table decode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aliasesOf, nameFromMetadata, nameFromNode, nameFromTensor } from '../../../language-server/core/model/naming';
import { storedOnce } from '../../../language-server/core/model/inventory';
import { compilePattern, isCompiled, LayerIndex } from '../../../language-server/core/recipe/patterns';
import { halfBitsToFloat32, halfToFloat } from '../../../language-server/core/model/dtype';
import type { LayerInfo } from '../../../language-server/core/model/types';

const meta = (scopes: string[], classes?: string[]) => ({
  metadataProps: [
    { key: 'pkg.torch.onnx.name_scopes', value: `[${scopes.map((s) => `'${s}'`).join(', ')}]` },
    ...(classes ? [{ key: 'pkg.torch.onnx.class_hierarchy', value: `[${classes.map((s) => `'${s}'`).join(', ')}]` }] : []),
  ],
});

test('dynamo metadata: the deepest module of name_scopes, not the aten call', () => {
  const scopes = ['', 'model', 'model.layers.0', 'model.layers.0.self_attn', 'model.layers.0.self_attn.q_proj', 'linear'];
  const classes = ['transformers.LlamaForCausalLM', 'transformers.LlamaModel', 'transformers.LlamaDecoderLayer', 'transformers.LlamaAttention', 'torch.nn.modules.linear.Linear', 'aten.linear.default'];
  assert.equal(nameFromMetadata(meta(scopes, classes)), 'model.layers.0.self_attn.q_proj');
  // Without class_hierarchy: the deepest entry extending its parent's path.
  assert.equal(nameFromMetadata(meta(scopes)), 'model.layers.0.self_attn.q_proj');
  assert.equal(nameFromMetadata(meta(['', 'lm_head', 'linear_14'], ['X', 'torch.nn.modules.linear.Linear', 'aten.linear.default'])), 'lm_head');
  assert.equal(nameFromMetadata(meta(['', 'linear'], ['X', 'aten.linear.default'])), undefined);
  assert.equal(nameFromMetadata({}), undefined);
});

test('tensor and node names of the TorchScript exporter, Optimum and the genai builder', () => {
  assert.equal(nameFromTensor('model.layers.0.attn.q_proj.MatMul.weight'), 'model.layers.0.attn.q_proj');
  assert.equal(nameFromTensor('model.layers.3.mlp.up_proj.weight'), 'model.layers.3.mlp.up_proj');
  assert.equal(nameFromTensor('val_91'), undefined);
  assert.equal(nameFromTensor('onnx::MatMul_1234'), undefined);
  assert.equal(nameFromNode('/model/layers.0/self_attn/q_proj/MatMul', 'MatMul'), 'model.layers.0.self_attn.q_proj');
  assert.equal(nameFromNode('/model/layers.0/attn/qkv_proj/MatMul_1', 'MatMul'), 'model.layers.0.attn.qkv_proj');
  assert.equal(nameFromNode('node_linear_6', 'MatMul'), undefined);
  assert.equal(nameFromNode('node_addmm', 'Gemm'), undefined);
  assert.deepEqual(aliasesOf('model.layers.12.attn.o_proj'), ['model.layers.12.self_attn.o_proj']);
  assert.deepEqual(aliasesOf('transformer.h.0.attn.c_attn'), []);
});

const L = (name: string, tensorName = `${name}.w`, aliases?: string[]): LayerInfo => ({
  name, tensorName, nodeName: '', op: 'MatMul', shape: [8, 8], dtype: 'float32', rows: 8, cols: 8, transposed: true, params: 64, bytes: 256, inputName: 'x', ...(aliases ? { aliases } : {}),
});

test('patterns match a layer by its aliases too (llm-compressor names on genai-builder files)', () => {
  const layers = [L('model.layers.0.attn.q_proj', 'a', aliasesOf('model.layers.0.attn.q_proj')), L('model.layers.0.mlp.down_proj')];
  const ix = new LayerIndex(layers);
  for (const p of ['model.layers.0.self_attn.q_proj', 're:.*self_attn\\.q_proj', 'model.layers.0.self_attn.*', 'model.layers.*.self_attn.q_proj']) {
    const c = compilePattern(p);
    assert.ok(isCompiled(c));
    assert.deepEqual(ix.match(c).map((l) => l.name), ['model.layers.0.attn.q_proj'], p);
  }
});

test('storedOnce counts a tensor shared by tied layers once', () => {
  const s = storedOnce([L('model.embed_tokens', 'lm_head.weight'), L('lm_head', 'lm_head.weight'), L('q')]);
  assert.deepEqual(s, { params: 128, bytes: 512, tensors: 2 });
});

test('half bits decode through the table exactly as halfToFloat, for all 65536 patterns', () => {
  const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const got = halfBitsToFloat32(bits);
  for (let h = 0; h < 65536; h++) {
    const want = Math.fround(halfToFloat(h));
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got[h]!), `${h}`);
    else assert.ok(Object.is(got[h], want), `${h}: ${got[h]} vs ${want}`);
  }
});
