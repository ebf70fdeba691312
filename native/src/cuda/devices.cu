// Which GPU a call runs on. Calls are spread over every visible GPU: a call that does not name one
// takes the device with the fewest calls in flight, so N concurrent layer jobs land on N GPUs. The
// choice is made current on the worker thread (CUDA's current device is per host thread, and libuv
// reuses its pool threads, so every call sets it again).
#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>

#include "../cuda_api.h"
#include "common.cuh"

namespace qr {
namespace cuda {

namespace {
constexpr int MAX_GPUS = 64;
std::atomic<int> inFlight[MAX_GPUS];
std::atomic<unsigned> rotation{0};
}  // namespace

int acquireGpu(int requested) {
  const int n = std::min<int>(int(status().devices.size()), MAX_GPUS);
  if (n == 0) throw std::runtime_error("no usable GPU: " + status().error);
  if (requested >= n)
    throw std::runtime_error("gpu " + std::to_string(requested) + " asked for but " + std::to_string(n) +
                             " GPU(s) are visible");
  int gpu = requested;
  if (gpu < 0) {
    // ties go round-robin, so one call at a time (a calibration group of one layer) still uses
    // every GPU's memory in turn instead of always the first
    const int start = int(rotation++ % unsigned(n));
    gpu = start;
    for (int k = 1; k < n; k++) {
      const int i = (start + k) % n;
      if (inFlight[i].load() < inFlight[gpu].load()) gpu = i;
    }
  }
  inFlight[gpu]++;
  const cudaError_t e = cudaSetDevice(gpu);
  if (e != cudaSuccess) {
    inFlight[gpu]--;
    check(e, "cudaSetDevice");
  }
  return gpu;
}

void releaseGpu(int gpu) {
  if (gpu >= 0 && gpu < MAX_GPUS) inFlight[gpu]--;
}

int currentGpu() {
  int d = -1;
  return cudaGetDevice(&d) == cudaSuccess ? d : -1;
}

}  // namespace cuda
}  // namespace qr
