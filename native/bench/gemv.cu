// benchGemv: times the product's fused dequant+GEMV (dequantGemv) or one of the kernel variants it
// was chosen from, L2-honest (every timed call reads another copy of the weights), against an fp16
// GEMV baseline (cuBLAS when loadable, else ours) and the device's copy bandwidth, and checks the
// result against float64 on a few rows. The kernels here (the first kernel, the floors, the fp16
// baseline) and the other shapes of the product's kernels exist only in the benchmark addon.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../src/cuda/common.cuh"
#include "../src/cuda/gemv.cuh"
#include "../src/cuda/gemv_register.cuh"
#include "../src/fp16.h"
#include "../src/pack.h"
#include "bench_api.h"
#include "variants.cuh"

namespace qr {
namespace cuda {

namespace {

// --- The first kernel (variant 9, for a before/after): one row per warp, an I2F per code.

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

/**
 * Benchmark floors, same grid as the product kernel: MODE 0 reads each row's packed bytes, scales and
 * zeros like the GEMV but does no arithmetic (the data's read ceiling at this size); MODE 1 reads
 * nothing (launch and scheduling alone). y gets a value derived from the bytes so nothing is elided.
 */
template <int MODE>
__global__ void __launch_bounds__(128) gemvFloorKernel(const uint8_t* __restrict__ B, const __half* __restrict__ scales,
                                                       const uint8_t* __restrict__ zeros, float* __restrict__ y, int N,
                                                       int K, int bits, int g) {
  const int lane = threadIdx.x & 31;
  const int r0 = (blockIdx.x * 4 + (threadIdx.x >> 5)) * 2;
  uint32_t acc = 0;
  if (MODE == 0) {
    const int ng = K / g;
    const size_t rowBytes = size_t(K) * bits / 8;
    for (int rr = 0; rr < 2; rr++) {
      const int r = r0 + rr;
      if (r >= N) break;
      const uint4* row = reinterpret_cast<const uint4*>(B + size_t(r) * rowBytes);
      for (size_t c = lane; c < rowBytes / 16; c += 32) {
        const uint4 v = __ldg(row + c);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
      }
      for (int k = lane; k < ng; k += 32) acc ^= __half_as_ushort(scales[size_t(r) * ng + k]) ^ zeros[size_t(r) * ng + k];
    }
  }
  if (r0 < N && lane == 0) y[r0] = float(acc & 0xff);
}

template <int BITS>
void launchGemvVariant(int variant, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y,
                       int N, int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  switch (variant) {
    case 1: launchGemv<BITS, 1, 4, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 3: launchGemv<BITS, 4, 2, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 4: launchGemv<BITS, 2, 2, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 5: launchGemv<BITS, 2, 4, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 6: launchGemv<BITS, 2, 1, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 7: launchGemv<BITS, 2, 2, 4, true>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 8: launchGemv<BITS, 1, 2, 4, true>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    default: launchRegisterGemv(BITS, B, s, z, x, y, N, K, g, rp, ci, v, st); return;  // the product's shape
  }
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

/** y(N) = W(N×K, fp16 row-major)·x(K, fp16) through cublasGemmEx, fp32 accumulate: the fp16 baseline. */
bool cublasHgemv(Cublas* cb, int N, int K, const void* W, const void* x, void* y, cudaStream_t s) {
  if (!cb) return false;
  // y(N) = W(N×K row-major)·x: column-major y(N×1) = Wᵀ_colmajor(K×N)ᵀ · x(K×1)
  const float one = 1.f, zero = 0.f;
  std::lock_guard<std::mutex> lock(cb->mu);
  cb->setStream(cb->handle, s);
  const int R16F = 2, R32F = 0, COMPUTE_32F = 68, ALGO_DEFAULT = -1;
  return cb->gemmEx(cb->handle, 1 /*T*/, 0 /*N*/, N, 1, K, &one, W, R16F, K, x, R16F, K, &zero, y, R32F, N,
                    COMPUTE_32F, ALGO_DEFAULT) == 0;
}

/**
 * The kernel of benchmark variant `variant` (the numbers docs/native.md and the GPU tests use):
 * 0 the product's choice (dequantGemv: for 4 bits the paced kernel where it fits, else the
 * register-tile kernel <8,2> or <4,2> with PDL and capped registers on sm_90 (variants 30 / 29),
 * else the register kernel); register kernel shapes <rows per warp, chunks per lane, warps per
 * block> 1 <1,4,4>, 3 <4,2,4>, 4 <2,2,4>, 5 <2,4,4>, 6 <2,1,4>, 7 <2,2,4> and 8 <1,2,4> with
 * streaming (no L1 allocation) weight loads (other numbers: the product's shape); 9 the first
 * kernel (one row per warp, I2F per code); 10 and 11 the floors of gemvFloorKernel (read only,
 * launch only; y is not a GEMV); 16–19 the 4-bit register-tile kernel, <warps per 16 rows, blocks
 * loaded ahead> <4,2> <4,4> <8,2> <8,4>; 20–23 the same with programmatic dependent launch (sm_90);
 * 24, 25 <2,2> <2,4> with it, 26, 27 without; 28–31 <2,2> <4,2> <8,2> <8,4> with it and registers
 * capped near 80 a thread; 32, 33 the read ceilings of that kernel's pattern under PDL (not a
 * GEMV), 33 reading x after the wait too; 34–36 the paced 4-bit kernel (B in repackPaced4's layout:
 * see pacedLayout), 34 with its default pacing (the product's where it fits), 35 one run deeper,
 * 36 every copy at once.
 */
const char* launchVariant(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                          int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int variant) {
  if (variant == 0) return dequantGemv(bits, B, s, z, x, y, N, K, g, rp, ci, v, st);
  if (K % 32 || g % 32 || K % g) throw std::runtime_error("dequant GEMV needs cols and the group size to be multiples of 32");
  if (variant == 10 || variant == 11) {
    const int blocks = (N + 7) / 8;
    if (size_t(K) * bits / 8 % 16) throw std::runtime_error("the GEMV floor kernels need rows of whole 16-byte words");
    if (variant == 10) gemvFloorKernel<0><<<blocks, 128, 0, st>>>(B, s, z, y, N, K, bits, g);
    else gemvFloorKernel<1><<<blocks, 128, 0, st>>>(B, s, z, y, N, K, bits, g);
    QR_LAUNCHED("gemvFloorKernel");
    return "floor";
  }
  if (variant >= 16 && variant <= 31) {
    if (bits != 4) throw std::runtime_error("the tensor-core GEMV takes 4 bits only");
    static const int table[16][4] = {  // warps, blocks ahead, pdl, lean
        {4, 2, 0, 0}, {4, 4, 0, 0}, {8, 2, 0, 0}, {8, 4, 0, 0}, {4, 2, 1, 0}, {4, 4, 1, 0}, {8, 2, 1, 0}, {8, 4, 1, 0},
        {2, 2, 1, 0}, {2, 4, 1, 0}, {2, 2, 0, 0}, {2, 4, 0, 0}, {2, 2, 1, 1}, {4, 2, 1, 1}, {8, 2, 1, 1}, {8, 4, 1, 1}};
    const int* c = table[variant - 16];
    if (const char* why = launchMmaVariant(B, s, z, x, y, N, K, g, rp, ci, v, st, c[0], c[1], c[2] != 0, c[3] != 0))
      throw std::runtime_error(std::string("the tensor-core GEMV does not fit: ") + why);
    return "tensor core";
  }
  if (variant >= 34 && variant <= 36) {
    if (bits != 4) throw std::runtime_error("the paced tensor-core GEMV takes 4 bits only");
    const int depth = variant == 34 ? 0 : variant == 35 ? 3 : 1 << 20;
    if (const char* why = launchPacedGemv4(B, s, z, x, y, N, K, g, rp, ci, v, st, depth))
      throw std::runtime_error(std::string("the paced tensor-core GEMV does not fit: ") + why);
    return "paced";
  }
  if (variant == 32 || variant == 33) {
    if (bits != 4) throw std::runtime_error("the read ceilings follow the 4-bit tensor-core kernel");
    if (const char* why = launchReadCeiling(B, x, y, N, K, st, variant == 33))
      throw std::runtime_error(std::string("the read ceiling does not fit: ") + why);
    return "read ceiling";
  }
  if (variant == 9) {
    const dim3 grid((N + 7) / 8), block(256);
    switch (bits) {
      case 2: dequantGemvKernel<2><<<grid, block, 0, st>>>(B, s, z, x, y, N, K, g, rp, ci, v); break;
      case 3: dequantGemvKernel<3><<<grid, block, 0, st>>>(B, s, z, x, y, N, K, g, rp, ci, v); break;
      case 4: dequantGemvKernel<4><<<grid, block, 0, st>>>(B, s, z, x, y, N, K, g, rp, ci, v); break;
      case 8: dequantGemvKernel<8><<<grid, block, 0, st>>>(B, s, z, x, y, N, K, g, rp, ci, v); break;
      default: throw std::runtime_error("dequant GEMV supports 2, 3, 4 and 8 bits");
    }
    QR_LAUNCHED("dequantGemvKernel");
    return "first";
  }
  switch (bits) {
    case 2: launchGemvVariant<2>(variant, B, s, z, x, y, N, K, g, rp, ci, v, st); break;
    case 3: launchGemvVariant<3>(variant, B, s, z, x, y, N, K, g, rp, ci, v, st); break;
    case 4: launchGemvVariant<4>(variant, B, s, z, x, y, N, K, g, rp, ci, v, st); break;
    case 8: launchGemvVariant<8>(variant, B, s, z, x, y, N, K, g, rp, ci, v, st); break;
    default: throw std::runtime_error("dequant GEMV supports 2, 3, 4 and 8 bits");
  }
  return "register";
}

/** Whether variant `variant` reads B in repackPaced4's layout (the paced kernel). */
bool pacedLayout(int bits, int variant, int N, int K, int g) {
  if (variant == 0) return gemvUsesPacedLayout(bits, N, K, g);
  return bits == 4 && variant >= 34 && variant <= 36;
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
  const int variant = o.variant;
  if (pacedLayout(bits, variant, N, K, g)) {
    std::vector<uint8_t> tiles(B.size());
    repackPaced4(B.data(), N, K, tiles.data());
    B.swap(tiles);
  }
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
  auto timeIt = [&](auto&& f, bool graphed) {
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
    if (graphed) {
      // the calls captured into one CUDA graph: launched as one unit, so the host's launch cost
      // (≈ 4 µs a call, as long as a 4096² 4-bit GEMV itself) is paid once and the device runs the
      // kernels back to back, as in a model's forward pass; the same for every kernel timed here
      cudaGraph_t graph = nullptr;
      cudaGraphExec_t exec = nullptr;
      QR_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
      try {
        for (int i = 0; i < o.iters; i++) f();
      } catch (...) {
        cudaStreamEndCapture(st, &graph);
        if (graph) cudaGraphDestroy(graph);
        throw;
      }
      QR_CUDA(cudaStreamEndCapture(st, &graph));
      QR_CUDA(cudaGraphInstantiate(&exec, graph, 0));
      QR_CUDA(cudaGraphLaunch(exec, st));  // warm-up of the graph itself
      QR_CUDA(cudaEventRecord(e0, st));
      QR_CUDA(cudaGraphLaunch(exec, st));
      QR_CUDA(cudaEventRecord(e1, st));
      QR_CUDA(cudaEventSynchronize(e1));
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(graph);
      float ms = 0;
      QR_CUDA(cudaEventElapsedTime(&ms, e0, e1));
      return double(ms) * 1000.0 / o.iters;
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
    r.kernel = launchVariant(bits, dB.p + k * B.size(), dS.p + k * scales.size(), dZ.p + k * zeros.size(), dX.p, dY.p, N,
                             K, g, rp, dCi.p, dVals.p, st, variant);
  }, o.graph != 0);
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
      r.fp16Us = timeIt([&] { cublasHgemv(cb, N, K, dW.p + (j++ % nW) * wCount, dX.p, dY.p, st); }, o.graph != 0);
    } else {
      r.fp16Impl = "qrecipe";
      r.fp16Us = timeIt([&] {
        fp16GemvKernel<<<(N + 7) / 8, 256, 0, st>>>(dW.p + (j++ % nW) * wCount, dX.p, dY.p, N, K);
        QR_LAUNCHED("fp16GemvKernel");
      }, o.graph != 0);
    }
    r.fp16GBs = (double(N) * K * 2 + K * 2.0 + N * 4.0) / (r.fp16Us * 1e3);
  }
  // copy bandwidth: read + write of 512 MiB
  {
    const size_t bytes = size_t(512) << 20;
    DevBuf<uint8_t> a(bytes), b(bytes);
    // always launched one by one: inside a graph a memcpy node ran at 2.43 instead of 2.99 TB/s on
    // the H100 (another copy path), which would flatter every "% of copy"
    const double us = timeIt([&] { QR_CUDA(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, st)); }, false);
    r.copyGBs = 2.0 * double(bytes) / (us * 1e3);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  for (auto& e : ev) cudaEventDestroy(e);
  return r;
}

}  // namespace cuda
}  // namespace qr
