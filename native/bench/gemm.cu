// benchGemm and benchHessian: the device GEMM behind the Hessian and GPTQ's lazy update, and each
// kernel the Hessian update can use, timed on data already on the device against cuBLAS SGEMM.
#include <cstdint>
#include <vector>

#include "../src/cuda/common.cuh"
#include "../src/cuda/hessian.cuh"
#include "bench_api.h"

namespace qr {
namespace cuda {

namespace {

/** Mean milliseconds of one call of f on stream st: one warm-up call, then 5 timed back to back. */
template <class F>
double msPerCall(cudaStream_t st, F&& f) {
  cudaEvent_t e0, e1;
  QR_CUDA(cudaEventCreate(&e0));
  QR_CUDA(cudaEventCreate(&e1));
  f();
  QR_CUDA(cudaEventRecord(e0, st));
  const int iters = 5;
  for (int i = 0; i < iters; i++) f();
  QR_CUDA(cudaEventRecord(e1, st));
  QR_CUDA(cudaEventSynchronize(e1));
  float ms = 0;
  QR_CUDA(cudaEventElapsedTime(&ms, e0, e1));
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return double(ms) / iters;
}

}  // namespace

GemmBenchResult benchGemm(int m, int n, int k, const Ctx& ctx) {
  GemmBenchResult r;
  Stream s;
  DevBuf<float> A(size_t(k) * m), B(size_t(k) * n), C(size_t(m) * n);
  QR_CUDA(cudaMemsetAsync(A.p, 0, A.n * 4, s));
  QR_CUDA(cudaMemsetAsync(B.p, 0, B.n * 4, s));
  C.zero(s);
  const double flops = 2.0 * m * n * k;
  r.oursMs = msPerCall(s, [&] { gemmTN(m, n, k, 1.f, A.p, m, B.p, n, C.p, n, false, s); });
  r.oursTflops = flops / (r.oursMs * 1e9);
  ctx.check();
  Cublas* cb = cublas(nullptr);
  if (cb) {
    r.cublasMs = msPerCall(s, [&] { cublasSgemmTNAcc(cb, m, n, k, 1.f, A.p, m, B.p, n, 0.f, C.p, n, s); });
    r.cublasTflops = flops / (r.cublasMs * 1e9);
  }
  return r;
}

HessianBenchResult benchHessian(int cols, int tokens, const Ctx& ctx) {
  HessianBenchResult r;
  Stream st;
  DevBuf<float> dX(size_t(tokens) * cols), dH(size_t(cols) * cols);
  // random-ish data so no kernel sees a special case (zeros)
  std::vector<float> x(size_t(tokens) * cols);
  uint32_t seed = 12345;
  for (auto& v : x) {
    seed = seed * 1664525u + 1013904223u;
    v = float(seed >> 8) * (2.f / 16777216.f) - 1.f;
  }
  dX.upload(x.data(), x.size(), st);
  dH.zero(st);
  const double flops = 2.0 * double(cols) * cols * tokens;  // as a full GEMM counts them
  auto tflops = [&](auto&& f) { return flops / (msPerCall(st, f) * 1e9); };
  auto step = [&](HessianKernel k) {
    hessianStep(k, dH.p, cols, dX.p, tokens, 1e-3f, 0.5f, st);
    finishHessian(k, dH.p, cols, st);
  };
  r.ownTflops = tflops([&] { step(HessianKernel::Own); });
  ctx.check();
  Cublas* cb = cublas(nullptr);
  if (cb) {
    r.cublasGemmTflops = tflops([&] {
      cublasSgemmTNAcc(cb, cols, cols, tokens, 1.f, dX.p, cols, dX.p, cols, 0.f, dH.p, cols, st);
    });
    if (cb->ssyrk) r.syrkTflops = tflops([&] { step(HessianKernel::Syrk); });
    r.gemmTflops = tflops([&] { step(HessianKernel::Gemm); });
  }
  const HessianKernel k = pickHessianKernel();
  r.used = k == HessianKernel::Syrk ? "cublas-syrk" : k == HessianKernel::Gemm ? "cublas-gemm" : "qrecipe";
  r.usedTflops = k == HessianKernel::Syrk ? r.syrkTflops : k == HessianKernel::Gemm ? r.gemmTflops : r.ownTflops;
  return r;
}

}  // namespace cuda
}  // namespace qr
