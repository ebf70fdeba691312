// The addon's graph executor on the CPU against onnxruntime: block parts cut by the runner's planner
// from a generated Llama-shaped model, an HF Llama export with grouped-query attention and the tiny
// LM, run on the same inputs (the prefix's real outputs): outputs, taps' Hessians, weight updates,
// unsupported ops named by node, cancellation. test/gpu/graph.test.ts runs the same on CUDA.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

import { CancelledError, createGraphExecutor, graphSupport, GraphUnsupportedError, HessianAccumulator } from '../../native/index';
import type { GraphSpec } from '../../native/index';
import { generateLlamaShaped } from '../fixtures/gen-llama-shaped';
import { tempDir } from '../unit/model/helpers';
import { Rng } from '../../language-server/core/util/rng';
import { cutBlock, hessianRel, maxRel, type CutBlock } from './graph-helpers';

const ROOT = path.resolve(__dirname, '../../..');
const rng = new Rng(7);
const ids = (b: number, t: number, vocab: number): ort.Tensor =>
  new ort.Tensor('int64', BigInt64Array.from({ length: b * t }, () => BigInt(rng.int(vocab))), [b, t]);

const cuts: Record<string, () => Promise<CutBlock>> = {
  'generated Llama-shaped (hidden 64, 4 heads)': async () => {
    const file = path.join(tempDir('qrecipe-graph-'), 'llama.onnx');
    await generateLlamaShaped(file, { blocks: 2, hidden: 64, mlp: 160, heads: 4, vocab: 64, seed: 3 });
    return cutBlock(file, 1, { input_ids: ids(2, 16, 64) });
  },
  'hf/llama-gqa-fp32': async () => {
    const mask = new ort.Tensor('int64', BigInt64Array.from({ length: 2 * 12 }, (_, i) => (i === 0 ? 0n : 1n)), [2, 12]);
    return cutBlock(path.join(ROOT, 'test/fixtures/hf/llama-gqa-fp32/model.onnx'), 1, { input_ids: ids(2, 12, 512), attention_mask: mask });
  },
  'tiny-lm': async () => cutBlock(path.join(ROOT, 'test/fixtures/tiny-lm/model.onnx'), 2, { input_ids: ids(2, 20, 256) }),
  'hf/qwen2-tied-fp32': async () => {
    const mask = new ort.Tensor('int64', new BigInt64Array(2 * 10).fill(1n), [2, 10]);
    return cutBlock(path.join(ROOT, 'test/fixtures/hf/qwen2-tied-fp32/model.onnx'), 0, { input_ids: ids(2, 10, 500), attention_mask: mask });
  },
  'hf/gpt2-fp32 (Gemm, LayerNormalization, Tanh)': async () =>
    cutBlock(path.join(ROOT, 'test/fixtures/hf/gpt2-fp32/model.onnx'), 1, { input_ids: ids(2, 10, 500) }),
};

for (const [label, make] of Object.entries(cuts)) {
  test(`${label}: a block part on the CPU gives onnxruntime's outputs, and taps its layers' Hessians`, async () => {
    const c = await make();
    assert.equal(graphSupport(c.spec), null);
    // the parts before the block (embeddings, masks, rotary tables) run natively too
    assert.ok(c.before.size >= 1);
    for (const [part, rel] of c.before) assert.ok(typeof rel === 'number' && rel < 1e-4, `${part}: ${rel}`);
    const ex = createGraphExecutor(c.spec, { device: 'cpu' });
    try {
      assert.equal(ex.device, 'cpu');
      const accs = c.taps.map((t) => new HessianAccumulator(c.cols.get(t)!));
      const out = await ex.run(c.feeds, { taps: c.taps.map((t, k) => ({ tensor: t, acc: accs[k]!, samples: 2 })) });
      for (const name of c.spec.outputs) {
        const want = c.ort[name]!;
        assert.deepEqual(out[name]!.dims, [...want.dims], name);
        assert.ok(maxRel(out[name]!.data as Float32Array, want.data as Float32Array) < 1e-4, `${name}: rel ${maxRel(out[name]!.data as Float32Array, want.data as Float32Array)}`);
      }
      assert.ok(c.taps.length >= 3, 'the block has layer inputs to tap');
      for (const [k, t] of c.taps.entries()) {
        const ref = new HessianAccumulator(c.cols.get(t)!);
        const x = c.ort[t]!;
        await ref.add(x.data as Float32Array, x.size / ref.cols, 2, { device: 'cpu' });
        assert.equal(accs[k]!.count, 2);
        assert.ok(hessianRel(accs[k]!.H, ref.H) < 1e-5, `tap ${t}: rel ${hessianRel(accs[k]!.H, ref.H)}`);
      }
      assert.ok(ex.deviceBytes > 0);
    } finally {
      ex.dispose();
    }
  });
}

