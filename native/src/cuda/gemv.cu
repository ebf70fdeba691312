// Fused dequant+GEMV for group-quantised weights in MatMulNBits layout (row bit streams, low bits
// first), with optional fp16 CSR outliers, plus an fp16 GEMV baseline and the device's copy
// bandwidth, for the benchmark. One warp per output row; each lane takes 32 consecutive weights
// (4·bits bytes) per step, so a group of g ≥ 32 columns is split over whole lanes and the group's
// scale and zero are applied once: s·(Σq·x − z·Σx).
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "../cuda_api.h"
#include "../fp16.h"
#include "../pack.h"
#include "common.cuh"

namespace qr {
namespace cuda {

namespace {

template <int BITS>
__device__ __forceinline__ void loadWords(const uint8_t* p, uint32_t (&w)[BITS]) {
  if constexpr (BITS == 4) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
  } else if constexpr (BITS == 8) {
    const uint4 a = *reinterpret_cast<const uint4*>(p), b = *reinterpret_cast<const uint4*>(p + 16);
    w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w; w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
  } else if constexpr (BITS == 2) {
    const uint2 v = *reinterpret_cast<const uint2*>(p);
    w[0] = v.x; w[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < BITS; i++) w[i] = reinterpret_cast<const uint32_t*>(p)[i];
  }
}

template <int BITS>
__global__ void __launch_bounds__(256) dequantGemvKernel(const uint8_t* __restrict__ B, const __half* __restrict__ scales,
                                                         const uint8_t* __restrict__ zeros, const __half* __restrict__ x,
                                                         float* __restrict__ y, int N, int K, int g,
                                                         const int* __restrict__ rowPtr, const int* __restrict__ colIdx,
                                                         const __half* __restrict__ vals) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * 8 + (threadIdx.x >> 5);
  if (r >= N) return;
  const int ng = K / g;
  const uint8_t* row = B + size_t(r) * K * BITS / 8;
  float acc = 0.f;
  // unrolled so several independent weight loads are in flight per lane (the kernel is memory-bound)
#pragma unroll 4
  for (int c0 = lane * 32; c0 < K; c0 += 32 * 32) {
    uint32_t w[BITS];
    loadWords<BITS>(row + size_t(c0) * BITS / 8, w);
    const uint4* xv = reinterpret_cast<const uint4*>(x + c0);
    float sq = 0.f, sx = 0.f;
#pragma unroll
    for (int v4 = 0; v4 < 4; v4++) {
      const uint4 xx = __ldg(xv + v4);
      const __half2* h = reinterpret_cast<const __half2*>(&xx);
#pragma unroll
      for (int h2 = 0; h2 < 4; h2++) {
        const float2 xf = __half22float2(h[h2]);
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int i = v4 * 8 + h2 * 2 + e;
          const int bit = i * BITS, wi = bit >> 5, off = bit & 31;
          uint32_t q = w[wi] >> off;
          if (off + BITS > 32) q |= w[wi + 1] << (32 - off);
          q &= (1u << BITS) - 1u;
          const float xi = e ? xf.y : xf.x;
          sq = fmaf(float(q), xi, sq);
          sx += xi;
        }
      }
    }
    const int grp = c0 / g;
    const float s = __half2float(scales[size_t(r) * ng + grp]);
    const float z = float(zeros[size_t(r) * ng + grp]);
    acc = fmaf(s, fmaf(-z, sx, sq), acc);
  }
  if (rowPtr)
    for (int k = rowPtr[r] + lane; k < rowPtr[r + 1]; k += 32) acc = fmaf(__half2float(vals[k]), __half2float(x[colIdx[k]]), acc);
  for (int o = 16; o; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) y[r] = acc;
}

