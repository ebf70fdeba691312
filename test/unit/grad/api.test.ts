// The public gradient API: structured reports for ops without a rule, batch accumulation, shape
// rebuilds, input and embedding gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { Rng } from '../../../language-server/core/util/rng';
import { inputGradients, selectWeights, weightGradients, ruleNames } from '../../../extension/runner/engine/grad/index';

function f32(n: number, seed: number): Uint8Array {
  const a = new Rng(seed).fillNormal(new Float32Array(n), 0.5);
  return new Uint8Array(a.buffer);
}

/** x[N,4] → MatMul w1 → CumSum(axis 1) → MatMul w2 → Tanh → MatMul w3 → y[N,3]. CumSum has no rule. */
function blockedModel(): ModelEditor {
  const e = ModelEditor.create('/tmp/qrecipe-grad-blocked.onnx', 17);
  e.addGraphValue('input', 'x', 'float32', ['N', 4]);
  e.addInitializer('w1', 'float32', [4, 5], f32(20, 1));
  e.addInitializer('w2', 'float32', [5, 6], f32(30, 2));
  e.addInitializer('w3', 'float32', [6, 3], f32(18, 3));
  e.addInitializer('axis', 'int64', [], new Uint8Array(new BigInt64Array([1n]).buffer));
  e.addNode({ opType: 'MatMul', inputs: ['x', 'w1'], outputs: ['h1'], name: 'fc1' });
  e.addNode({ opType: 'CumSum', inputs: ['h1', 'axis'], outputs: ['c'], name: 'cumsum' });
  e.addNode({ opType: 'MatMul', inputs: ['c', 'w2'], outputs: ['h2'], name: 'fc2' });
  e.addNode({ opType: 'Tanh', inputs: ['h2'], outputs: ['t'] });
  e.addNode({ opType: 'MatMul', inputs: ['t', 'w3'], outputs: ['y'], name: 'fc3' });
  e.addGraphValue('output', 'y', 'float32', ['N', 3]);
  return e;
}

function xFeed(n: number, seed: number): Record<string, ort.Tensor> {
  return { x: new ort.Tensor('float32', new Rng(seed).fillNormal(new Float32Array(n * 4)), [n, 4]) };
}

test('an op without a rule blocks the weights behind it and is reported, the others get gradients', async () => {
  const model = blockedModel().model;
  const r = await weightGradients(model, [xFeed(2, 9)], { loss: { kind: 'logit', target: 1 }, weights: ['w*'] });
  assert.deepEqual(r.blocked.map((b) => b.tensor), ['w1']);
  assert.equal(r.blocked[0]!.ops[0]!.opType, 'CumSum');
  assert.equal(r.blocked[0]!.ops[0]!.node, 'cumsum');
  assert.deepEqual(r.unsupported.map((u) => u.opType), ['CumSum']);
  assert.deepEqual([...r.grads.keys()].sort(), ['w2', 'w3']);
  assert.ok(r.grads.get('w3')!.values.some((v) => v !== 0));
});

test('gradients over batches are the mean of the per-batch gradients; a new batch shape rebuilds', async () => {
  const model = blockedModel().model;
  const opts = { loss: { kind: 'logit' as const, target: 0 }, weights: ['w3'], squares: true };
  const a = await weightGradients(model, [xFeed(2, 1)], opts);
  const b = await weightGradients(model, [xFeed(3, 2)], opts);
  const both = await weightGradients(model, [xFeed(2, 1), xFeed(3, 2)], opts);
  assert.equal(both.batches, 2);
  assert.equal(both.builds, 2);
  const ga = a.grads.get('w3')!.values;
  const gb = b.grads.get('w3')!.values;
  const gm = both.grads.get('w3')!;
  for (let i = 0; i < ga.length; i++) {
    assert.ok(Math.abs(gm.values[i]! - (ga[i]! + gb[i]!) / 2) < 1e-6);
    assert.ok(Math.abs(gm.squares![i]! - (ga[i]! ** 2 + gb[i]! ** 2) / 2) < 1e-6);
  }
  assert.ok(Math.abs(both.loss - (a.loss + b.loss) / 2) < 1e-6);
});

test('selectWeights: layers, patterns, and a clear error for a name that matches nothing', () => {
  const model = blockedModel().model;
  assert.deepEqual(selectWeights(model, 'layers').map((w) => w.tensor), ['w1', 'w2', 'w3']);
  assert.deepEqual(selectWeights(model, ['w2']).map((w) => w.tensor), ['w2']);
  assert.throws(() => selectWeights(model, ['nope']), /no float weight named or matching 'nope'/);
});

