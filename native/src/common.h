// Shared plumbing of the CPU algorithms: the per-call context (progress, cancellation), errors,
// and small numeric helpers every algorithm uses. No Node-API here: the algorithms stay plain C++.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace qr {

/** Thrown by Ctx::check() when the caller's AbortSignal fired; becomes a JS CancelledError. */
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("The operation was cancelled") {}
};

/** Per-call context given to every algorithm: where to report progress, what to poll for abort. */
struct Ctx {
  const int32_t* cancelFlag = nullptr;  // JS sets [0] = 1 on abort (Atomics.store)
  std::function<void(int64_t done, int64_t total)> progress;
  int gpu = -1;  // the GPU this call runs on (−1: the CPU)

  bool cancelled() const { return cancelFlag && __atomic_load_n(cancelFlag, __ATOMIC_RELAXED) != 0; }
  void check() const { if (cancelled()) throw Cancelled(); }
  void report(int64_t done, int64_t total) const { if (progress) progress(done, total); }
};

/** Round half to even, the rounding of torch.round (the reference quantiser's). */
inline float roundEven(float x) { return std::nearbyintf(x); }

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }

}  // namespace qr
