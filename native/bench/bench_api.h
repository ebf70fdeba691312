// The benchmark addon's C++ side (qrecipe_bench.node, built by `node native/build.mjs --bench`, which
// `npm run bench:native` runs): timings of the product's kernels against their baselines, and of
// kernel shapes the product does not use. Implemented in native/bench/*.cu with the product's CUDA
// library linked in; in builds without CUDA (stub.cc) they report "not compiled".
#pragma once
#include <string>

#include "common.h"

namespace qr {
namespace cuda {

/** Timings of the fused dequant+GEMV kernels and their baselines (see docs/native.md). */
struct GemvBenchOptions {
  int rows = 4096, cols = 4096, bits = 4, groupSize = 128, iters = 50;
  double outlierFraction = 0;  // > 0: add a CSR outlier pass
  int variant = 0;             // kernel variant (see launchVariant in gemv.cu); 0 = the product's dequantGemv
  int flush = 0;               // 1: one weight copy, L2 flushed (128 MiB memset) before each individually timed call
  int graph = 0;               // 1: the timed calls run as one CUDA graph (no host launch cost per call)
};
struct GemvBenchResult {
  double fusedUs = 0, fusedGBs = 0;     // our kernel: time per call, bytes moved / time
  double fp16Us = 0, fp16GBs = 0;       // fp16 GEMV baseline (cuBLAS if it could be loaded, else ours)
  std::string fp16Impl;                 // "cublas" or "qrecipe"
  double copyGBs = 0;                   // device-to-device copy bandwidth
  double maxAbsErr = 0;                 // fused result vs float64 host reference on a few rows
  double workingSetMB = 0;              // weights rotated through per timed call (> L2: honest HBM numbers)
  std::string kernel;                   // which kernel ran: "paced", "tensor core", "register", ... (launchVariant)
};
GemvBenchResult benchGemv(const GemvBenchOptions& o, const Ctx& ctx);

/** Timing of hessian/GEMM on the device: ours vs cuBLAS SGEMM when libcublas can be loaded. */
struct GemmBenchResult {
  double oursMs = 0, oursTflops = 0, cublasMs = 0, cublasTflops = 0;
};
GemmBenchResult benchGemm(int m, int n, int k, const Ctx& ctx);

/**
 * Device-side rate of one Hessian update (cols×cols from `tokens` tokens already on the device, H
 * kept there), in TFLOP/s counted as a full GEMM of the same shape (2·cols²·tokens), for each kernel:
 * ours (lower half + mirror), cuBLAS SSYRK + mirror, cuBLAS SGEMM with beta, and plain cuBLAS SGEMM
 * (the baseline). 0 where cuBLAS is not loadable. `used`: the kernel hessianUpdate picks.
 */
struct HessianBenchResult {
  double ownTflops = 0, syrkTflops = 0, gemmTflops = 0, cublasGemmTflops = 0, usedTflops = 0;
  std::string used;
};
HessianBenchResult benchHessian(int cols, int tokens, const Ctx& ctx);

}  // namespace cuda
}  // namespace qr
