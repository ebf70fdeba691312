// Entry points of the fused dequant+GEMV kernels beside gemv.cu's register kernel: gemv_bulk.cu
// (Hopper and newer, bulk asynchronous copies) and gemv_mma.cu (4 bits on the tensor cores, sm_80+).
#pragma once
#include <cuda_fp16.h>

#include <cstdint>

#include "common.cuh"

namespace qr {
namespace cuda {

/** True when the current device can run the bulk-copy kernel (compute capability ≥ 9.0). */
bool bulkGemvSupported();

/**
 * y[N] = dequant(B)·x with the bulk-copy kernel (`stages` tiles of 8 rows in flight per block, up to
 * `blocksPerSm` blocks per SM); null when launched, else why not, with nothing launched, when the
 * device, shape (N a multiple of 8, K/16 or K/32 threads) or alignment (16 bytes) does not fit it,
 * so the caller can fall back.
 */
const char* launchBulkGemv(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                    int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int stages,
                    int blocksPerSm);

/**
 * 4-bit y[N] = dequant(B)·x on the tensor cores (gemv_mma.cu): `warps` (4 or 8) warps per 16 rows
 * splitting the 128-column blocks, `pref` (2 or 4) blocks loaded ahead per lane; `pdl`: launched with
 * programmatic dependent launch (sm_90: the weights load before the previous kernel of the stream
 * ends); `lean` (with pdl): registers capped near 80 a thread. Null when launched, else why it does not fit (device before sm_80, or before sm_90 with
 * pdl, rows not a multiple of 16, cols or group size not multiples of 128, cols > 24576, unaligned
 * arrays), with nothing launched.
 */
const char* launchMmaGemv4(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                           int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int warps, int pref,
                           bool pdl, bool lean = false);

}  // namespace cuda
}  // namespace qr
