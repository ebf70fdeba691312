// The wrapper's contract: cancellation, progress, device choice, errors, backend info, loader messages.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { benchGemmCpu, benchGemv } from '../../native/bench';
import { backendInfo, CancelledError, gptq, HessianAccumulator, rtn, sparsegpt, tuneAllocator } from '../../native/index';
import { NM_MAX_M, OBS_BLOCK, QUANT_BITS } from '../../native/limits';
import { CancelledError as CoreCancelledError } from '../../language-server/core/util/cancel';
import { makeLayer } from './helpers';
import { randn } from './reference/random';

if (process.argv.includes('--loader-child')) {
  // child mode (see the loader test): report what loading does with the environment given
  try {
    console.log(JSON.stringify({ ok: true, path: backendInfo().addonPath }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, name: (e as Error).name, message: (e as Error).message }));
  }
} else {
  const L = makeLayer(256, 1024, 256, 3);
  const shape = { rows: L.rows, cols: L.cols };

  test('backendInfo describes the addon', () => {
    const info = backendInfo();
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.ok(info.threads >= 1);
    assert.match(info.cpuKernel, /^x86-64-v[234]$/);
    assert.equal(typeof info.cuda.compiled, 'boolean');
    assert.ok(Array.isArray(info.cuda.devices));
    if (info.cuda.devices.length === 0) assert.ok(info.cuda.error, 'says why no GPU is usable');
    assert.match(info.addonPath, /qrecipe\.node$/);
  });

  test('progress reports every column block of GPTQ, ending at the total', async () => {
    const seen: { done: number; total: number }[] = [];
    await gptq(L.W, L.H, shape, { bits: 4 }, { onProgress: (p) => seen.push(p) });
    // progress arrives through a thread-safe queue: let pending calls drain
    await new Promise((r) => setImmediate(r));
    assert.ok(seen.length >= 2, `only ${seen.length} progress events`);
    assert.equal(seen.at(-1)!.done, L.cols);
    assert.ok(seen.every((p) => p.total === L.cols));
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].done > seen[i - 1].done);
  });

  // The abort comes right after the call starts, while the worker is still factorising H or on its
  // first slab (the loops poll the flag per 128-column block / 1024 tokens), so it is always seen.
  test('aborting a running GPTQ rejects with CancelledError', async () => {
    const ac = new AbortController();
    const p = gptq(L.W, L.H, shape, { bits: 4, blockSize: 32 }, { signal: ac.signal });
    ac.abort();
    // the one CancelledError of every long operation: the core's (util/cancel.ts) is the same type
    await assert.rejects(p, (e: Error) => e instanceof CancelledError && e instanceof CoreCancelledError && e.name === 'CancelledError');
  });

  test('aborting a running SparseGPT and Hessian accumulation rejects with CancelledError', async () => {
    const ac = new AbortController();
    const p = sparsegpt(L.W, L.H, shape, { sparsity: 0.5, blockSize: 32 }, { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, CancelledError);
    const acc = new HessianAccumulator(256);
    const ac2 = new AbortController();
    const X = randn(16384 * 256, 1);
    const q = acc.add(X, 16384, 1, { signal: ac2.signal });
    ac2.abort();
    await assert.rejects(q, CancelledError);
  });

  test('a cancelled call leaves the addon usable', async () => {
    const ac = new AbortController();
    const p = gptq(L.W, L.H, shape, { bits: 4 }, { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, CancelledError);
    const r = await gptq(L.W, L.H, shape, { bits: 4 });
    assert.ok(r.loss > 0);
  });

  test('an already aborted signal rejects before any work', async () => {
    await assert.rejects(rtn(L.W, shape, { bits: 4 }, { signal: AbortSignal.abort() }), CancelledError);
  });

  test('a throwing progress callback does not break the call', async () => {
    const r = await rtn(L.W, shape, { bits: 4 }, { onProgress: () => { throw new Error('boom'); } });
    assert.equal(r.codes.length, L.W.length);
  });

  test('device choice: cpu is honoured, cuda without a GPU is a clear error, bad names are refused', async () => {
    const r = await rtn(L.W, shape, { bits: 4 }, { device: 'cpu' });
    assert.equal(r.device, 'cpu');
    const info = backendInfo();
    if (info.cuda.devices.length === 0) await assert.rejects(rtn(L.W, shape, { bits: 4 }, { device: 'cuda' }), /no usable GPU|without CUDA/);
    await assert.rejects(rtn(L.W, shape, { bits: 4 }, { device: 'tpu' as never }), /device must be 'auto', 'cpu' or 'cuda'/);
  });

  test('the addon itself validates what the wrapper would (defence in depth)', async () => {
    const raw = (process as unknown as { dlopen: (m: { exports: Record<string, (o: object) => Promise<unknown>> }, f: string) => void });
    const mod = { exports: {} as Record<string, (o: object) => Promise<unknown>> };
    raw.dlopen(mod, backendInfo().addonPath);
    assert.throws(() => mod.exports.gptq({ rows: 4, cols: 4, W: new Float32Array(3) }), /'W' has 3 elements, expected 16/);
    assert.throws(() => mod.exports.gptq({ rows: 4, cols: 4, bits: 1 }), /bits must be 2\.\.8/);
    assert.throws(() => mod.exports.quantGrid({ rows: 2, cols: 2, W: new Float64Array(4) }), /'W' must be a Float32Array/);
    assert.throws(() => mod.exports.wanda({ rows: -1, cols: 2 }), /rows and cols must be positive/);
  });

  test('the addon accepts exactly what native/limits.ts says (the C++ checks and the pure facts agree)', async () => {
    const mod = { exports: {} as Record<string, (o: object) => Promise<unknown>> };
    (process as unknown as { dlopen: (m: typeof mod, f: string) => void }).dlopen(mod, backendInfo().addonPath);
    // a value at the limit passes the option checks and stops at the first missing array
    const past = /missing array 'W'/;
    for (const bits of [QUANT_BITS.min, QUANT_BITS.max]) assert.throws(() => mod.exports.gptq({ rows: 4, cols: 4, bits }), past);
    for (const bits of [QUANT_BITS.min - 1, QUANT_BITS.max + 1]) assert.throws(() => mod.exports.gptq({ rows: 4, cols: 4, bits }), /bits must be/);
    assert.throws(() => mod.exports.gptq({ rows: 4, cols: 4, blockSize: OBS_BLOCK.max }), past);
    assert.throws(() => mod.exports.gptq({ rows: 4, cols: 4, blockSize: OBS_BLOCK.max + 1 }), new RegExp(`blockSize must be 1\\.\\.${OBS_BLOCK.max}`));
    assert.throws(() => mod.exports.sparsegpt({ rows: 1, cols: NM_MAX_M, n: 1, m: NM_MAX_M, blockSize: NM_MAX_M }), past);
    assert.throws(() => mod.exports.sparsegpt({ rows: 1, cols: 2 * NM_MAX_M + 2, n: 1, m: NM_MAX_M + 1 }), /N:M must satisfy/);
    // and the TypeScript side says the same before the call
    await assert.rejects(gptq(L.W, L.H, shape, { bits: 4, blockSize: OBS_BLOCK.max + 1 }), /blockSize must be 1\.\.4096/);
  });

  test('the product addon exports the product calls and no benchmark (those are in qrecipe_bench.node)', async () => {
    const mod = { exports: {} as Record<string, unknown> };
    (process as unknown as { dlopen: (m: typeof mod, f: string) => void }).dlopen(mod, backendInfo().addonPath);
    assert.deepEqual(Object.keys(mod.exports).sort(), [
      'GraphExecutor', 'backendInfo', 'gptq', 'graphSupport', 'hessian', 'hessianFetch', 'magnitude', 'outliers', 'packNBits', 'quantError', 'quantGrid',
      'sparsegpt', 'tuneAllocator', 'unpackNBits', 'vqCodes', 'vqNearest', 'vqNormal', 'vqRowsTimesH', 'wanda',
    ]);
    const benchFile = path.join(path.dirname(backendInfo().addonPath), 'qrecipe_bench.node');
    if (!existsSync(benchFile)) return; // built by `node native/build.mjs --bench` only
    const r = await benchGemmCpu({ m: 64, n: 64, k: 64, iters: 1 });
    assert.ok(r.gflops > 0 && r.device === 'cpu');
    if (backendInfo().cuda.devices.length === 0) await assert.rejects(benchGemv({ rows: 64, cols: 512, bits: 4 }), /no usable GPU/);
  });

  test('tuneAllocator sets glibc\'s mmap threshold (Linux) and leaves the addon usable', async () => {
    assert.equal(tuneAllocator(1 << 20), process.platform === 'linux');
    assert.equal(tuneAllocator(0), false, 'a threshold of 0 is refused');
    const W = randn(16 * 32, 3);
    assert.equal((await rtn(W, { rows: 16, cols: 32 }, { bits: 4 })).codes.length, 16 * 32);
  });

  test('the loader explains what it tried when the addon is missing', () => {
    const r = spawnSync(process.execPath, [__filename, '--loader-child'], {
      env: { ...process.env, QRECIPE_ADDON: '/nonexistent/qrecipe.node' }, cwd: '/', encoding: 'utf8',
    });
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(out.ok, false);
    assert.equal(out.name, 'NativeLoadError');
    assert.match(out.message, /\/nonexistent\/qrecipe\.node: not found/);
    assert.match(out.message, /npm run build:native/);
  });
}
