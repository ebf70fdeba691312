// The register kernel of the dequant+GEMV (2, 3, 4 and 8 bits; the product's choice where the 4-bit
// tensor-core kernels do not fit), as a template of its shape so the benchmark can time other
// shapes (native/bench/gemv.cu); the product instantiates only its own (gemv.cu). Each warp takes
// ROWS rows; lane l takes 32-column chunks l, l+32, ... and loads CH chunks of every one of its rows
// before it computes, so ROWS·CH independent 4·BITS-byte loads per lane are in flight (for K = 4096,
// 4 bits, CH = 4 covers the whole row in one step). The x chunk is converted to float once per lane
// and reused for all ROWS rows. Codes become floats with no I2F (quarter rate): the code byte is
// placed under 2²³'s exponent by a byte permute and (2²³ + z) subtracted, exactly; the group's scale
// is applied once per chunk. A group of g ≥ 32 columns covers whole chunks.
#pragma once
#include <cuda_fp16.h>

#include <cstdint>

#include "gemv.cuh"

namespace qr {
namespace cuda {

namespace {  // each file that launches it has its own instances

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

}  // namespace

}  // namespace cuda
}  // namespace qr