test('setInitializers: new weights change the output as onnxruntime with those weights does', async () => {
  const c = await cuts['generated Llama-shaped (hidden 64, 4 heads)']!();
  const layer = c.layers.find((l) => l.name.endsWith('mlp.up_proj'))!;
  const W = new Float32Array(layer.rows * layer.cols).map(() => (rng.next() - 0.5) * 0.2); // rows × cols
  const stored = new Float32Array(W.length); // MatMul's B is Wᵀ: cols × rows
  for (let r = 0; r < layer.rows; r++) for (let k = 0; k < layer.cols; k++) stored[k * layer.rows + r] = W[r * layer.cols + k]!;
  const want = await c.runOrt(new Map([[layer.name, W]]));
  const ex = createGraphExecutor(c.spec, { device: 'cpu' });
  try {
    const before = await ex.run(c.feeds);
    ex.setInitializers({ [layer.tensorName]: { dims: layer.shape, data: stored } });
    const after = await ex.run(c.feeds);
    const o = c.part.carryOut!;
    assert.ok(maxRel(before[o]!.data as Float32Array, want[o]!.data as Float32Array) > 1e-2, 'the new weights matter');
    assert.ok(maxRel(after[o]!.data as Float32Array, want[o]!.data as Float32Array) < 1e-4);
    assert.throws(() => ex.setInitializers({ [layer.tensorName]: { dims: [1, layer.shape[0]! * layer.shape[1]!], data: stored } }), /dims|\[/);
    assert.throws(() => ex.setInitializers({ nope: { dims: [1], data: new Float32Array(1) } }), /not an initializer/);
  } finally {
    ex.dispose();
  }
  await assert.rejects(ex.run(c.feeds), /disposed/);
});

test('an unsupported op is named by node before anything is uploaded', () => {
  const spec: GraphSpec = {
    nodes: [
      { op: 'MatMul', name: 'mm', inputs: ['x', 'w'], outputs: ['y'], attrs: {} },
      { op: 'Conv', name: '/layers.0/attn/Conv', inputs: ['y', 'w'], outputs: ['z'], attrs: {} },
    ],
    inputs: ['x'], outputs: ['z'],
    initializers: { w: { dims: [4, 4], data: new Float32Array(16) } },
  };
  assert.deepEqual(graphSupport(spec), { node: '/layers.0/attn/Conv', op: 'Conv', reason: 'the native graph executor has no Conv operator' });
  assert.throws(() => createGraphExecutor(spec, { device: 'cpu' }), (e: Error) => e instanceof GraphUnsupportedError && /\/layers\.0\/attn\/Conv/.test(e.message));
  const cast: GraphSpec = { ...spec, nodes: [{ op: 'Cast', name: 'c16', inputs: ['x'], outputs: ['z'], attrs: { to: 10 } }] };
  assert.equal(graphSupport(cast)?.node, 'c16');
});

test('a bad feed or a shape error names the node and leaves the executor usable', async () => {
  const spec: GraphSpec = {
    nodes: [{ op: 'MatMul', name: 'proj', inputs: ['x', 'w'], outputs: ['y'], attrs: {} }],
    inputs: ['x'], outputs: ['y'],
    initializers: { w: { dims: [4, 3], data: new Float32Array(12).fill(1) } },
  };
  const ex = createGraphExecutor(spec, { device: 'cpu' });
  await assert.rejects(ex.run({ x: { dims: [2, 5], data: new Float32Array(10) } }), /node 'proj' \(MatMul\): inner dims differ/);
  await assert.rejects(ex.run({ x: { dims: [2, 4], data: new Float32Array(3) } }), /holds 3 values/);
  const ok = await ex.run({ x: { dims: [1, 4], data: Float32Array.from([1, 2, 3, 4]) } });
  assert.deepEqual([...(ok.y!.data as Float32Array)], [10, 10, 10]);
  ex.dispose();
});

test('a run is cancelled between ops within 2 s', async () => {
  // a chain of 400 MatMuls of 384×384 on 512 rows: seconds of work on two cores
  const n = 384;
  const nodes: GraphSpec['nodes'] = [];
  for (let i = 0; i < 400; i++) nodes.push({ op: 'MatMul', name: `mm${i}`, inputs: [i ? `h${i}` : 'x', 'w'], outputs: [`h${i + 1}`], attrs: {} });
  const w = new Float32Array(n * n).map(() => (rng.next() - 0.5) / n);
  const ex = createGraphExecutor({ nodes, inputs: ['x'], outputs: ['h400'], initializers: { w: { dims: [n, n], data: w } } }, { device: 'cpu' });
  const ctl = new AbortController();
  let progressed = 0;
  const run = ex.run({ x: { dims: [512, n], data: new Float32Array(512 * n).fill(1) } }, { signal: ctl.signal, onProgress: (p) => { progressed = p.done; } });
  await new Promise((r) => setTimeout(r, 150));
  const t0 = performance.now();
  ctl.abort();
  await assert.rejects(run, (e: Error) => e instanceof CancelledError);
  assert.ok(performance.now() - t0 < 2000);
  assert.ok(progressed < 400, `cancelled before the end (${progressed} ops done)`);
  ex.dispose();
});


