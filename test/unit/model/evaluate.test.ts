import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { ModelEditor } from '../../../extension/runner/engine/model/writer';
import { evaluateModel } from '../../../extension/runner/engine/evaluate/index';
import { CancelledError } from '../../../language-server/core/util/cancel';
import { buildMlp, f32bytes, randomF32, tempDir, encodePng } from './helpers';

async function buildClassifier(file: string, seed: number): Promise<void> {
  const e = ModelEditor.create(file, 13);
  e.addGraphValue('input', 'input', 'float32', ['N', 1, 4, 4]);
  e.addInitializer('fc.weight', 'float32', [3, 16], f32bytes(randomF32(48, seed)));
  e.addNode({ opType: 'Flatten', inputs: ['input'], outputs: ['flat'] });
  e.addNode({ opType: 'Gemm', inputs: ['flat', 'fc.weight'], outputs: ['logits'], attributes: { transB: { i: 1 } } });
  e.addGraphValue('output', 'logits', 'float32', ['N', 3]);
  await e.save(file);
}

/** logits[b,t,:] = E[token[b,t], :] — a bigram "language model" whose perplexity is easy to compute. */
async function buildBigram(file: string, E: Float32Array, V: number): Promise<void> {
  const e = ModelEditor.create(file, 17);
  e.addGraphValue('input', 'input_ids', 'int64', ['B', 'T']);
  e.addInitializer('embed.weight', 'float32', [V, V], f32bytes(E));
  e.addNode({ opType: 'Gather', inputs: ['embed.weight', 'input_ids'], outputs: ['logits'] });
  e.addGraphValue('output', 'logits', 'float32', ['B', 'T', V]);
  await e.save(file);
}

test('perplexity of a bigram model equals the hand-computed value', async () => {
  const dir = tempDir();
  const V = 256;
  const E = randomF32(V * V, 11, 2);
  const model = path.join(dir, 'bigram.onnx');
  await buildBigram(model, E, V);
  const text = 'the quick brown fox jumps over the lazy dog; '.repeat(4);
  const data = path.join(dir, 'text.txt');
  writeFileSync(data, text);
  const L = 16;
  const bytes = new TextEncoder().encode(text);
  let nll = 0;
  let n = 0;
  for (let w = 0; w + L <= bytes.length; w += L) {
    for (let k = 0; k < L - 1; k++) {
      const row = E.subarray(bytes[w + k]! * V, bytes[w + k]! * V + V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
      nll += lse - row[bytes[w + k + 1]!]!;
      n++;
    }
  }
  const r = await evaluateModel({ model, metric: 'perplexity', data, seqlen: L, batch: 3 });
  assert.equal(r.details.targets, n);
  assert.ok(Math.abs(r.value - Math.exp(nll / n)) <= 1e-9 * Math.exp(nll / n), `${r.value} vs ${Math.exp(nll / n)}`);
  assert.ok(Math.abs((r.details.bitsPerByte as number) - nll / n / Math.LN2) < 1e-9);
  await assert.rejects(evaluateModel({ model, metric: 'perplexity', data, seqlen: 4096 }), (e: Error) => e.message.startsWith(data) && /shorter than one window/.test(e.message));
});

test('accuracy on a PNG folder follows the labels; KL is 0 against itself and > 0 against another model', async () => {
  const dir = tempDir();
  const model = path.join(dir, 'cls.onnx');
  await buildClassifier(model, 21);
  const imgs = path.join(dir, 'imgs');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(imgs);
  const session = await ort.InferenceSession.create(model);
  const lines: string[] = [];
  for (let k = 0; k < 6; k++) {
    const px = new Uint8Array(16).map((_, i) => (i * 53 + k * 97) & 255);
    writeFileSync(path.join(imgs, `i${k}.png`), encodePng(4, 4, 1, px));
    const x = new ort.Tensor('float32', Float32Array.from(px, (v) => v / 255), [1, 1, 4, 4]);
    const y = (await session.run({ input: x })).logits!.data as Float32Array;
    const pred = y.indexOf(Math.max(...y));
    lines.push(`i${k}.png\t${k === 0 ? (pred + 1) % 3 : pred}`); // the first label is wrong on purpose
  }
  await session.release();
  writeFileSync(path.join(imgs, 'labels.tsv'), lines.join('\n'));
  const acc = await evaluateModel({ model, metric: 'accuracy', data: imgs, batch: 4 });
  assert.equal(acc.samples, 6);
  assert.ok(Math.abs(acc.value - 5 / 6) < 1e-12, String(acc.value));
  assert.equal(acc.throughput!.unit, 'images/s');

  const self = await evaluateModel({ model, metric: 'kl', data: imgs, reference: model });
  assert.ok(Math.abs(self.value) < 1e-9);
  assert.equal(self.details.top1Agreement, 1);
  const other = path.join(dir, 'other.onnx');
  await buildClassifier(other, 22);
  const kl = await evaluateModel({ model: other, metric: 'kl', data: imgs, reference: model });
  assert.ok(kl.value > 1e-3);
  assert.equal(kl.details.rows, 6);
});

test('latency and size', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'mlp.onnx');
  await buildMlp(file).save(file);
  const lat = await evaluateModel({ model: file, metric: 'latency', runs: 7, warmup: 1, batch: 2 });
  assert.equal(lat.details.runs, 7);
  assert.ok((lat.details.p90Ms as number) >= (lat.details.medianMs as number));
  assert.equal(lat.provider, 'cpu');
  const size = await evaluateModel({ model: file, metric: 'size' });
  assert.equal(size.details.bitsPerWeight, 32);
  assert.equal(size.details.params, 220);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(evaluateModel({ model: file, metric: 'latency', signal: ac.signal }), CancelledError);
});

test('qrecipe eval: label file that does not match names it, exit code 1', () => {
  const dir = tempDir();
  const imgs = path.join(dir, 'img.idx');
  const labels = path.join(dir, 'lab.idx');
  writeFileSync(imgs, new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4, ...new Array(32).fill(7)]));
  writeFileSync(labels, new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 0]));
  const model = path.join(dir, 'cls.onnx');
  return buildClassifier(model, 1).then(() => {
    const r = spawnSync(process.execPath, ['dist/cli.js', 'eval', model, '--metric', 'accuracy', '--data', imgs, '--labels', labels], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 3 labels for 2 images`));
  });
});
