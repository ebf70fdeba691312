// The CUDA backend as seen from the C++ side. Implemented in src/cuda/*.cu when the addon is built
// with nvcc (QRECIPE_CUDA defined); otherwise these report "not compiled". Every function throws
// std::runtime_error carrying the CUDA error text instead of aborting.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gptq.h"
#include "quant_grid.h"
#include "sparsegpt.h"
#include "vq.h"

namespace qr {
namespace graph {
class Kernels;
}
namespace cuda {

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  double memoryGiB = 0;
  int multiprocessors = 0;
};

struct Status {
  bool compiled = false;
  int runtimeVersion = 0;
  int driverVersion = 0;
  std::vector<DeviceInfo> devices;
  std::string error;  // why no device is usable, if none
};

#ifndef QRECIPE_CUDA
/** Builds without CUDA: every device call throws this "built without CUDA" error (cuda_stub.cc). */
[[noreturn]] void notCompiled();
#endif

/** Probes the driver once (cached); never throws. */
const Status& status();
inline bool usable() { return !status().devices.empty(); }

/**
 * Picks the GPU of one call and makes it current on the calling thread: `requested` ≥ 0 is taken
 * as is (an error when it is not visible), −1 takes the GPU with the fewest calls in flight (ties:
 * round-robin), so concurrent calls spread over every visible GPU. Pair with releaseGpu.
 */
int acquireGpu(int requested);
void releaseGpu(int gpu);
/** The calling thread's current GPU (−1 when none). */
int currentGpu();

/** Whether the CUDA solvers handle these options (block 128, groups of 32k columns, m dividing 32). */
bool supports(const QuantSpec& s, bool quantize, int blockSize, int m);

/**
 * H ← H·n/(n+s) + (2/(n+s))·XᵀX on the device. residentId > 0 keeps H on the device between calls
 * (created on first use from the host H; the host H is then stale until hessianFetch); when the
 * device lacks room it silently works like residentId 0 (copy H up and down each call).
 */
void hessianUpdate(float* H, int cols, const float* X, int tokens, double n, double samples, const Ctx& ctx,
                   int64_t residentId = 0);
/** Copies the resident H `id` into H (if H is non-null) and frees it when `release`; false if there is none. */
bool hessianFetch(int64_t id, float* H, int cols, bool release);
void rtn(const float* W, int rows, int cols, const QuantSpec& s, float* scales, float* zeros, uint8_t* codes, float* Q,
         const Ctx& ctx);
void gptq(const float* W, const float* H, int rows, int cols, const GptqOptions& o, GptqOutputs& out, const Ctx& ctx);
void sparsegpt(const float* W, const float* H, int rows, int cols, const SparseGptOptions& o, SparseGptOutputs& out,
               const Ctx& ctx);

/**
 * The graph executor's kernels (native/src/graph/kernels.h) on GPU `gpu`, which must be current on
 * the calling thread: their own stream, stream-ordered allocations, cuBLAS GEMMs when loadable.
 */
std::unique_ptr<graph::Kernels> graphKernels(int gpu);

/** The VQ loops on the device (src/cuda/vq.cu), in float64: the CPU's vq.h calls' twins. */
void vqRowsTimesH(const double* H, const double* X, int rows, int n, double* out, const Ctx& ctx);
void vqNearest(const double* points, int64_t n, int g, const double* C, int K, int32_t* assign, double* dist,
               const Ctx& ctx);
int64_t vqCodes(const VqShape& s, const double* H, const double* books, const double* scales, int32_t* codes,
                double* E, double* P, const Ctx& ctx);

/** "" when GPTQ/SparseGPT factor H on the device (cuSOLVER + cuBLAS loadable), else why not. */
std::string factorStatus();

}  // namespace cuda
}  // namespace qr
