// Fused dequant+GEMV for group-quantised weights in MatMulNBits layout (row bit streams, low bits
// first), with optional fp16 CSR outliers, plus an fp16 GEMV baseline and the device's copy
// bandwidth, for the benchmark. gemvKernel (below) is the product's kernel; dequantGemvKernel is the
// previous one (one row per warp, an I2F per code), kept as benchmark variant 9 for a before/after.
// Both split rows into 32-column chunks per lane, so a group of g ≥ 32 columns covers whole chunks
// and its scale and zero are applied once per chunk.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "../cuda_api.h"
#include "../fp16.h"
#include "../pack.h"
#include "common.cuh"
#include "gemv.cuh"

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


// --- The product kernel. Each warp takes ROWS rows; lane l takes 32-column chunks l, l+32, ... and
// loads CH chunks of every one of its rows before it computes, so ROWS·CH independent 4·BITS-byte
// loads per lane are in flight (for K = 4096, 4 bits, CH = 4 covers the whole row in one step). The
// x chunk is converted to float once per lane and reused for all ROWS rows. Codes become floats with
// no I2F (quarter rate, which bound the old kernel): the code byte is placed under 2²³'s exponent by a
// byte permute and (2²³ + z) subtracted, exactly; the group's scale is applied once per chunk.

constexpr uint32_t MAGIC_BITS = 0x4B000000u;  // 2²³: a byte in the low mantissa bits reads as 2²³ + byte

/** Float of byte b of v plus 2²³. */
__device__ __forceinline__ float magicByte(uint32_t v, int b) {
  return __uint_as_float(__byte_perm(v, MAGIC_BITS, 0x7440u | uint32_t(b)));
}

/** The chunk's 32 codes (row bit stream, low bits first) as 2²³ + q. */
template <int BITS>
__device__ __forceinline__ void decode32(const uint32_t (&w)[BITS], float (&f)[32]) {
  if constexpr (BITS == 8) {
#pragma unroll
    for (int k = 0; k < 8; k++)
#pragma unroll
      for (int b = 0; b < 4; b++) f[4 * k + b] = magicByte(w[k], b);
  } else if constexpr (BITS == 4) {
#pragma unroll
    for (int k = 0; k < 4; k++) {
      const uint32_t lo = w[k] & 0x0F0F0F0Fu, hi = (w[k] >> 4) & 0x0F0F0F0Fu;
#pragma unroll
      for (int b = 0; b < 4; b++) {
        f[8 * k + 2 * b] = magicByte(lo, b);
        f[8 * k + 2 * b + 1] = magicByte(hi, b);
      }
    }
  } else if constexpr (BITS == 2) {
#pragma unroll
    for (int k = 0; k < 2; k++)
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const uint32_t m = (w[k] >> (2 * s)) & 0x03030303u;
#pragma unroll
        for (int b = 0; b < 4; b++) f[16 * k + 4 * b + s] = magicByte(m, b);
      }
  } else {
#pragma unroll
    for (int j = 0; j < 32; j++) {
      const int bit = j * BITS, wi = bit >> 5, off = bit & 31;
      const uint32_t v = off + BITS > 32 ? __funnelshift_r(w[wi], w[wi + 1], off) : w[wi] >> off;
      f[j] = __uint_as_float((v & ((1u << BITS) - 1u)) | MAGIC_BITS);
    }
  }
}

template <int BITS, bool STREAM>
__device__ __forceinline__ void loadChunk(const uint8_t* p, uint32_t (&w)[BITS]) {
  if constexpr (STREAM && BITS == 4) {
    const uint4 v = ldStream(p);
    w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
  } else if constexpr (STREAM && BITS == 8) {
    const uint4 a = ldStream(p), b = ldStream(p + 16);
    w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w; w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
  } else if constexpr (BITS == 4) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
  } else if constexpr (BITS == 8) {
    const uint4 a = __ldg(reinterpret_cast<const uint4*>(p)), b = __ldg(reinterpret_cast<const uint4*>(p) + 1);
    w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w; w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
  } else if constexpr (BITS == 2) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
    w[0] = v.x; w[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < BITS; i++) w[i] = __ldg(reinterpret_cast<const uint32_t*>(p) + i);
  }
}

/**
 * ROWS rows per warp, CH chunks per lane and row in flight per step, WARPS warps per block; STREAM:
 * 4- and 8-bit weights loaded without L1 allocation.
 */