__global__ void __launch_bounds__(256) fp16GemvKernel(const __half* __restrict__ W, const __half* __restrict__ x,
                                                      float* __restrict__ y, int N, int K) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * 8 + (threadIdx.x >> 5);
  if (r >= N) return;
  const uint4* wr = reinterpret_cast<const uint4*>(W + size_t(r) * K);
  const uint4* xv = reinterpret_cast<const uint4*>(x);
  float acc = 0.f;
  for (int c = lane; c < K / 8; c += 32) {
    const uint4 a = wr[c], b = __ldg(xv + c);
    const __half2* ha = reinterpret_cast<const __half2*>(&a);
    const __half2* hb = reinterpret_cast<const __half2*>(&b);
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const float2 fa = __half22float2(ha[i]), fb = __half22float2(hb[i]);
      acc = fmaf(fa.x, fb.x, fmaf(fa.y, fb.y, acc));
    }
  }
  for (int o = 16; o; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) y[r] = acc;
}

void launchDequant(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                   int g, const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  const dim3 grid((N + 7) / 8), block(256);
  switch (bits) {
    case 2: dequantGemvKernel<2><<<grid, block, 0, st>>>(B, s, z, x, y, N, K, g, rp, ci, v); break;
    case 3: dequantGemvKernel<3><<<grid, block, 0, st>>>(B, s, z, x, y, N, K, g, rp, ci, v); break;
    case 4: dequantGemvKernel<4><<<grid, block, 0, st>>>(B, s, z, x, y, N, K, g, rp, ci, v); break;
    case 8: dequantGemvKernel<8><<<grid, block, 0, st>>>(B, s, z, x, y, N, K, g, rp, ci, v); break;
    default: throw std::runtime_error("dequant GEMV supports 2, 3, 4 and 8 bits");
  }
  QR_LAUNCHED("dequantGemvKernel");
}

}  // namespace

