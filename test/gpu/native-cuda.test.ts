// The CUDA path against the CPU path and the float64 references (run on the GPU machine; every test
// is skipped when no usable GPU is present). Build with `node test/gpu/build.mjs`, see docs/native.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { benchGemv } from '../../native/bench';
import { backendInfo, gptq, HessianAccumulator, HOLD, rtn, sparsegpt, type GptqOptions } from '../../native/index';
import { makeLayer, mismatches, relDiff } from '../native/helpers';
import { gptqRef } from '../native/reference/gptq';
import { layerLoss } from '../native/reference/random';
import { sparsegptRef } from '../native/reference/sparsegpt';

const info = backendInfo();
const skip = info.cuda.devices.length === 0 ? `no usable GPU (${info.cuda.error ?? 'none'})` : false;
console.log(`GPU tests on ${info.cuda.devices[0]?.name ?? 'nothing'}: ${JSON.stringify(info.cuda)}`);

const L = makeLayer(96, 512, 1024, 31);
const shape = { rows: L.rows, cols: L.cols };

test('rtn on CUDA gives the CPU grid and codes', { skip }, async () => {
  // symmetric grids on the full signed range, and group sizes leaving a shorter last group (512 = 5·96 + 32)
  for (const q of [{ bits: 4, groupSize: 128 }, { bits: 3 }, { bits: 2, groupSize: 32, symmetric: true }, { bits: 8, groupSize: 64 },
    { bits: 4, groupSize: 128, symmetric: true }, { bits: 4, groupSize: 96 }, { bits: 3, groupSize: 96, symmetric: true }]) {
    const a = await rtn(L.W, shape, q, { device: 'cuda' });
    const b = await rtn(L.W, shape, q, { device: 'cpu' });
    assert.equal(a.device, 'cuda');
    assert.deepEqual(a.scales, b.scales);
    assert.deepEqual(a.zeros, b.zeros);
    assert.deepEqual(a.codes, b.codes);
    assert.deepEqual(a.weights, b.weights);
  }
});

test('rtn with the MSE search on CUDA stays within ties of the CPU', { skip }, async () => {
  const a = await rtn(L.W, shape, { bits: 3, groupSize: 64, mse: true }, { device: 'cuda' });
  const b = await rtn(L.W, shape, { bits: 3, groupSize: 64, mse: true }, { device: 'cpu' });
  assert.ok(mismatches(a.codes, b.codes) <= a.codes.length * 0.01);
});

// every Hessian kernel (cuBLAS SSYRK, cuBLAS SGEMM, ours), chosen through QRECIPE_HESSIAN
for (const kernel of ['default', 'syrk', 'gemm', 'own']) {
  test(`Hessian on CUDA (${kernel} kernel) equals the CPU accumulation`, { skip }, async () => {
    if (kernel === 'default') delete process.env.QRECIPE_HESSIAN;
    else process.env.QRECIPE_HESSIAN = kernel;
    const a = new HessianAccumulator(L.cols);
    const b = new HessianAccumulator(L.cols);
    try {
      for (let i = 0; i < 3; i++) {
        await a.add(L.X, L.tokens, 2, { device: 'cuda' });
        await b.add(L.X, L.tokens, 2, { device: 'cpu' });
      }
    } finally {
      delete process.env.QRECIPE_HESSIAN;
    }
    let maxRel = 0;
    for (let i = 0; i < L.cols; i++)
      for (let j = 0; j < L.cols; j++) {
        const s = Math.sqrt(b.H[i * L.cols + i] * b.H[j * L.cols + j]);
        maxRel = Math.max(maxRel, Math.abs(a.H[i * L.cols + j] - b.H[i * L.cols + j]) / s);
        // the mirrored kernels are symmetric by construction; a full SGEMM is not guaranteed to be
        if (kernel !== 'gemm') assert.equal(a.H[i * L.cols + j], a.H[j * L.cols + i], `H not symmetric at ${i},${j}`);
      }
    console.log(`Hessian ${kernel}: max relative difference to the CPU ${maxRel}`);
    assert.ok(maxRel < 1e-5, `max relative difference ${maxRel}`);
  });
}