template <int BITS, int ROWS, int CH, int WARPS, bool STREAM = false>
__global__ void __launch_bounds__(WARPS * 32) gemvKernel(const uint8_t* __restrict__ B, const __half* __restrict__ scales,
                                                     const uint8_t* __restrict__ zeros, const __half* __restrict__ x,
                                                     float* __restrict__ y, int N, int K, int g,
                                                     const int* __restrict__ rowPtr, const int* __restrict__ colIdx,
                                                     const __half* __restrict__ vals) {
  const int lane = threadIdx.x & 31;
  const int r0 = (blockIdx.x * WARPS + (threadIdx.x >> 5)) * ROWS;
  if (r0 >= N) return;
  const int nChunks = K / 32, ng = K / g, cpg = g / 32;
  const size_t rowBytes = size_t(K) * BITS / 8;
  float acc[ROWS] = {};
  for (int base = 0; base < nChunks; base += 32 * CH) {
    uint32_t w[ROWS][CH][BITS];
    float sc[ROWS][CH], mg[ROWS][CH];
#pragma unroll
    for (int i = 0; i < CH; i++) {
      const int c = base + lane + 32 * i;
      const int grp = c / cpg;
#pragma unroll
      for (int rr = 0; rr < ROWS; rr++) {
        const int r = r0 + rr;
        const bool ok = c < nChunks && r < N;
        if (ok) {
          loadChunk<BITS, STREAM>(B + size_t(r) * rowBytes + size_t(c) * 4 * BITS, w[rr][i]);
        } else {
#pragma unroll
          for (int k = 0; k < BITS; k++) w[rr][i][k] = 0;
        }
        const size_t gi = size_t(ok ? r : 0) * ng + (ok ? grp : 0);
        sc[rr][i] = ok ? __half2float(scales[gi]) : 0.f;
        mg[rr][i] = 8388608.f + float(zeros[gi]);
      }
    }
#pragma unroll
    for (int i = 0; i < CH; i++) {
      const int c = base + lane + 32 * i;
      if (c >= nChunks) break;
      float xr[32];
      const uint4* xv = reinterpret_cast<const uint4*>(x) + size_t(c) * 4;
#pragma unroll
      for (int v = 0; v < 4; v++) {
        const uint4 t = __ldg(xv + v);
        const __half2* h = reinterpret_cast<const __half2*>(&t);
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const float2 f2 = __half22float2(h[e]);
          xr[8 * v + 2 * e] = f2.x;
          xr[8 * v + 2 * e + 1] = f2.y;
        }
      }
#pragma unroll
      for (int rr = 0; rr < ROWS; rr++) {
        float f[32];
        decode32<BITS>(w[rr][i], f);
        float p[4] = {0.f, 0.f, 0.f, 0.f};  // four chains so the FMAs do not wait on each other
#pragma unroll
        for (int j = 0; j < 32; j++) p[j & 3] = fmaf(f[j] - mg[rr][i], xr[j], p[j & 3]);
        acc[rr] = fmaf(sc[rr][i], (p[0] + p[1]) + (p[2] + p[3]), acc[rr]);
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < ROWS; rr++) {
    const int r = r0 + rr;
    if (r >= N) break;
    float a = acc[rr];
    if (rowPtr)
      for (int k = rowPtr[r] + lane; k < rowPtr[r + 1]; k += 32) a = fmaf(__half2float(vals[k]), __half2float(x[colIdx[k]]), a);
    for (int o = 16; o; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    if (lane == 0) y[r] = a;
  }
}

template <int BITS, int ROWS, int CH, int WARPS, bool STREAM = false>
void launchGemv(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K, int g,
                const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  const int rowsPerBlock = WARPS * ROWS;
  gemvKernel<BITS, ROWS, CH, WARPS, STREAM><<<(N + rowsPerBlock - 1) / rowsPerBlock, WARPS * 32, 0, st>>>(
      B, s, z, x, y, N, K, g, rp, ci, v);
  QR_LAUNCHED("gemvKernel");
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
void launchGemvDefault(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                       int g, const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  // the fastest measured on the H100 (docs/native.md): one row per warp for 3 bits (its generic decode
  // needs the registers), two otherwise, with streaming loads for 4 and 8 bits (= variant 7)
  if constexpr (BITS == 3) launchGemv<BITS, 1, 4, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st);
  else if constexpr (BITS == 2) launchGemv<BITS, 2, 2, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st);
  else launchGemv<BITS, 2, 2, 4, true>(B, s, z, x, y, N, K, g, rp, ci, v, st);
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
    default: launchGemvDefault<BITS>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
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

/**
 * variant: 0 the product kernel: for 4 bits the tensor-core kernel where it fits (8 warps per 16
 * rows up to 2 row tiles per SM, else 4; PDL and capped registers on sm_90: variants 30 / 29), else
 * gemvKernel <rows per warp, chunks per lane, warps per block> <2,2,4>, 3 bits <1,4,4>, 4 and 8 bits
 * with streaming loads (variant 7); for
 * benchmarks 1 <1,4,4>, 3 <4,2,4>, 4 <2,2,4>, 5 <2,4,4>, 6 <2,1,4>, 7 <2,2,4> and 8 <1,2,4> with
 * streaming (no L1 allocation) weight loads; 9 the first kernel (one row per warp, I2F per code); 10
 * and 11 the floors of gemvFloorKernel (read only, launch only; y is not a GEMV); 16–19 the
 * 4-bit tensor-core kernel of gemv_mma.cu, <warps per 16 rows, blocks loaded ahead> <4,2> <4,4>
 * <8,2> <8,4> (the product's for 4 bits where it fits: <8,2>); 20–23 the same with programmatic
 * dependent launch (sm_90); 24, 25 <2,2> <2,4> with it, 26, 27 without; 28–31 <2,2> <4,2> <8,2>
 * <8,4> with it and registers capped near 80 a thread; 32, 33 the read ceilings of that kernel's
 * pattern under PDL (launchReadCeiling; not a GEMV), 33 reading x after the wait too; 34–36 the
 * paced 4-bit kernel of gemv_paced.cu (B in repackPaced4's layout: see pacedLayout), 34 with its
 * default pacing (the product's where it fits), 35 one run deeper, 36 every copy at once.
 */
const char* launchDequant(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                          int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int variant = 0) {
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
    if (const char* why = launchMmaGemv4(B, s, z, x, y, N, K, g, rp, ci, v, st, c[0], c[1], c[2] != 0, c[3] != 0))
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
  if (variant == 0 && bits == 4) {
    // (layers the paced kernel takes arrive here as variant 34, in its layout: see pacedLayout)
    // measured on the H100 (docs/native.md): 8 warps per 16 rows while the row tiles fill about two
    // CTAs per SM (4096 rows), 4 beyond (11008 rows); PDL with registers capped where available
    const DeviceFacts d = currentDeviceFacts();
    const int warps = N / 16 <= 2 * d.sms ? 8 : 4;
    if (!launchMmaGemv4(B, s, z, x, y, N, K, g, rp, ci, v, st, warps, 2, d.major >= 9, d.major >= 9)) return "tensor core";
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

/**
 * The variant launchDequant runs for this call and whether B must be in repackPaced4's layout: the
 * product's 4-bit choice (variant 0) is the paced kernel wherever it fits this layer on this device.
 */
int resolveVariant(int bits, int variant, int N, int K, int g) {
  if (variant == 0 && bits == 4 && !pacedGemv4Unfit(N, K, g)) return 34;
  return variant;
}
bool pacedLayout(int bits, int variant) { return bits == 4 && variant >= 34 && variant <= 36; }

}  // namespace

DeviceFacts currentDeviceFacts() {
  static thread_local int cachedDev = -1;
  static thread_local DeviceFacts f;
  int dev = 0;
  QR_CUDA(cudaGetDevice(&dev));
  if (dev != cachedDev) {
    QR_CUDA(cudaDeviceGetAttribute(&f.sms, cudaDevAttrMultiProcessorCount, dev));
    QR_CUDA(cudaDeviceGetAttribute(&f.major, cudaDevAttrComputeCapabilityMajor, dev));
    cachedDev = dev;
  }
  return f;
}

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
  const int variant = resolveVariant(bits, o.variant, N, K, g);
  if (pacedLayout(bits, variant)) {
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
    r.kernel = launchDequant(bits, dB.p + k * B.size(), dS.p + k * scales.size(), dZ.p + k * zeros.size(), dX.p, dY.p, N,
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
