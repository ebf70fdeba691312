// The benchmark addon's calls: one Job per benchmark (job.h), as the product's bindings.cc does for
// the product's calls.
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <utility>
#include <vector>

#include "../src/cuda_api.h"
#include "../src/gemm.h"
#include "../src/job.h"
#include "bench_api.h"

namespace qr {

namespace {

/** A device benchmark: refused at once without a usable GPU; its numbers set on the result by name. */
class GpuBenchJob : public Job {
 public:
  using Job::Job;

 protected:
  void requireGpu() {
    if (!cuda::usable()) throw Napi::Error::New(Env(), "no usable GPU: " + cuda::status().error);
    device_ = "cuda";
  }
  static void set(Napi::Object r, std::initializer_list<std::pair<const char*, double>> numbers) {
    for (const auto& [name, value] : numbers) r.Set(name, value);
  }
};

class GemvBenchJob : public GpuBenchJob {
 public:
  GemvBenchJob(Napi::Env env, Napi::Object o) : GpuBenchJob(env, o) {
    o_.rows = integer("rows", 4096);
    o_.cols = integer("cols", 4096);
    o_.bits = integer("bits", 4);
    o_.groupSize = integer("groupSize", 128);
    o_.iters = integer("iters", 50);
    o_.outlierFraction = number("outlierFraction", 0);
    o_.variant = integer("variant", 0);
    o_.flush = integer("flush", 0);
    o_.graph = integer("graph", 0);
    if (o_.bits != 2 && o_.bits != 3 && o_.bits != 4 && o_.bits != 8)
      throw Napi::RangeError::New(env, "bits must be 2, 3, 4 or 8");
    if (o_.groupSize <= 0 || o_.cols % o_.groupSize || o_.groupSize % 32)
      throw Napi::RangeError::New(env, "groupSize must be a multiple of 32 dividing cols");
    requireGpu();
  }
  void Run(const Ctx& ctx) override { r_ = cuda::benchGemv(o_, ctx); }
  void Fill(Napi::Env, Napi::Object r) override {
    set(r, {{"fusedUs", r_.fusedUs}, {"fusedGBs", r_.fusedGBs}, {"fp16Us", r_.fp16Us}, {"fp16GBs", r_.fp16GBs},
            {"copyGBs", r_.copyGBs}, {"maxAbsErr", r_.maxAbsErr}, {"workingSetMB", r_.workingSetMB}});
    r.Set("fp16Impl", r_.fp16Impl);
    r.Set("kernel", r_.kernel);
  }
  cuda::GemvBenchOptions o_;
  cuda::GemvBenchResult r_;
};

class GemmBenchJob : public GpuBenchJob {
 public:
  GemmBenchJob(Napi::Env env, Napi::Object o) : GpuBenchJob(env, o) {
    m_ = integer("m", 4096, true);
    n_ = integer("n", 4096, true);
    k_ = integer("k", 4096, true);
    requireGpu();
  }
  void Run(const Ctx& ctx) override { r_ = cuda::benchGemm(m_, n_, k_, ctx); }
  void Fill(Napi::Env, Napi::Object r) override {
    set(r, {{"oursMs", r_.oursMs}, {"oursTflops", r_.oursTflops}, {"cublasMs", r_.cublasMs}, {"cublasTflops", r_.cublasTflops}});
  }
  int m_, n_, k_;
  cuda::GemmBenchResult r_;
};

class HessianBenchJob : public GpuBenchJob {
 public:
  HessianBenchJob(Napi::Env env, Napi::Object o) : GpuBenchJob(env, o) {
    cols_ = integer("cols", 4096, true);
    tokens_ = integer("tokens", 8192, true);
    requireGpu();
  }
  void Run(const Ctx& ctx) override { r_ = cuda::benchHessian(cols_, tokens_, ctx); }
  void Fill(Napi::Env, Napi::Object r) override {
    set(r, {{"ownTflops", r_.ownTflops}, {"syrkTflops", r_.syrkTflops}, {"gemmTflops", r_.gemmTflops},
            {"cublasGemmTflops", r_.cublasGemmTflops}, {"usedTflops", r_.usedTflops}});
    r.Set("used", r_.used);
  }
  int cols_, tokens_;
  cuda::HessianBenchResult r_;
};

// CPU GEMM timing for the benchmark: C(m×n) += Aᵀ·B with A k×m, B k×n, random data, best of `iters`.
class CpuGemmBenchJob : public Job {
 public:
  CpuGemmBenchJob(Napi::Env env, Napi::Object o) : Job(env, o) {
    m_ = integer("m", 1024, true);
    n_ = integer("n", 1024, true);
    k_ = integer("k", 1024, true);
    iters_ = integer("iters", 3);
    if (m_ <= 0 || n_ <= 0 || k_ <= 0 || iters_ <= 0) throw Napi::RangeError::New(env, "m, n, k, iters must be positive");
  }
  void Run(const Ctx& ctx) override {
    std::vector<float> A(size_t(k_) * m_), B(size_t(k_) * n_), C(size_t(m_) * n_);
    for (size_t i = 0; i < A.size(); i++) A[i] = float((i * 2654435761u) % 1000) / 1000.f - 0.5f;
    for (size_t i = 0; i < B.size(); i++) B[i] = float((i * 40503u) % 1000) / 1000.f - 0.5f;
    best_ = 1e30;
    for (int it = 0; it < iters_; it++) {
      ctx.check();
      const auto t0 = std::chrono::steady_clock::now();
      gemmTN(m_, n_, k_, 1.0f, A.data(), m_, B.data(), n_, C.data(), n_);
      best_ = std::min(best_, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  void Fill(Napi::Env, Napi::Object r) override {
    r.Set("ms", best_);
    r.Set("gflops", 2.0 * m_ * n_ * k_ / (best_ * 1e6));
  }
  int m_, n_, k_, iters_;
  double best_ = 0;
};

}  // namespace

void registerBenchBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("benchGemv", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<GemvBenchJob>(i); }));
  exports.Set("benchGemmCpu",
              Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<CpuGemmBenchJob>(i); }));
  exports.Set("benchGemm", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<GemmBenchJob>(i); }));
  exports.Set("benchHessian",
              Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<HessianBenchJob>(i); }));
}

}  // namespace qr