test('a Hessian kept on the device (keepOnDevice) equals the CPU accumulation, also when adds switch device', { skip }, async () => {
  const a = new HessianAccumulator(L.cols, { keepOnDevice: true });
  const b = new HessianAccumulator(L.cols);
  for (const device of ['cuda', 'cuda', 'cpu', 'cuda'] as const) {
    const r = await a.add(L.X, L.tokens, 2, { device });
    assert.equal(r.device, device);
    await b.add(L.X, L.tokens, 2, { device: 'cpu' });
  }
  let maxRel = 0;
  const H = a.H;
  for (let i = 0; i < L.cols; i++)
    for (let j = 0; j < L.cols; j++)
      maxRel = Math.max(maxRel, Math.abs(H[i * L.cols + j] - b.H[i * L.cols + j]) / Math.sqrt(b.H[i * L.cols + i] * b.H[j * L.cols + j]));
  assert.ok(maxRel < 1e-5, `max relative difference ${maxRel}`);
  assert.equal(a.count, b.count);
  a.dispose();
  assert.deepEqual(a.H, H);
});

test('GPTQ with H factored on the device (cuSOLVER) agrees with the host float64 factorisation', { skip }, async () => {
  console.log(`factorisation: ${info.cuda.factor}`);
  for (const o of [{ bits: 4, groupSize: 128 }, { bits: 3, groupSize: 64, actOrder: true }] as GptqOptions[]) {
    const a = await gptq(L.W, L.H, shape, o, { device: 'cuda' });
    process.env.QRECIPE_HOST_FACTOR = '1';
    let b;
    try {
      b = await gptq(L.W, L.H, shape, o, { device: 'cuda' });
    } finally {
      delete process.env.QRECIPE_HOST_FACTOR;
    }
    const d = mismatches(a.codes, b.codes);
    console.log(`${JSON.stringify(o)} device vs host factor: ${d} codes differ, loss ${a.loss} vs ${b.loss}`);
    assert.ok(d <= a.codes.length * 0.002, `${d} codes differ`);
    assert.ok(relDiff(a.loss, b.loss) < 1e-4);
  }
});

test('a non-positive-definite Hessian on the CUDA path rejects with a clear error', { skip }, async () => {
  const H = new Float32Array(L.cols * L.cols);
  for (let j = 0; j < L.cols; j++) H[j * L.cols + j] = 1;
  H[1] = H[L.cols] = 5; // |off-diagonal| > diagonal: indefinite even after 1 % dampening
  await assert.rejects(gptq(L.W, H, shape, { bits: 4 }, { device: 'cuda' }), /not positive definite/);
});

const variants: GptqOptions[] = [
  { bits: 4 },
  { bits: 3, groupSize: 128 },
  { bits: 4, groupSize: 64, actOrder: true },
  { bits: 4, groupSize: 64, actOrder: true, staticGroups: true },
  { bits: 2, groupSize: 32, symmetric: true },
  { bits: 4, groupSize: 256, mse: true },
  { bits: 4, groupSize: 128, symmetric: true },
  { bits: 3, groupSize: 96 }, // 512 = 5·96 + 32: a shorter last group
];
for (const o of variants) {
  test(`gptq on CUDA matches the CPU and the reference ${JSON.stringify(o)}`, { skip }, async () => {
    const a = await gptq(L.W, L.H, shape, o, { device: 'cuda' });
    const b = await gptq(L.W, L.H, shape, o, { device: 'cpu' });
    assert.equal(a.device, 'cuda');
    const d = mismatches(a.codes, b.codes);
    console.log(`${JSON.stringify(o)}: ${d} of ${a.codes.length} codes differ between CUDA and CPU; loss ${a.loss} vs ${b.loss}`);
    assert.ok(d <= a.codes.length * 0.002, `${d} codes differ`);
    assert.ok(relDiff(a.loss, b.loss) < 1e-4);
    assert.deepEqual(a.gIdx, b.gIdx);
    if (!o.mse) {
      const ref = gptqRef(L.W, L.H, L.rows, L.cols, o);
      assert.ok(relDiff(a.loss, ref.loss) < 1e-4, `loss ${a.loss} vs reference ${ref.loss}`);
    }
    const r = await rtn(L.W, shape, o, { device: 'cuda' });
    assert.ok(layerLoss(L.W, a.weights, L.rows, L.cols, L.X, L.tokens) <= layerLoss(L.W, r.weights, L.rows, L.cols, L.X, L.tokens));
  });
}

