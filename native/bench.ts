/**
 * Benchmarks of the native kernels (test/bench/native-bench.ts, the GPU tests): not product API.
 * They live in a second addon, native/build/Release/qrecipe_bench.node, built by
 * `node native/build.mjs --bench` (`npm run bench:native` does it), so that the product addon holds
 * no benchmark and none of the kernel variants they compare. Each times a kernel against its
 * baseline in one call.
 */
import { loadAddon, runJob, type AddonFile, type RawJob } from './load';
import type { CallOptions, Ran } from './types';

/** CUDA benchmark of the fused dequant+GEMV kernel (see docs/native.md). */
export interface GemvBenchResult {
  fusedUs: number;
  fusedGBs: number;
  fp16Us: number;
  fp16GBs: number;
  fp16Impl: string;
  copyGBs: number;
  maxAbsErr: number;
  /** MB of weight copies the timed calls rotate through (≥ 256 MiB, more than the L2 cache). */
  workingSetMB: number;
  /** The kernel that ran: 'paced' (4-bit, whole tiles in shared memory), 'tensor core', 'register', …. */
  kernel: string;
}

/**
 * Device-side rate of one Hessian update (X and H on the device), TFLOP/s counted as a full GEMM of
 * the same shape: ours, cuBLAS SSYRK, cuBLAS SGEMM with beta, and plain cuBLAS SGEMM (the baseline);
 * 0 where cuBLAS is not loadable. `used` names the kernel HessianAccumulator.add picks.
 */
export interface HessianBenchResult {
  ownTflops: number;
  syrkTflops: number;
  gemmTflops: number;
  cublasGemmTflops: number;
  usedTflops: number;
  used: string;
}

export interface GemmBenchResult {
  oursMs: number;
  oursTflops: number;
  cublasMs: number;
  cublasTflops: number;
}

interface BenchAddon {
  benchGemv: RawJob<GemvBenchResult>;
  benchGemm: RawJob<GemmBenchResult>;
  benchGemmCpu: RawJob<{ ms: number; gflops: number }>;
  benchHessian: RawJob<HessianBenchResult>;
}

const BENCH_ADDON: AddonFile = {
  file: 'qrecipe_bench.node',
  envVar: 'QRECIPE_BENCH_ADDON',
  build: 'Build it with `node native/build.mjs --bench` (`npm run bench:native` does)',
};

function bench<R>(fn: (a: BenchAddon) => RawJob<R>, fields: Record<string, unknown>, opts?: CallOptions): Promise<R & Ran> {
  return runJob(() => {
    const a = loadAddon<BenchAddon>(BENCH_ADDON).exports;
    return (o) => fn(a).call(a, o);
  }, fields, opts);
}

/** Options of benchGemv: the layer, bits and group, and how the calls are timed. */
export interface GemvBenchOptions {
  rows: number;
  cols: number;
  bits: 2 | 3 | 4 | 8;
  groupSize?: number;
  iters?: number;
  outlierFraction?: number;
  /** A kernel variant of the benchmark (launchVariant in native/bench/gemv.cu); absent or 0: the product's choice. */
  variant?: number;
  /** 1: one weight copy, L2 flushed before each individually timed call. */
  flush?: 0 | 1;
  /** 1: the timed calls run as one CUDA graph. */
  graph?: 0 | 1;
}

/** Times the fused dequant+GEMV kernel against an fp16 GEMV and the device's copy bandwidth. */
export async function benchGemv(o: GemvBenchOptions, opts?: CallOptions): Promise<GemvBenchResult & Ran> {
  return bench((a) => a.benchGemv, { ...o }, opts);
}

/** Times the CPU kernel behind the Hessian and GPTQ updates: C(m×n) += Aᵀ·B, best of `iters`. */
export async function benchGemmCpu(o: { m: number; n: number; k: number; iters?: number }, opts?: CallOptions): Promise<{ ms: number; gflops: number } & Ran> {
  return bench((a) => a.benchGemmCpu, { ...o }, { ...opts, device: 'cpu' });
}

/** Times the CUDA GEMM used for the Hessian against cuBLAS SGEMM (when libcublas can be loaded). */
export async function benchGemm(o: { m: number; n: number; k: number }, opts?: CallOptions): Promise<GemmBenchResult & Ran> {
  return bench((a) => a.benchGemm, { ...o }, opts);
}

/** Times one Hessian update on the device with each available kernel against cuBLAS SGEMM. */
export async function benchHessian(o: { cols: number; tokens: number }, opts?: CallOptions): Promise<HessianBenchResult & Ran> {
  return bench((a) => a.benchHessian, { ...o }, opts);
}