test('input gradients: float input, and embedding rows of a token model', async () => {
  // ids[B,T] → Gather(E [10,4]) → MatMul(W [4,10]) → logits[B,T,10]
  const e = ModelEditor.create('/tmp/qrecipe-grad-tokens.onnx', 17);
  e.addGraphValue('input', 'ids', 'int64', ['B', 'T']);
  e.addInitializer('E', 'float32', [10, 4], f32(40, 4));
  e.addInitializer('W', 'float32', [4, 10], f32(40, 5));
  e.addNode({ opType: 'Gather', inputs: ['E', 'ids'], outputs: ['emb'], name: 'embed' });
  e.addNode({ opType: 'MatMul', inputs: ['emb', 'W'], outputs: ['logits'], name: 'head' });
  e.addGraphValue('output', 'logits', 'float32', ['B', 'T', 10]);
  const ids = new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 2n]), [1, 4]);
  const r = await inputGradients(e.model, { ids }, { loss: { kind: 'lm' } });
  assert.equal(r.inputs.length, 1);
  const g = r.inputs[0]!;
  assert.equal(g.kind, 'embedding');
  assert.equal(g.value, 'emb');
  assert.deepEqual(g.dims, [1, 4, 4]);
  // Position t predicts ids[t+1]: ∂L/∂emb[t] = W·(softmax(emb[t]W) − onehot(ids[t+1]))/3, last row zero.
  const E = new Float32Array(f32(40, 4).buffer);
  const W = new Float32Array(f32(40, 5).buffer);
  const seq = [1, 2, 3, 2];
  for (let t = 0; t < 4; t++) {
    const logits = Array.from({ length: 10 }, (_, v) => [0, 1, 2, 3].reduce((a, d) => a + E[seq[t]! * 4 + d]! * W[d * 10 + v]!, 0));
    const m = Math.max(...logits);
    const ex = logits.map((l) => Math.exp(l - m));
    const z = ex.reduce((a, b) => a + b, 0);
    for (let d = 0; d < 4; d++) {
      let want = 0;
      if (t < 3) for (let v = 0; v < 10; v++) want += W[d * 10 + v]! * (ex[v]! / z - (v === seq[t + 1] ? 1 : 0)) / 3;
      assert.ok(Math.abs(g.gradient[t * 4 + d]! - want) < 1e-5, `t=${t} d=${d}: ${g.gradient[t * 4 + d]} vs ${want}`);
    }
    assert.ok(Math.abs(g.values[t * 4]! - E[seq[t]! * 4]!) < 1e-7);
  }
  const model = blockedModel().model;
  const fr = await inputGradients(model, xFeed(2, 3), { loss: { kind: 'logit', target: 2 } });
  assert.equal(fr.inputs.length, 0);
  assert.equal(fr.blocked[0]!.input, 'x');
  assert.equal(fr.blocked[0]!.ops[0]!.opType, 'CumSum');
});

test('the rule table covers the ops the issue lists', () => {
  const have = new Set(ruleNames());
  for (const op of ['MatMul', 'Gemm', 'Conv', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Reciprocal', 'Neg', 'Exp', 'Log', 'Tanh', 'Sigmoid', 'Relu', 'Erf', 'Gelu', 'Softmax', 'LogSoftmax', 'ReduceMean', 'ReduceSum', 'ReduceMax', 'LayerNormalization', 'Transpose', 'Reshape', 'Squeeze', 'Unsqueeze', 'Concat', 'Split', 'Slice', 'Gather', 'Expand', 'Where', 'Cast', 'BatchNormalization', 'MaxPool', 'AveragePool', 'Flatten', 'HardSigmoid', 'HardSwish', 'Clip']) {
    assert.ok(have.has(op), `no rule for ${op}`);
  }
});

test('qrecipe grad: weight gradients of a token model from a text file, written to JSON + bin', async () => {
  const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { main } = await import('../../../extension/runner/commands/grad');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qrecipe-grad-cli-'));
  const file = path.join(dir, 'tokens.onnx');
  const e = ModelEditor.create(file, 17);
  e.addGraphValue('input', 'ids', 'int64', ['B', 'T']);
  e.addInitializer('E', 'float32', [256, 4], f32(1024, 6));
  e.addInitializer('W', 'float32', [4, 256], f32(1024, 7));
  e.addNode({ opType: 'Gather', inputs: ['E', 'ids'], outputs: ['emb'], name: 'embed' });
  e.addNode({ opType: 'MatMul', inputs: ['emb', 'W'], outputs: ['logits'], name: 'head' });
  e.addGraphValue('output', 'logits', 'float32', ['B', 'T', 256]);
  await e.save(file);
  const text = path.join(dir, 'text.txt');
  writeFileSync(text, 'the quick brown fox jumps over the lazy dog, again and again and again.');
  const out = path.join(dir, 'g.json');
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { logs.push(a.join(' ')); };
  let code: number;
  try {
    code = await main([file, '--data', text, '--batches', '2', '--batch', '2', '--seqlen', '8', '--out', out, '--json']);
  } finally {
    console.log = log;
  }
  assert.equal(code, 0);
  const summary = JSON.parse(logs.join('\n')) as { weights: { tensor: string; norm: number }[]; batches: number };
  assert.deepEqual(summary.weights.map((w) => w.tensor).sort(), ['E', 'W']);
  assert.equal(summary.batches, 2);
  const written = JSON.parse(readFileSync(out, 'utf8')) as { data: string; tokens: unknown[]; weights: { tensor: string; offset: number; length: number }[] };
  assert.equal(written.tokens.length, 2);
  const bin = readFileSync(path.join(dir, written.data));
  assert.equal(bin.byteLength, written.weights.reduce((a, w) => a + w.length * 4, 0));
  assert.ok(summary.weights.every((w) => w.norm > 0));
});