// GPTQ with held entries (gptq.h's Hold): 2:4-pruned entries stay 0, 1 % outliers kept in fp16
const hold = new Uint8Array(L.W.length);
const Wheld = L.W.slice();
for (let i = 0; i < L.W.length; i += 4) {
  const idx = [0, 1, 2, 3].sort((a, b) => Math.abs(L.W[i + a]) - Math.abs(L.W[i + b]));
  for (const k of idx.slice(0, 2)) { hold[i + k] = HOLD.pruned; Wheld[i + k] = 0; }
}
for (const i of [...Wheld.keys()].filter((i) => !hold[i]).sort((a, b) => Math.abs(Wheld[b]) - Math.abs(Wheld[a])).slice(0, L.W.length / 100)) hold[i] = HOLD.outlier;
const OPTIONS: GptqOptions[] = [
  { bits: 4, groupSize: 128 }, { bits: 3, groupSize: 64, actOrder: true }, { bits: 2, groupSize: 32, symmetric: true },
  { bits: 4, actOrder: true, staticGroups: true, groupSize: 128 },
];
for (const o of OPTIONS) {
  test(`gptq with held entries on CUDA matches the CPU ${JSON.stringify(o)}`, { skip }, async () => {
    const a = await gptq(Wheld, L.H, shape, { ...o, hold }, { device: 'cuda' });
    const b = await gptq(Wheld, L.H, shape, { ...o, hold }, { device: 'cpu' });
    assert.equal(a.device, 'cuda');
    const d = mismatches(a.codes, b.codes);
    console.log(`held ${JSON.stringify(o)}: ${d} of ${a.codes.length} codes differ between CUDA and CPU; loss ${a.loss} vs ${b.loss}`);
    assert.ok(d <= a.codes.length * 0.002, `${d} codes differ`);
    assert.ok(relDiff(a.loss, b.loss) < 1e-4);
    for (let i = 0; i < hold.length; i++) if (hold[i] === HOLD.pruned) assert.equal(a.weights[i], 0, `pruned entry ${i} on CUDA`);
    const ref = gptqRef(Wheld, L.H, L.rows, L.cols, { ...o, hold });
    assert.ok(relDiff(a.loss, ref.loss) < 1e-4, `loss ${a.loss} vs reference ${ref.loss}`);
  });
}

for (const o of [{ sparsity: 0.5 }, { n: 2, m: 4 }, { n: 4, m: 8 }, { sparsity: 0.5, quant: { bits: 4, groupSize: 128 } }, { n: 2, m: 4, quant: { bits: 4 } }]) {
  test(`sparsegpt on CUDA matches the CPU ${JSON.stringify(o)}`, { skip }, async () => {
    const a = await sparsegpt(L.W, L.H, shape, o, { device: 'cuda' });
    const b = await sparsegpt(L.W, L.H, shape, o, { device: 'cpu' });
    assert.equal(a.device, 'cuda');
    const d = mismatches(a.mask, b.mask);
    console.log(`${JSON.stringify(o)}: ${d} mask entries differ; loss ${a.loss} vs ${b.loss}`);
    assert.ok(d <= a.mask.length * 0.002);
    assert.ok(relDiff(a.loss, b.loss) < 1e-3);
    if (!o.quant) {
      const ref = sparsegptRef(L.W, L.H, L.rows, L.cols, o);
      assert.ok(relDiff(a.loss, ref.loss) < 1e-3);
    }
    if (o.quant) assert.ok(mismatches(a.quantized!.codes, b.quantized!.codes) <= a.mask.length * 0.002);
  });
}

test('a large GPTQ layer on CUDA agrees with the CPU', { skip }, async () => {
  const big = makeLayer(1024, 1024, 2048, 5);
  const o = { bits: 4, groupSize: 128 };
  const t0 = performance.now();
  const a = await gptq(big.W, big.H, { rows: 1024, cols: 1024 }, o, { device: 'cuda' });
  const t1 = performance.now();
  const b = await gptq(big.W, big.H, { rows: 1024, cols: 1024 }, o, { device: 'cpu' });
  const t2 = performance.now();
  console.log(`1024×1024 GPTQ: cuda ${(t1 - t0).toFixed(0)} ms, cpu ${(t2 - t1).toFixed(0)} ms; ${mismatches(a.codes, b.codes)} codes differ`);
  assert.ok(mismatches(a.codes, b.codes) <= a.codes.length * 0.002);
  assert.ok(relDiff(a.loss, b.loss) < 1e-4);
});

