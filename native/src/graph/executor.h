// The graph executor: one part of an ONNX model (spec.h) with its initializers uploaded once to the
// executor's side (host or one CUDA GPU), run on batches with liveness (every intermediate freed
// after its last reader), taps folding tensors into Hessian accumulators, cancellation between ops.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ops.h"
#include "spec.h"

namespace qr {
namespace graph {

/** The first node the executor cannot run (or another reason); empty reason when the spec is supported. */
struct Unsupported {
  std::string node, op, reason;
};
Unsupported supports(const Spec& spec);

/** A device's kernels that count the bytes they hold (current and peak). */
struct Counted {
  std::atomic<int64_t> now{0}, peak{0};
  void add(int64_t b) {
    const int64_t v = now += b;
    int64_t p = peak.load();
    while (v > p && !peak.compare_exchange_weak(p, v)) {}
  }
};

struct Feed {
  std::string name;
  DType dt = DType::F32;
  Dims dims;
  const void* data = nullptr;
};

struct TapRequest {
  std::string tensor;
  TapAcc acc;
};

class Executor {
 public:
  /** dev: the device's kernels (null: the CPU backend); gpu: its index (−1 on the CPU). */
  Executor(Spec spec, std::unique_ptr<Kernels> dev, int gpu);
  ~Executor();

  /** Runs one batch; returns spec.outputs as host tensors. Taps are applied in order of production. */
  std::vector<Tensor> run(const std::vector<Feed>& feeds, std::vector<TapRequest>& taps, const Ctx& ctx);
  /** Replaces an initializer's values (same dims and type). */
  void setInitializer(const std::string& name, DType dt, const Dims& dims, const void* data);
  /** Bytes held in the device's memory now and at most (weights plus the largest run's live tensors). */
  int64_t deviceBytes() const;
  bool onDevice() const { return dev_ != nullptr; }
  int gpu() const { return gpu_; }
  const Spec& spec() const { return spec_; }
  /** Serialises runs and weight updates of one executor. */
  std::mutex mu;

 private:
  Kernels& kernels();
  Kernels& env(const Tensor& t);
  Tensor place(const Tensor& host);

  Spec spec_;
  std::unique_ptr<Kernels> dev_;
  int gpu_;
  std::vector<const OpDef*> ops_;
  std::unordered_map<std::string, Tensor> weights_;  // where float tensors live
  std::unordered_map<std::string, int> lastUse_;     // node index of the last reader
  int64_t hostPeak_ = 0;
};

}  // namespace graph
}  // namespace qr
