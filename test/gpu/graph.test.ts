// The graph executor on CUDA against the CPU executor (test/native/graph.test.ts checks the CPU
// against onnxruntime): block parts cut by the runner's planner, outputs, taps into device-kept
// Hessians, both GEMM kernels, weight updates and cancellation. Skipped without a usable GPU.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';

import { backendInfo, CancelledError, createGraphExecutor, HessianAccumulator, type GraphSpec, type GraphTensor } from '../../native/index';
import { generateLlamaShaped } from '../fixtures/gen-llama-shaped';
import { Rng } from '../../language-server/core/util/rng';
import { hessianRel, maxRel } from '../native/graph-helpers-math';
import { nativeCut, type NativeCut } from './graph-helpers';

const info = backendInfo();
const skip = info.cuda.devices.length === 0 ? `no usable GPU (${info.cuda.error ?? 'none'})` : false;
const ROOT = path.resolve(__dirname, '../..');
const rng = new Rng(11);
const ids = (b: number, t: number, vocab: number): GraphTensor =>
  ({ dims: [b, t], data: BigInt64Array.from({ length: b * t }, () => BigInt(rng.int(vocab))) });

const cases: Record<string, () => Promise<NativeCut | string>> = {
  'generated Llama-shaped (hidden 256, 8 heads)': async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'qrecipe-graph-gpu-')), 'llama.onnx');
    await generateLlamaShaped(file, { blocks: 2, hidden: 256, mlp: 688, heads: 8, vocab: 64, seed: 5 });
    return nativeCut(file, 1, { input_ids: ids(2, 64, 64) });
  },
  'hf/llama-gqa-fp32': async () => nativeCut(path.join(ROOT, 'test/fixtures/hf/llama-gqa-fp32/model.onnx'), 1,
    { input_ids: ids(2, 12, 512), attention_mask: { dims: [2, 12], data: BigInt64Array.from({ length: 24 }, (_, i) => (i === 0 ? 0n : 1n)) } }),
  'tiny-lm': async () => nativeCut(path.join(ROOT, 'test/fixtures/tiny-lm/model.onnx'), 2, { input_ids: ids(2, 20, 256) }),
};

for (const [label, make] of Object.entries(cases)) {
  for (const gemm of ['default', 'own']) {
    test(`${label}: CUDA (${gemm} GEMM) gives the CPU's outputs and taps`, { skip }, async (t) => {
      const c = await make();
      if (typeof c === 'string') return t.skip(`a part before the block does not run natively: ${c}`);
      if (gemm === 'own') process.env.QRECIPE_GRAPH_GEMM = 'own';
      const gpu = createGraphExecutor(c.spec, { device: 'cuda' });
      const cpu = createGraphExecutor(c.spec, { device: 'cpu' });
      try {
        assert.equal(gpu.device, 'cuda');
        const cols = (name: string, out: Record<string, GraphTensor>): number => out[name]!.dims[out[name]!.dims.length - 1]!;
        const ref = await cpu.run(c.feeds);
        const accG = c.taps.map((n) => new HessianAccumulator(cols(n, ref), { keepOnDevice: true }));
        const accC = c.taps.map((n) => new HessianAccumulator(cols(n, ref)));
        for (let pass = 0; pass < 2; pass++) {
          const g = await gpu.run(c.feeds, { taps: c.taps.map((n, k) => ({ tensor: n, acc: accG[k]!, samples: 2 })) });
          await cpu.run(c.feeds, { taps: c.taps.map((n, k) => ({ tensor: n, acc: accC[k]!, samples: 2 })) });
          for (const name of c.spec.outputs) {
            assert.deepEqual(g[name]!.dims, ref[name]!.dims);
            const r = maxRel(g[name]!.data as Float32Array, ref[name]!.data as Float32Array);
            assert.ok(r < 1e-4, `${name}: rel ${r}`);
          }
        }
        for (const [k, n] of c.taps.entries()) {
          assert.equal(accG[k]!.count, 4);
          const r = hessianRel(accG[k]!.H, accC[k]!.H);
          assert.ok(r < 1e-4, `tap ${n}: rel ${r}`);
          accG[k]!.dispose();
        }
        // new weights: the GPU follows the CPU
        const w = new Float32Array(c.weight.dims.reduce((a, b) => a * b, 1)).map(() => (rng.next() - 0.5) * 0.1);
        for (const ex of [gpu, cpu]) ex.setInitializers({ [c.weight.name]: { dims: c.weight.dims, data: w } });
        const g2 = await gpu.run(c.feeds);
        const c2 = await cpu.run(c.feeds);
        const o = c.spec.outputs[0]!;
        assert.ok(maxRel(c2[o]!.data as Float32Array, ref[o]!.data as Float32Array) > 1e-3, 'the new weights matter');
        assert.ok(maxRel(g2[o]!.data as Float32Array, c2[o]!.data as Float32Array) < 1e-4);
        assert.ok(gpu.deviceBytes > 0);
      } finally {
        delete process.env.QRECIPE_GRAPH_GEMM;
        gpu.dispose();
        cpu.dispose();
      }
    });
  }
}

test('a CUDA run is cancelled between ops within 2 s', { skip }, async () => {
  const n = 2048;
  const nodes: GraphSpec['nodes'] = [];
  for (let i = 0; i < 3000; i++) nodes.push({ op: 'MatMul', name: `mm${i}`, inputs: [i ? `h${i}` : 'x', 'w'], outputs: [`h${i + 1}`], attrs: {} });
  const w = new Float32Array(n * n).map(() => (rng.next() - 0.5) / n);
  const ex = createGraphExecutor({ nodes, inputs: ['x'], outputs: ['h3000'], initializers: { w: { dims: [n, n], data: w } } }, { device: 'cuda' });
  const ctl = new AbortController();
  const run = ex.run({ x: { dims: [8192, n], data: new Float32Array(8192 * n).fill(1) } }, { signal: ctl.signal });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  ctl.abort();
  await assert.rejects(run, (e: Error) => e instanceof CancelledError);
  assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
  ex.dispose();
});