test('fused dequant+GEMV is correct for 2/3/4/8 bits, with and without outliers', { skip }, async () => {
  for (const bits of [2, 3, 4, 8] as const)
    for (const outlierFraction of [0, 0.005]) {
      const r = await benchGemv({ rows: 1024, cols: 4096, bits, groupSize: 128, iters: 5, outlierFraction });
      console.log(`gemv w${bits} outliers ${outlierFraction}: ${r.fusedUs.toFixed(1)} µs, max err ${r.maxAbsErr}`);
      assert.ok(r.maxAbsErr < 1e-2, `max abs error ${r.maxAbsErr}`);
    }
  // odd shapes (rows not a multiple of a block's rows, K not a multiple of 4096, a wide K = 11008,
  // narrower groups) for every bit width and kernel variant (0 the product's, 9 the previous kernel)
  for (const [rows, cols, groupSize] of [[1000, 1536, 64], [512, 11008, 128], [333, 4096, 32]])
    for (const bits of [2, 3, 4, 8] as const)
      for (const variant of [0, 1, 3, 5, 6, 7, 8, 9]) {
        const r = await benchGemv({ rows, cols, bits, groupSize, iters: 5, variant, outlierFraction: variant === 3 ? 0.01 : 0 });
        assert.ok(r.maxAbsErr < 1e-2, `w${bits} ${rows}×${cols} g${groupSize} variant ${variant}: max abs error ${r.maxAbsErr}`);
      }
});

test('tensor-core 4-bit GEMV is correct for every warp/prefetch variant, with outliers, groups 128 and 256, in a graph', { skip }, async () => {
  // K = 11008 (86 blocks of 128: the split over 8 warps leaves a remainder), 11008 rows, wide groups
  for (const [rows, cols, groupSize] of [[4096, 4096, 128], [512, 11008, 128], [1024, 4096, 256], [11008, 4096, 128]])
    for (const variant of [0, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31])
      for (const outlierFraction of [0, 0.01]) {
        const r = await benchGemv({ rows, cols, bits: 4, groupSize, iters: 3, variant, outlierFraction, graph: variant === 19 || variant === 23 ? 1 : 0 });
        assert.ok(r.maxAbsErr < 1e-2, `${rows}×${cols} g${groupSize} variant ${variant} outliers ${outlierFraction}: max abs error ${r.maxAbsErr}`);
      }
  await assert.rejects(() => benchGemv({ rows: 1024, cols: 4096, bits: 4, groupSize: 64, iters: 2, variant: 16 }), /multiples of 128/);
  await assert.rejects(() => benchGemv({ rows: 1000, cols: 4096, bits: 4, groupSize: 128, iters: 2, variant: 17 }), /multiple of 16/);
});

test('paced 4-bit GEMV (tiles in shared memory, paced bulk copies) is correct and is the product\'s choice where it fits', { skip }, async () => {
  // 4096² (two tiles per CTA on most SMs), wide groups, few tiles (idle tile slots), K = 2048 (smaller
  // runs, deeper pacing), the widest K and the most rows that fit, a small odd layer
  for (const [rows, cols, groupSize] of [[4096, 4096, 128], [4096, 4096, 256], [1024, 4096, 128], [4096, 2048, 128], [2048, 4608, 512], [48, 1536, 128]])
    for (const variant of [0, 34, 35, 36])
      for (const outlierFraction of [0, 0.01]) {
        const r = await benchGemv({ rows, cols, bits: 4, groupSize, iters: 3, variant, outlierFraction, graph: variant === 35 ? 1 : 0 });
        assert.ok(r.maxAbsErr < 1e-2, `${rows}×${cols} g${groupSize} variant ${variant} outliers ${outlierFraction}: max abs error ${r.maxAbsErr}`);
        assert.equal(r.kernel, 'paced', `${rows}×${cols} variant ${variant}`);
      }
  const one = await benchGemv({ rows: 16, cols: 512, bits: 4, groupSize: 128, iters: 1 }); // a single tile and block a warp
  assert.ok(one.maxAbsErr < 1e-2 && one.kernel === 'paced', `16×512: ${one.kernel}, max abs error ${one.maxAbsErr}`);
  // beyond two tiles per SM (11008 rows) or 4608 columns the product keeps the register-tile kernel
  assert.equal((await benchGemv({ rows: 11008, cols: 4096, bits: 4, groupSize: 128, iters: 2 })).kernel, 'tensor core');
  assert.equal((await benchGemv({ rows: 1024, cols: 8192, bits: 4, groupSize: 128, iters: 2 })).kernel, 'tensor core');
  await assert.rejects(() => benchGemv({ rows: 1024, cols: 8192, bits: 4, groupSize: 128, iters: 2, variant: 34 }), /does not fit.*shared memory/);
  await assert.rejects(() => benchGemv({ rows: 1024, cols: 4608, bits: 4, groupSize: 384, iters: 2, variant: 34 }), /power of two/);
  await assert.rejects(() => benchGemv({ rows: 1024, cols: 4608, bits: 2, groupSize: 128, iters: 2, variant: 34 }), /4 bits only/);
});

