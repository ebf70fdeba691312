// What the two dequant+GEMV files share: the streaming load both kernels read weights with, and the
// entry point of the tensor-core kernel (gemv_mma.cu: 4 bits, sm_80+) that gemv.cu dispatches to.
#pragma once
#include <cuda_fp16.h>

#include <cstdint>

#include "common.cuh"

namespace qr {
namespace cuda {

/** 16 bytes through the read-only path without allocating in L1 (weights are read once; x stays cached). */
__device__ __forceinline__ uint4 ldStream(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

/**
 * 4-bit y[N] = dequant(B)·x on the tensor cores (gemv_mma.cu): `warps` (2, 4 or 8) warps per 16 rows
 * splitting the 128-column blocks, `pref` (2 or 4) blocks loaded ahead per lane; `pdl`: launched with
 * programmatic dependent launch (sm_90: the weights load before the previous kernel of the stream
 * ends); `lean` (with pdl): registers capped near 80 a thread. Null when launched, else why it does not fit (device before sm_80, or before sm_90 with
 * pdl, rows not a multiple of 16, cols or group size not multiples of 128, cols > 24576, unaligned
 * arrays), with nothing launched.
 */
const char* launchMmaGemv4(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                           int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int warps, int pref,
                           bool pdl, bool lean = false);

/**
 * Benchmark ceiling (gemv_mma.cu readCeilingKernel, sm_90, not a GEMV): the 4-bit kernel's weight
 * reads and PDL chaining without decode or math; readX: x is read after the wait as well.
 */
const char* launchReadCeiling(const uint8_t* B, const __half* x, float* y, int N, int K, cudaStream_t st, bool readX);

}  // namespace cuda
}  // namespace qr
