// The CUDA backend as seen from the C++ side. Implemented in src/cuda/*.cu when the addon is built
// with nvcc (QRECIPE_CUDA defined); otherwise these report "not compiled". Every function throws
// std::runtime_error carrying the CUDA error text instead of aborting.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gptq.h"
#include "quant_grid.h"
#include "sparsegpt.h"

namespace qr {
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

/** Timings of the fused dequant+GEMV kernels and their baselines (see docs/native.md). */
struct GemvBenchOptions {
  int rows = 4096, cols = 4096, bits = 4, groupSize = 128, iters = 50;
  double outlierFraction = 0;  // > 0: add a CSR outlier pass
  int variant = 0;             // kernel variant (see launchDequant in gemv.cu); 0 = what the product uses
  int flush = 0;               // 1: one weight copy, L2 flushed (128 MiB memset) before each individually timed call
  int graph = 0;               // 1: the timed calls run as one CUDA graph (no host launch cost per call)
};
struct GemvBenchResult {
  double fusedUs = 0, fusedGBs = 0;     // our kernel: time per call, bytes moved / time
  double fp16Us = 0, fp16GBs = 0;       // fp16 GEMV baseline (cuBLAS if it could be loaded, else ours)
  std::string fp16Impl;                 // "cublas" or "qrecipe"
  double copyGBs = 0;                   // device-to-device copy bandwidth
  double maxAbsErr = 0;                 // fused result vs float64 host reference on a few rows
  double workingSetMB = 0;              // weights rotated through per timed call (> L2: honest HBM numbers)
  std::string kernel;                   // which kernel ran: "paced", "tensor core", "register", ... (launchDequant)
};
GemvBenchResult benchGemv(const GemvBenchOptions& o, const Ctx& ctx);

/** Timing of hessian/GEMM on the device: ours vs cuBLAS SGEMM when libcublas can be loaded. */
struct GemmBenchResult {
  double oursMs = 0, oursTflops = 0, cublasMs = 0, cublasTflops = 0;
};
GemmBenchResult benchGemm(int m, int n, int k, const Ctx& ctx);

/**
 * Device-side rate of one Hessian update (cols×cols from `tokens` tokens already on the device, H
 * kept there), in TFLOP/s counted as a full GEMM of the same shape (2·cols²·tokens), for each kernel:
 * ours (lower half + mirror), cuBLAS SSYRK + mirror, cuBLAS SGEMM with beta, and plain cuBLAS SGEMM
 * (the baseline). 0 where cuBLAS is not loadable. `used`: the kernel hessianUpdate picks.
 */
struct HessianBenchResult {
  double ownTflops = 0, syrkTflops = 0, gemmTflops = 0, cublasGemmTflops = 0, usedTflops = 0;
  std::string used;
};
HessianBenchResult benchHessian(int cols, int tokens, const Ctx& ctx);
/** "" when GPTQ/SparseGPT factor H on the device (cuSOLVER + cuBLAS loadable), else why not. */
std::string factorStatus();

}  // namespace cuda
}  // namespace qr