// --- several GPUs: each call takes the least busy GPU (or the one named); results do not depend on it
const gpus = info.cuda.devices.length;
const multi = gpus < 2 ? `needs ≥ 2 GPUs, ${gpus} visible` : false;

test('a GPU index that is not visible is a clear error', { skip }, async () => {
  await assert.rejects(() => rtn(L.W, shape, { bits: 4 }, { device: 'cuda', gpu: gpus }), new RegExp(`gpu ${gpus} asked for but ${gpus} GPU`));
  const r = await rtn(L.W, shape, { bits: 4 }, { device: 'cuda', gpu: 0 });
  assert.equal(r.gpu, 0);
});

test('concurrent calls spread over every visible GPU and give the single-GPU results', { skip: multi }, async () => {
  const big = makeLayer(2048, 1024, 2048, 77);
  const bshape = { rows: big.rows, cols: big.cols };
  const o = { bits: 4, groupSize: 128 };
  const ref = await gptq(big.W, big.H, bshape, o, { device: 'cuda', gpu: 0 });
  // explicitly on each GPU: identical codes and loss
  for (let g = 1; g < gpus; g++) {
    const r = await gptq(big.W, big.H, bshape, o, { device: 'cuda', gpu: g });
    assert.equal(r.gpu, g);
    assert.deepEqual(r.codes, ref.codes, `GPU ${g} codes differ from GPU 0`);
    assert.equal(r.loss, ref.loss);
  }
  // 2 calls per GPU at once, none named: every GPU takes some, all agree
  const n = 2 * gpus;
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: n }, () => gptq(big.W, big.H, bshape, o, { device: 'cuda' })));
  const tPar = performance.now() - t0;
  const used = new Set(all.map((r) => r.gpu));
  assert.equal(used.size, gpus, `calls ran on GPUs ${[...used].join(',')}`);
  for (const r of all) assert.deepEqual(r.codes, ref.codes);
  const t1 = performance.now();
  for (let i = 0; i < n; i++) await gptq(big.W, big.H, bshape, o, { device: 'cuda', gpu: 0 });
  const tSeq = performance.now() - t1;
  console.log(`${n} GPTQ layers 2048×1024: one GPU ${(tSeq / 1000).toFixed(2)} s, spread over ${gpus} GPUs ${(tPar / 1000).toFixed(2)} s (${(tSeq / tPar).toFixed(2)}×)`);
});

test('a device-resident Hessian stays on its GPU whichever GPU later adds ask for', { skip: multi }, async () => {
  const cols = 512;
  const X = makeLayer(8, cols, 2048, 5).X;
  const onDev = new HessianAccumulator(cols, { keepOnDevice: true });
  const onCpu = new HessianAccumulator(cols);
  try {
    for (const [i, gpu] of [1, 0, 1, 0].entries()) {
      const chunk = X.subarray(i * 512 * cols, (i + 1) * 512 * cols);
      await onDev.add(chunk, 512, 1, { device: 'cuda', gpu });
      await onCpu.add(chunk, 512, 1, { device: 'cpu' });
    }
    const a = onDev.H, b = onCpu.H;
    let maxRel = 0; // relative to the diagonal scale, as the Hessian tests above
    for (let i = 0; i < cols; i++)
      for (let j = 0; j < cols; j++)
        maxRel = Math.max(maxRel, Math.abs(a[i * cols + j]! - b[i * cols + j]!) / Math.sqrt(b[i * cols + i]! * b[j * cols + j]!));
    assert.ok(maxRel < 1e-5, `resident H vs CPU: max relative difference ${maxRel}`);
  } finally {
    onDev.dispose();
  }
});
