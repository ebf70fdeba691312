// Entry points shared by the two fused dequant+GEMV kernels (gemv.cu: any CUDA GPU; gemv_bulk.cu:
// Hopper and newer, bulk asynchronous copies).
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

}  // namespace cuda
}  // namespace qr