GemvBenchResult benchGemv(const GemvBenchOptions& o, const Ctx& ctx) {
  const int N = o.rows, K = o.cols, bits = o.bits, g = o.groupSize, ng = K / g;
  if (K % 32) throw std::runtime_error("cols must be a multiple of 32");
  GemvBenchResult r;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> codeDist(0, (1 << bits) - 1);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  std::vector<uint8_t> codes(size_t(N) * K), zeros(size_t(N) * ng);
  for (auto& c : codes) c = uint8_t(codeDist(rng));
  for (auto& z : zeros) z = uint8_t(codeDist(rng));
  std::vector<uint16_t> scales(size_t(N) * ng), xh(K);
  for (auto& s : scales) s = floatToHalf(0.01f + 0.02f * std::fabs(uni(rng)));
  for (auto& v : xh) v = floatToHalf(uni(rng));
  // the packed matrix is MatMulNBits' B with block = group (row bit streams)
  std::vector<uint8_t> B(size_t(N) * K * bits / 8);
  packNBits(codes.data(), N, K, bits, g, nullptr, B.data(), nullptr);
  // outliers: a fixed stride pattern, fp16 values
  std::vector<int> rowPtr, colIdx;
  std::vector<uint16_t> vals;
  if (o.outlierFraction > 0) {
    const int perRow = std::max(1, int(o.outlierFraction * K));
    rowPtr.push_back(0);
    for (int i = 0; i < N; i++) {
      for (int k = 0; k < perRow; k++) {
        colIdx.push_back((k * 997 + i * 31) % K);
        vals.push_back(floatToHalf(uni(rng) * 4.f));
      }
      std::sort(colIdx.end() - perRow, colIdx.end());
      rowPtr.push_back(int(colIdx.size()));
    }
  }
  ctx.check();
  Stream st;
  DevBuf<uint8_t> dB(B.size()), dZ(zeros.size());
  DevBuf<__half> dS(scales.size()), dX(K), dVals(vals.size());
  DevBuf<int> dRp(rowPtr.size()), dCi(colIdx.size());
  DevBuf<float> dY(N);
  dB.upload(B.data(), B.size(), st);
  dZ.upload(zeros.data(), zeros.size(), st);
  QR_CUDA(cudaMemcpyAsync(dS.p, scales.data(), scales.size() * 2, cudaMemcpyHostToDevice, st));
  QR_CUDA(cudaMemcpyAsync(dX.p, xh.data(), xh.size() * 2, cudaMemcpyHostToDevice, st));
  if (!vals.empty()) {
    QR_CUDA(cudaMemcpyAsync(dVals.p, vals.data(), vals.size() * 2, cudaMemcpyHostToDevice, st));
    dRp.upload(rowPtr.data(), rowPtr.size(), st);
    dCi.upload(colIdx.data(), colIdx.size(), st);
  }
  cudaEvent_t e0, e1;
  QR_CUDA(cudaEventCreate(&e0));
  QR_CUDA(cudaEventCreate(&e1));
  auto timeIt = [&](auto&& f) {
    for (int i = 0; i < 3; i++) f();
    QR_CUDA(cudaEventRecord(e0, st));
    for (int i = 0; i < o.iters; i++) f();
    QR_CUDA(cudaEventRecord(e1, st));
    QR_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    QR_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    return double(ms) * 1000.0 / o.iters;  // µs
  };
  const int* rp = vals.empty() ? nullptr : dRp.p;
  r.fusedUs = timeIt([&] { launchDequant(bits, dB.p, dS.p, dZ.p, dX.p, dY.p, N, K, g, rp, dCi.p, dVals.p, st); });
  const double fusedBytes = double(B.size()) + double(N) * ng * 3 + K * 2.0 + N * 4.0 +
                            double(vals.size()) * 6 + double(rowPtr.size()) * 4;
  r.fusedGBs = fusedBytes / (r.fusedUs * 1e3);
  // correctness on a few rows against float64 on the host
  std::vector<float> y(N);
  dY.download(y.data(), N, st);
  st.sync();
  for (int i = 0; i < N; i += std::max(1, N / 16)) {
    double ref = 0;
    for (int k = 0; k < K; k++) {
      const int grp = k / g;
      ref += double(halfToFloat(scales[size_t(i) * ng + grp])) *
             (double(codes[size_t(i) * K + k]) - zeros[size_t(i) * ng + grp]) * halfToFloat(xh[k]);
    }
    if (!vals.empty())
      for (int k = rowPtr[i]; k < rowPtr[i + 1]; k++) ref += double(halfToFloat(vals[k])) * halfToFloat(xh[colIdx[k]]);
    r.maxAbsErr = std::max(r.maxAbsErr, std::fabs(ref - double(y[i])));
  }
  ctx.check();
  // fp16 baseline: dense fp16 weights of the same shape
  {
    DevBuf<__half> dW(size_t(N) * K);
    QR_CUDA(cudaMemsetAsync(dW.p, 0, dW.n * 2, st));
    std::string why;
    Cublas* cb = cublas(&why);
    if (cb && cublasHgemv(cb, N, K, dW.p, dX.p, dY.p, st)) {
      r.fp16Impl = "cublas";
      r.fp16Us = timeIt([&] { cublasHgemv(cb, N, K, dW.p, dX.p, dY.p, st); });
    } else {
      r.fp16Impl = "qrecipe";
      r.fp16Us = timeIt([&] {
        fp16GemvKernel<<<(N + 7) / 8, 256, 0, st>>>(dW.p, dX.p, dY.p, N, K);
        QR_LAUNCHED("fp16GemvKernel");
      });
    }
    r.fp16GBs = (double(N) * K * 2 + K * 2.0 + N * 4.0) / (r.fp16Us * 1e3);
  }
  // copy bandwidth: read + write of 512 MiB
  {
    const size_t bytes = size_t(512) << 20;
    DevBuf<uint8_t> a(bytes), b(bytes);
    const double us = timeIt([&] { QR_CUDA(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, st)); });
    r.copyGBs = 2.0 * double(bytes) / (us * 1e3);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return r;
}

}  // namespace cuda
}  // namespace qr
