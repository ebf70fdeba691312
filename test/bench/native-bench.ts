// Timings of the native backend per layer: Hessian accumulation (vs a plain GEMM of the same shape),
// RTN, GPTQ and SparseGPT; on CUDA also the Hessian kernels vs cuBLAS SGEMM, GPTQ vs a plain PyTorch
// GPTQ on the same W and H (test/bench/gptq_torch.py, when python3 with torch is there) and the fused
// dequant+GEMV vs cuBLAS's fp16 GEMV with achieved GB/s. Prints one table; ratios are measured within
// this run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { benchGemmCpu, benchGemv, benchHessian } from '../../native/bench';
import { backendInfo, gptq, HessianAccumulator, rtn, sparsegpt, type Device } from '../../native/index';

function arg(name: string): string | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`) || x === `--${name}`);
  return a === undefined ? undefined : a.includes('=') ? a.split('=')[1] : '';
}

function fillRandom(a: Float32Array, seed: number, scale: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
}

async function time<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, (performance.now() - t0) / 1000];
}

interface TorchGptq {
  ms: number;
  loss: number;
  device: string;
}

/** Runs the PyTorch reference GPTQ on the same W and H (raw float32 files); null with the reason printed. */
function torchGptq(W: Float32Array, H: Float32Array, rows: number, cols: number): TorchGptq | string {
  const dir = path.resolve('out', 'bench', 'gptq-inputs');
  mkdirSync(dir, { recursive: true });
  const wf = path.join(dir, `W-${rows}x${cols}.bin`), hf = path.join(dir, `H-${cols}.bin`);
  writeFileSync(wf, new Uint8Array(W.buffer, W.byteOffset, W.byteLength));
  writeFileSync(hf, new Uint8Array(H.buffer, H.byteOffset, H.byteLength));
  const py = process.env.QRECIPE_PYTHON ?? 'python3';
  const script = path.resolve('test', 'bench', 'gptq_torch.py');
  const r = spawnSync(py, [script, '--w', wf, '--h', hf, '--rows', `${rows}`, '--cols', `${cols}`, '--bits', '4', '--group', '128'],
    { encoding: 'utf8', timeout: 300_000 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as TorchGptq;
  } catch {
    return `PyTorch reference unavailable (${py}: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()})`;
  }
}

async function main(): Promise<void> {
  const info = backendInfo();
  const device = (arg('device') ?? 'auto') as Device;
  const gpu = device !== 'cpu' && info.cuda.devices.length > 0;
  const full = arg('full') !== undefined || gpu;
  const layers = (arg('layers') ?? (full ? '4096x4096,11008x4096' : '1024x1024,2752x1024')).split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const tokens = Number(arg('tokens') ?? (full ? 128 * 2048 : 16 * 512));
  console.log(`qrecipe native ${info.version}: ${info.threads} CPU threads, kernel ${info.cpuKernel}, CUDA ${info.cuda.compiled ? 'compiled' : 'not compiled'}` +
    `${info.cuda.devices.length ? `, GPU ${info.cuda.devices[0].name}` : ` (${info.cuda.error ?? 'no GPU'})`}`);
  console.log(`device=${gpu ? 'cuda' : 'cpu'}; layers ${layers.map((l) => l.join('×')).join(', ')}; ${tokens} calibration tokens${full ? '' : ' (reduced CPU set; --full for 4096-size layers with 128×2048 tokens)'}`);
  const rows: string[][] = [['layer', 'step', 'time', 'rate', 'vs']];
  // --gemv-only: just the fused dequant+GEMV rows (one short device call)
  for (const [R, C] of arg('gemv-only') === undefined ? layers : []) {
    const name = `${R}×${C}`;
    // Hessian from token chunks of 2048 (one calibration sample each)
    // on the GPU, H stays in device memory across adds and comes back once (reading acc.H)
    const acc = new HessianAccumulator(C, { keepOnDevice: gpu });
    // chunks of 2048 tokens (one calibration sample) on the CPU; larger on the GPU to amortise copying H
    const chunk = Math.min(gpu ? 8192 : 2048, tokens);
    const X = new Float32Array(chunk * C);
    fillRandom(X, 1, 1);
    const [, th] = await time(async () => {
      for (let t = 0; t < tokens; t += chunk) await acc.add(X.subarray(0, Math.min(chunk, tokens - t) * C), Math.min(chunk, tokens - t), 1, { device: gpu ? 'cuda' : 'cpu' });
      return acc.H; // the download of a device-resident H is part of the cost
    });
    const hFlops = 2 * C * C * tokens; // as a full GEMM would count them (the Hessian computes half)
    let vs = '';
    if (gpu) {
      const h = await benchHessian({ cols: C, tokens: chunk });
      const e2e = hFlops / th / 1e12;
      vs = h.cublasGemmTflops
        ? `device-side, TFLOP/s as a full GEMM: cuBLAS SGEMM ${h.cublasGemmTflops.toFixed(1)}, ours ${h.ownTflops.toFixed(1)} (${(h.ownTflops / h.cublasGemmTflops).toFixed(2)}×), ` +
          `SGEMM+beta ${h.gemmTflops.toFixed(1)}, SSYRK ${h.syrkTflops.toFixed(1)}; used ${h.used}: ${(h.usedTflops / h.cublasGemmTflops).toFixed(2)}× cuBLAS GEMM; ` +
          `end to end (host X and H) ${(e2e / h.cublasGemmTflops).toFixed(2)}×`
        : `ours ${h.ownTflops.toFixed(1)} TFLOP/s, cuBLAS not loadable`;
    } else {
      const g = await benchGemmCpu({ m: C, n: C, k: chunk, iters: 2 });
      const gemmTotal = (g.ms / 1000) * (tokens / chunk);
      vs = `plain GEMM same shape ${gemmTotal.toFixed(2)} s (${g.gflops.toFixed(0)} GFLOP/s); hessian/GEMM time ${(th / gemmTotal).toFixed(2)}`;
    }
    rows.push([name, 'hessian', `${th.toFixed(2)} s`, `${(hFlops / th / 1e9).toFixed(0)} GFLOP/s eq.`, vs]);
    const W = new Float32Array(R * C);
    fillRandom(W, 2, 0.05);
    const dev = gpu ? 'cuda' : 'cpu';
    const [, tr] = await time(() => rtn(W, { rows: R, cols: C }, { bits: 4, groupSize: 128 }, { device: dev }));
    rows.push([name, 'rtn w4g128', `${tr.toFixed(3)} s`, '', '']);
    if (gpu) {
      // the first CUDA GPTQ loads cuSOLVER and creates handles: keep that out of the timing
      await gptq(W.subarray(0, 256 * C), acc.H, { rows: 256, cols: C }, { bits: 4, groupSize: 128 }, { device: dev });
      process.env.QRECIPE_HOST_FACTOR = '1';
      const [gh, tgh] = await time(() => gptq(W, acc.H, { rows: R, cols: C }, { bits: 4, groupSize: 128 }, { device: dev }));
      delete process.env.QRECIPE_HOST_FACTOR;
      rows.push([name, 'gptq w4g128 (H factored on host)', `${tgh.toFixed(3)} s`, '', `loss ${gh.loss.toExponential(5)} on ${gh.device}`]);
    }
    const [g, tg] = await time(() => gptq(W, acc.H, { rows: R, cols: C }, { bits: 4, groupSize: 128 }, { device: dev }));
    rows.push([name, 'gptq w4g128', `${tg.toFixed(3)} s`, `${((2 * R * C * C) / tg / 1e9).toFixed(0)} GFLOP/s eq.`,
      `loss ${g.loss.toExponential(5)} on ${g.device}${gpu ? ` (H factored: ${info.cuda.factor ?? '?'})` : ''}`]);
    if (gpu && arg('no-torch') === undefined) {
      const t = torchGptq(W, acc.H, R, C);
      rows.push([name, 'gptq w4g128 PyTorch', typeof t === 'string' ? '-' : `${(t.ms / 1000).toFixed(3)} s`, '',
        typeof t === 'string' ? t : `loss ${t.loss.toExponential(5)} (ours/torch loss ${(g.loss / t.loss).toFixed(5)}); ours ${((t.ms / 1000) / tg).toFixed(2)}× faster (torch inputs already on the GPU, ours from host arrays)`]);
    }
    const [s, ts] = await time(() => sparsegpt(W, acc.H, { rows: R, cols: C }, { sparsity: 0.5 }, { device: dev }));
    rows.push([name, 'sparsegpt 50%', `${ts.toFixed(2)} s`, '', `loss ${s.loss.toExponential(3)} on ${s.device}`]);
  }
  if (gpu) {
    // --bits=4 / --variants=7,16,20: a subset, for kernel work
    const bitsList = (arg('bits') ?? '2,3,4,8').split(',').map(Number) as (2 | 3 | 4 | 8)[];
    const only = arg('variants')?.split(',').map(Number);
    for (const [R, C] of layers)
      for (const bits of bitsList) {
        // graph: the 200 calls (ours, cuBLAS's and the copies alike) run as one CUDA graph, as a
        // model's layers would; loop: one host launch per call (the host's launch rate shows)
        for (const graph of [1, 0] as const) {
          const r = await benchGemv({ rows: R, cols: C, bits, groupSize: 128, iters: 200, graph });
          rows.push([`${R}×${C}`, `gemv w${bits}g128 ${graph ? 'graph' : 'loop'} (${r.kernel})`, `${r.fusedUs.toFixed(1)} µs`, `${r.fusedGBs.toFixed(0)} GB/s (${((100 * r.fusedGBs) / r.copyGBs).toFixed(0)}% of copy)`,
            `fp16 GEMV (${r.fp16Impl}) ${r.fp16Us.toFixed(1)} µs ${r.fp16GBs.toFixed(0)} GB/s; speed-up ${(r.fp16Us / r.fusedUs).toFixed(2)}×; copy ${r.copyGBs.toFixed(0)} GB/s; ` +
            `rotating ${r.workingSetMB.toFixed(0)} MB (> L2); max err ${r.maxAbsErr.toExponential(1)}`]);
        }
      }
    // kernel variants (launchVariant in native/bench/gemv.cu; 0 is the product's dequantGemv, timed
    // above); register kernel <rows per warp, chunks per lane, warps per block>: 1 <1,4,4>, 3 <4,2,4>, 4 <2,2,4>, 5 <2,4,4>, 6 <2,1,4>, 7 <2,2,4> and 8 <1,2,4>
    // with streaming weight loads; 9 the previous kernel; 10 a read-only kernel of the same bytes and
    // grid (the read ceiling at this size), 11 an empty kernel of that grid (the per-call floor);
    // 16-31 the 4-bit register-tile tensor-core kernel (warps, blocks ahead, PDL, register cap);
    // 32, 33 the read ceilings of its pattern under PDL, without and with reading x; 34-36 the paced
    // 4-bit kernel (default pacing, one run deeper, every copy at once: gemv_paced.cu), timed in a graph,
    // per bit width (a variant this GPU cannot run, e.g. PDL before sm_90, is reported, not fatal), and
    // the default with an L2 flush before each individually timed call
    for (const [R, C] of layers) {
      for (const bits of bitsList) {
        const cells: string[] = [];
        for (const variant of only ?? [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36]) {
          if (variant >= 16 && bits !== 4) continue; // the tensor-core kernel is 4-bit
          try {
            const r = await benchGemv({ rows: R, cols: C, bits, groupSize: 128, iters: 200, variant, graph: 1 });
            cells.push(`v${variant} ${r.fusedUs.toFixed(1)} µs ${((100 * r.fusedGBs) / r.copyGBs).toFixed(0)}% ${(r.fp16Us / r.fusedUs).toFixed(2)}×`);
          } catch (e) {
            cells.push(`v${variant} n/a (${(e as Error).message})`);
          }
        }
        rows.push([`${R}×${C}`, `gemv w${bits} variants`, '', '', cells.join('; ')]);
      }
      const f = await benchGemv({ rows: R, cols: C, bits: 4, groupSize: 128, iters: 100, flush: 1 });
      rows.push([`${R}×${C}`, 'gemv w4 flushed L2', `${f.fusedUs.toFixed(1)} µs`, `${((100 * f.fusedGBs) / f.copyGBs).toFixed(0)}% of copy`,
        `fp16 ${f.fp16Us.toFixed(1)} µs (${(f.fp16Us / f.fusedUs).toFixed(2)}×)`]);
    }
    const o = await benchGemv({ rows: 4096, cols: 4096, bits: 2, groupSize: 128, iters: 200, outlierFraction: 0.005 });
    rows.push(['4096×4096', 'gemv w2g128+0.5% CSR', `${o.fusedUs.toFixed(1)} µs`, `${o.fusedGBs.toFixed(0)} GB/s`, `fp16 ${o.fp16Us.toFixed(1)} µs`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
