// Fused dequant+GEMV for group-quantised weights in MatMulNBits layout (row bit streams, low bits
// first), with optional fp16 CSR outliers, plus an fp16 GEMV baseline and the device's copy
// bandwidth, for the benchmark. One warp per output row; each lane takes 32 consecutive weights
// (4·bits bytes) per step, so a group of g ≥ 32 columns is split over whole lanes and the group's
// scale and zero are applied once: s·(Σq·x − z·Σx).
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <mutex>
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


// --- 4-bit: x staged once per block in shared memory as float; each warp takes ROWS rows and, per
// 32-column chunk, loads that chunk of x into registers once for all ROWS rows (the shared-memory
// reads of x, not HBM, bound a one-row-per-warp kernel); codes become floats exactly by PRMT.
constexpr int XS_STRIDE = 36;  // floats per 32-column chunk in shared memory: padded so lanes 144 B apart hit distinct banks

/** Σ (q−z)·x over the 8 nibbles of w; q−z is exact: byte q placed under 2²³'s exponent, minus (2²³+z). */
__device__ __forceinline__ float dot8(uint32_t w, const float (&x)[32], int o, float magic, float acc) {
  const uint32_t lo = w & 0x0F0F0F0Fu, hi = (w >> 4) & 0x0F0F0F0Fu;  // elements 0,2,4,6 and 1,3,5,7
  const uint32_t M = 0x4B000000u;
  acc = fmaf(__uint_as_float(__byte_perm(lo, M, 0x7440)) - magic, x[o + 0], acc);
  acc = fmaf(__uint_as_float(__byte_perm(hi, M, 0x7440)) - magic, x[o + 1], acc);
  acc = fmaf(__uint_as_float(__byte_perm(lo, M, 0x7441)) - magic, x[o + 2], acc);
  acc = fmaf(__uint_as_float(__byte_perm(hi, M, 0x7441)) - magic, x[o + 3], acc);
  acc = fmaf(__uint_as_float(__byte_perm(lo, M, 0x7442)) - magic, x[o + 4], acc);
  acc = fmaf(__uint_as_float(__byte_perm(hi, M, 0x7442)) - magic, x[o + 5], acc);
  acc = fmaf(__uint_as_float(__byte_perm(lo, M, 0x7443)) - magic, x[o + 6], acc);
  acc = fmaf(__uint_as_float(__byte_perm(hi, M, 0x7443)) - magic, x[o + 7], acc);
  return acc;
}

