// The recipe language of the extreme methods (issue #23): quantize vq resolves its codebook shape and
// width, keys of the scalar grid and a dim that does not divide a layer are reported, incoherence
// resolves on gptq, a finetune stage needs a quantize stage before it, and an export format that
// cannot store vector codes or rotations is an error with a quick fix to onnx-decode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../language-server/core/recipe/analyze';
import { layer, memoryHost, tinyLm } from './synthetic';

const FILE = '/work/r.qrecipe';
const HEAD = 'model "model.onnx"\ndata calib { text "c.txt" }\n';
const run = (body: string, inv = tinyLm()) => analyze(FILE, HEAD + body, memoryHost({}, inv));

test('quantize vq resolves dim, codebooks, codebits and its width; finetune resolves its steps', async () => {
  const a = await run('quantize vq on calib { dim 8  codebooks 2  codebits 8  rowscales false }\nfinetune on calib { steps 50  codes 0.5% }\nexport onnx-decode "o.onnx"');
  assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), []);
  const q = a.recipe.stages[0]!;
  assert.ok(q.kind === 'quantize' && q.method === 'vq');
  assert.deepEqual(q.params.vq, { dim: 8, codebooks: 2, codebits: 8, iterations: 6, rowScales: false });
  assert.equal(q.params.bits, 2);
  const f = a.recipe.stages[1]!;
  assert.ok(f.kind === 'finetune');
  assert.deepEqual(f.params, { steps: 50, lr: 0.001, codeLr: 0.01, codeFraction: 0.005, norms: true });
  assert.equal(f.data, 'calib');
});

test('vq: keys of the scalar grid are QR114, a dim that does not divide a layer is QR204 naming it', async () => {
  const a = await run('quantize vq { bits 3  dim 16 }', tinyLm(1, [layer('adapter.proj', 64, 200)]));
  assert.ok(a.diagnostics.some((d) => d.code === 'QR114' && /`bits` does not apply to vq/.test(d.message)), JSON.stringify(a.diagnostics));
  const d = a.diagnostics.find((x) => x.code === 'QR204');
  assert.ok(d, JSON.stringify(a.diagnostics));
  assert.match(d.message, /dim 16` does not divide the input dimension of 1 selected layer /);
  assert.match(d.message, /adapter\.proj: 200/);
});

test('incoherence hadamard resolves on gptq; exporting it as MatMulNBits is QR122 with a fix to onnx-decode', async () => {
  const src = 'quantize gptq { bits 2  group channel  incoherence hadamard }\nexport onnx-matmulnbits "o.onnx"';
  const a = await run(src);
  const q = a.recipe.stages[0]!;
  assert.ok(q.kind === 'quantize' && q.params.incoherence === 'hadamard');
  const d = a.diagnostics.find((x) => x.code === 'QR122');
  assert.ok(d, JSON.stringify(a.diagnostics));
  assert.equal(d.severity, 'error');
  assert.equal((HEAD + src).slice(d.start, d.end), 'onnx-matmulnbits');
  assert.equal(d.fixes?.[0]?.text, 'onnx-decode');
  const ok = await run('quantize gptq { bits 2  group channel  incoherence hadamard }\nexport onnx-decode "o.onnx"');
  assert.ok(!ok.diagnostics.some((x) => x.code === 'QR122'));
});

test('finetune with no quantize stage before it is QR113', async () => {
  const a = await run('finetune on calib { steps 10 }\nquantize rtn { bits 2 }');
  assert.ok(a.diagnostics.some((d) => d.code === 'QR113' && /put a `quantize` stage before it/.test(d.message)), JSON.stringify(a.diagnostics));
});

test('the inlay estimate of a vq stage exported as onnx-decode counts its codes, codebooks and row scales (the one cost model)', async () => {
  const inv = tinyLm();
  const sel = inv.layers.filter((l) => l.op === 'MatMul' && l.name !== 'lm_head');
  const params = sel.reduce((a, l) => a + l.params, 0);
  const expected = (scales: boolean): number => sel.reduce((a, l) => a + l.rows * (l.cols / 4) + 256 * 4 * 2 + (scales ? 2 * l.rows : 0), 0);
  for (const scales of [true, false]) {
    const a = await run(`quantize vq on calib { targets "Linear"  ignore "lm_head"  rowscales ${scales} }\nexport onnx-decode "o.onnx"`, inv);
    assert.equal(a.estimates.length, 1);
    assert.ok(Math.abs(a.estimates[0]!.bitsPerWeight! - (8 * expected(scales)) / params) < 1e-9, `${a.estimates[0]!.bitsPerWeight} vs ${(8 * expected(scales)) / params}`);
  }
  // the same stage in a format that cannot store it counts those layers as float (and QR122 says so)
  const mm = await run('quantize vq on calib { targets "Linear"  ignore "lm_head" }\nexport onnx-matmulnbits "o.onnx"', inv);
  assert.ok(mm.estimates[0]!.bitsPerWeight === undefined || mm.estimates[0]!.bitsPerWeight! >= 32, JSON.stringify(mm.estimates[0]));
});

test('per-layer widths by stages: vq on most layers and GPTQ 4-bit on the others, the estimate after both counts each layer in its own form', async () => {
  const inv = tinyLm();
  const sel = inv.layers.filter((l) => l.op === 'MatMul' && l.name !== 'lm_head');
  const first = sel.filter((l) => l.name.startsWith('layers.0.'));
  const rest = sel.filter((l) => !l.name.startsWith('layers.0.'));
  assert.ok(first.length > 0 && rest.length > 0);
  const params = sel.reduce((a, l) => a + l.params, 0);
  const vq = rest.reduce((a, l) => a + l.rows * (l.cols / 4) + 256 * 4 * 2 + 2 * l.rows, 0);
  const w4 = first.reduce((a, l) => a + Math.ceil((l.rows * l.cols) / 2) + 3 * l.rows, 0);
  const a = await run(`quantize vq on calib { targets "Linear"  ignore "lm_head"  ignore "re:^layers\\\\.0\\\\." }
quantize gptq on calib { targets "re:^layers\\\\.0\\\\."  bits 4  group channel }
export onnx-decode "o.onnx"`, inv);
  assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), []);
  const last = a.estimates[a.estimates.length - 1]!;
  assert.ok(Math.abs(last.bitsPerWeight! - (8 * (vq + w4)) / params) < 1e-9, `${last.bitsPerWeight} vs ${(8 * (vq + w4)) / params}`);
});
