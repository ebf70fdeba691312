// Kernel shapes of the 4-bit register-tile GEMV that only the benchmark times, and its read
// ceilings (gemv_mma.cu of this folder), for launchVariant (gemv.cu of this folder).
#pragma once
#include <cuda_fp16.h>

#include <cstdint>

namespace qr {
namespace cuda {

/**
 * The register-tile kernel (src/cuda/gemv_mma.cuh) with `warps` (2, 4 or 8) warps per 16 rows, `pref`
 * (2 or 4) blocks loaded ahead per lane, programmatic dependent launch (`pdl`, sm_90) and registers
 * capped near 80 a thread (`lean`, with pdl). Null when launched, else why it does not fit.
 */
const char* launchMmaVariant(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                             int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int warps, int pref,
                             bool pdl, bool lean);

/**
 * Benchmark ceiling (not a GEMV): the 4-bit kernel's weight reads and PDL chaining without decode or
 * math (sm_90); readX: x is read after the wait as well.
 */
const char* launchReadCeiling(const uint8_t* B, const __half* x, float* y, int N, int K, cudaStream_t st, bool readX);

}  // namespace cuda
}  // namespace qr