/** ROWS rows per warp, WARPS warps per block, CH 16-byte chunks per lane and row in flight per step. */
template <int ROWS, int CH, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) gemv4Kernel(const uint8_t* __restrict__ B, const __half* __restrict__ scales,
                                                      const uint8_t* __restrict__ zeros, const __half* __restrict__ x,
                                                      float* __restrict__ y, int N, int K, int g,
                                                      const int* __restrict__ rowPtr, const int* __restrict__ colIdx,
                                                      const __half* __restrict__ vals) {
  extern __shared__ float xs[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r0 = (blockIdx.x * WARPS + warp) * ROWS;
  const int nChunks = K / 32, ng = K / g, cpg = g / 32;
  const size_t rowBytes = size_t(K) / 2;
  float acc[ROWS] = {};
  for (int base = 0; base < nChunks; base += 32 * CH) {
    // this step's weights, scales and zeros are requested first so their latency overlaps the x fill
    uint4 w[ROWS][CH];
    float sc[ROWS][CH], mg[ROWS][CH];
#pragma unroll
    for (int rr = 0; rr < ROWS; rr++)
#pragma unroll
      for (int i = 0; i < CH; i++) {
        const int c = base + lane + 32 * i, r = r0 + rr;
        const bool ok = c < nChunks && r < N;
        w[rr][i] = ok ? __ldg(reinterpret_cast<const uint4*>(B + size_t(r) * rowBytes) + c) : make_uint4(0, 0, 0, 0);
        const size_t gi = ok ? size_t(r) * ng + c / cpg : 0;
        sc[rr][i] = ok ? __half2float(scales[gi]) : 0.f;
        mg[rr][i] = 8388608.f + float(zeros[gi]);
      }
    if (base == 0) {
      const __half2* x2 = reinterpret_cast<const __half2*>(x);
      for (int i = threadIdx.x; i < K / 2; i += blockDim.x) {
        const int e = 2 * i, c = e >> 5;
        *reinterpret_cast<float2*>(xs + c * XS_STRIDE + (e & 31)) = __half22float2(x2[i]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < CH; i++) {
      const int c = base + lane + 32 * i;
      if (c >= nChunks) continue;
      float xr[32];
#pragma unroll
      for (int v = 0; v < 8; v++) {
        const float4 t = *reinterpret_cast<const float4*>(xs + c * XS_STRIDE + 4 * v);
        xr[4 * v] = t.x;
        xr[4 * v + 1] = t.y;
        xr[4 * v + 2] = t.z;
        xr[4 * v + 3] = t.w;
      }
#pragma unroll
      for (int rr = 0; rr < ROWS; rr++) {
        float p0 = dot8(w[rr][i].x, xr, 0, mg[rr][i], 0.f);
        float p1 = dot8(w[rr][i].y, xr, 8, mg[rr][i], 0.f);
        p0 = dot8(w[rr][i].z, xr, 16, mg[rr][i], p0);
        p1 = dot8(w[rr][i].w, xr, 24, mg[rr][i], p1);
        acc[rr] = fmaf(sc[rr][i], p0 + p1, acc[rr]);
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < ROWS; rr++) {
    const int r = r0 + rr;
    if (r >= N) break;
    float a = acc[rr];
    if (rowPtr)
      for (int k = rowPtr[r] + lane; k < rowPtr[r + 1]; k += 32)
        a = fmaf(__half2float(vals[k]), xs[(colIdx[k] >> 5) * XS_STRIDE + (colIdx[k] & 31)], a);
    for (int o = 16; o; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    if (lane == 0) y[r] = a;
  }
}

constexpr size_t G4_MAX_SMEM = 160 * 1024;  // opted in below; x of up to 36k columns
bool gemv4Fits(int K) { return K % 32 == 0 && size_t(K / 32) * XS_STRIDE * sizeof(float) <= G4_MAX_SMEM; }

template <int ROWS, int CH, int WARPS>
void launchGemv4(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K, int g,
                 const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  static std::once_flag once;
  std::call_once(once, [] {
    cudaFuncSetAttribute(gemv4Kernel<ROWS, CH, WARPS>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(G4_MAX_SMEM));
  });
  const int rowsPerBlock = WARPS * ROWS;
  const size_t smem = size_t(K / 32) * XS_STRIDE * sizeof(float);
  gemv4Kernel<ROWS, CH, WARPS><<<(N + rowsPerBlock - 1) / rowsPerBlock, WARPS * 32, smem, st>>>(B, s, z, x, y, N, K, g, rp,
                                                                                              ci, v);
  QR_LAUNCHED("gemv4Kernel");
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

/**
 * variant: 0 and 2 the generic kernel (what the product uses); for 4 bits the shared-memory kernel as
 * <rows per warp, chunks per lane, warps per block>: 1 <2,4,4>, 3 <8,1,4>, 4 <4,2,8>, 5 <4,1,4>, 6 <4,2,4>.
 */
void launchDequant(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                   int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int variant = 0) {
  // the shared-memory 4-bit kernels measured slower than the generic one on the H100 (docs/native.md):
  // benchmark variants only
  if (bits == 4 && gemv4Fits(K) && variant != 0 && variant != 2) {
    switch (variant) {
      case 1: launchGemv4<2, 4, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
      case 3: launchGemv4<8, 1, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
      case 4: launchGemv4<4, 2, 8>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
      case 5: launchGemv4<4, 1, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
      default: launchGemv4<4, 2, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    }
  }
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
  // every timed call reads a different copy of the weights, scales and zeros, and all copies together
  // (≥ 256 MiB) are far larger than the L2 cache (50 MB on the H100): each call streams from HBM
  const size_t rotateBytes = size_t(256) << 20;
  const size_t setBytes = B.size() + scales.size() * 2 + zeros.size();
  const size_t nSets =
      o.flush ? 1 : std::min<size_t>(64, std::max<size_t>(1, (rotateBytes + setBytes - 1) / setBytes));
  r.workingSetMB = double(nSets * setBytes) / 1e6;
  DevBuf<uint8_t> dB(B.size() * nSets), dZ(zeros.size() * nSets);
  DevBuf<__half> dS(scales.size() * nSets), dX(K), dVals(vals.size());
  DevBuf<int> dRp(rowPtr.size()), dCi(colIdx.size());
  DevBuf<float> dY(N);
  dB.upload(B.data(), B.size(), st);
  dZ.upload(zeros.data(), zeros.size(), st);
  QR_CUDA(cudaMemcpyAsync(dS.p, scales.data(), scales.size() * 2, cudaMemcpyHostToDevice, st));
  for (size_t k = 1; k < nSets; k++) {
    QR_CUDA(cudaMemcpyAsync(dB.p + k * B.size(), dB.p, B.size(), cudaMemcpyDeviceToDevice, st));
    QR_CUDA(cudaMemcpyAsync(dZ.p + k * zeros.size(), dZ.p, zeros.size(), cudaMemcpyDeviceToDevice, st));
    QR_CUDA(cudaMemcpyAsync(dS.p + k * scales.size(), dS.p, scales.size() * 2, cudaMemcpyDeviceToDevice, st));
  }
  QR_CUDA(cudaMemcpyAsync(dX.p, xh.data(), xh.size() * 2, cudaMemcpyHostToDevice, st));
  if (!vals.empty()) {
    QR_CUDA(cudaMemcpyAsync(dVals.p, vals.data(), vals.size() * 2, cudaMemcpyHostToDevice, st));
    dRp.upload(rowPtr.data(), rowPtr.size(), st);
    dCi.upload(colIdx.data(), colIdx.size(), st);
  }
  cudaEvent_t e0, e1;
  QR_CUDA(cudaEventCreate(&e0));
  QR_CUDA(cudaEventCreate(&e1));
  DevBuf<uint8_t> flushBuf(o.flush ? size_t(128) << 20 : 0);
  std::vector<cudaEvent_t> ev(o.flush ? 2 * o.iters : 0);
  for (auto& e : ev) QR_CUDA(cudaEventCreate(&e));
  auto timeIt = [&](auto&& f) {
    for (int i = 0; i < 3; i++) f();
    if (o.flush) {
      // each call timed alone after evicting L2 by writing 128 MiB (> 2.5× the 50 MB L2)
      for (int i = 0; i < o.iters; i++) {
        QR_CUDA(cudaMemsetAsync(flushBuf.p, i & 0xff, flushBuf.n, st));
        QR_CUDA(cudaEventRecord(ev[2 * i], st));
        f();
        QR_CUDA(cudaEventRecord(ev[2 * i + 1], st));
      }
      QR_CUDA(cudaStreamSynchronize(st));
      double total = 0;
      for (int i = 0; i < o.iters; i++) {
        float ms = 0;
        QR_CUDA(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]));
        total += ms;
      }
      return total * 1000.0 / o.iters;
    }
    QR_CUDA(cudaEventRecord(e0, st));
    for (int i = 0; i < o.iters; i++) f();
    QR_CUDA(cudaEventRecord(e1, st));
    QR_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    QR_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    return double(ms) * 1000.0 / o.iters;  // µs
  };
  const int* rp = vals.empty() ? nullptr : dRp.p;
  size_t it = 0;
  r.fusedUs = timeIt([&] {
    const size_t k = it++ % nSets;
    launchDequant(bits, dB.p + k * B.size(), dS.p + k * scales.size(), dZ.p + k * zeros.size(), dX.p, dY.p, N, K, g,
                  rp, dCi.p, dVals.p, st, o.variant);
  });
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
    const size_t wCount = size_t(N) * K;
    const size_t nW = o.flush ? 1 : std::max<size_t>(1, (rotateBytes + wCount * 2 - 1) / (wCount * 2));
    DevBuf<__half> dW(wCount * nW);
    QR_CUDA(cudaMemsetAsync(dW.p, 0x11, dW.n * 2, st));  // small finite fp16 values
    std::string why;
    Cublas* cb = cublas(&why);
    size_t j = 0;
    if (cb && cublasHgemv(cb, N, K, dW.p, dX.p, dY.p, st)) {
      r.fp16Impl = "cublas";
      r.fp16Us = timeIt([&] { cublasHgemv(cb, N, K, dW.p + (j++ % nW) * wCount, dX.p, dY.p, st); });
    } else {
      r.fp16Impl = "qrecipe";
      r.fp16Us = timeIt([&] {
        fp16GemvKernel<<<(N + 7) / 8, 256, 0, st>>>(dW.p + (j++ % nW) * wCount, dX.p, dY.p, N, K);
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
  for (auto& e : ev) cudaEventDestroy(e);
  return r;
}

}  // namespace cuda
}  // namespace qr
