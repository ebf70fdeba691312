// The VQ calls (vq.h): one Job per call in the house style of bindings.cc. Options are checked on
// the main thread; the work runs on the CPU or, where a CUDA twin exists (src/cuda/vq.cu), on a GPU.
#include <napi.h>

#include <string>

#include "cuda_api.h"
#include "job.h"
#include "vq.h"

namespace qr {

namespace {

// 'auto' | 'cpu' | 'cuda', and the CPU for 'auto' below `threshold` of work (copies and launches
// would cost more than the device saves).
class VqJob : public Job {
 public:
  VqJob(Napi::Env env, Napi::Object o, bool hasCuda) : Job(env, o), hasCuda_(hasCuda) {
    const std::string dev = text("device", "auto");
    if (dev != "auto" && dev != "cpu" && dev != "cuda")
      throw Napi::RangeError::New(env, "device must be 'auto', 'cpu' or 'cuda', got '" + dev + "'");
    if (dev == "cuda") {
      if (!hasCuda) throw Napi::Error::New(env, "this operation has no CUDA implementation");
      if (!cuda::usable()) throw Napi::Error::New(env, "device 'cuda' asked for but no usable GPU: " + cuda::status().error);
      device_ = "cuda";
    }
    auto_ = dev == "auto";
  }

 protected:
  void autoDevice(double work, double threshold) {
    if (auto_ && hasCuda_ && cuda::usable() && work >= threshold) device_ = "cuda";
  }
  bool onCuda() const { return device_ == "cuda"; }
  int positive(const char* key) {
    const int v = integer(key, 0, true);
    if (v <= 0) throw Napi::RangeError::New(Env(), std::string(key) + " must be a positive integer, got " + std::to_string(v));
    return v;
  }
  VqShape shape() {
    VqShape s;
    s.rows = positive("rows");
    s.cols = positive("cols");
    s.g = positive("dim");
    s.M = positive("codebooks");
    s.K = positive("K");
    if (s.cols % s.g) throw Napi::RangeError::New(Env(), "dim " + std::to_string(s.g) + " does not divide cols " + std::to_string(s.cols));
    return s;
  }
  const int32_t* checkedCodes(const char* key, const VqShape& s, bool writable) {
    const int64_t n = int64_t(s.rows) * s.groups() * s.M;
    int32_t* c = array<int32_t>(key, napi_int32_array, n);
    for (int64_t i = 0; i < n; i++)
      if (c[i] < 0 || c[i] >= s.K)
        throw Napi::RangeError::New(Env(), "code " + std::to_string(c[i]) + " at index " + std::to_string(i) +
                                               " is not in 0.." + std::to_string(s.K - 1));
    if (writable) codesOut_ = c;
    return c;
  }
  bool hasCuda_, auto_ = false;
  int32_t* codesOut_ = nullptr;
};

class RowsTimesHJob : public VqJob {
 public:
  RowsTimesHJob(Napi::Env env, Napi::Object o) : VqJob(env, o, true) {
    rows_ = positive("rows");
    n_ = positive("cols");
    H_ = array<double>("H", napi_float64_array, int64_t(n_) * n_);
    X_ = array<double>("X", napi_float64_array, int64_t(rows_) * n_);
    out_ = array<double>("out", napi_float64_array, int64_t(rows_) * n_);
    autoDevice(2.0 * rows_ * double(n_) * n_, 4e9);
  }
  void Run(const Ctx& ctx) override {
    if (onCuda()) return cuda::vqRowsTimesH(H_, X_, rows_, n_, out_, ctx);
    rowsTimesH64(H_, X_, rows_, n_, out_, ctx);
  }
  int rows_, n_;
  const double *H_, *X_;
  double* out_;
};

class NearestJob : public VqJob {
 public:
  NearestJob(Napi::Env env, Napi::Object o) : VqJob(env, o, true) {
    n_ = positive("n");
    g_ = positive("dim");
    K_ = positive("K");
    P_ = array<double>("points", napi_float64_array, int64_t(n_) * g_);
    C_ = array<double>("centroids", napi_float64_array, int64_t(K_) * g_);
    assign_ = array<int32_t>("assign", napi_int32_array, n_);
    dist_ = array<double>("dist", napi_float64_array, n_, true);
    autoDevice(3.0 * n_ * double(K_) * g_, 4e9);
  }
  void Run(const Ctx& ctx) override {
    if (onCuda()) return cuda::vqNearest(P_, n_, g_, C_, K_, assign_, dist_, ctx);
    vqNearest(P_, n_, g_, C_, K_, assign_, dist_, ctx);
  }
  int n_, g_, K_;
  const double *P_, *C_;
  int32_t* assign_;
  double* dist_;
};

class CodesJob : public VqJob {
 public:
  CodesJob(Napi::Env env, Napi::Object o) : VqJob(env, o, true) {
    s_ = shape();
    const int64_t rc = int64_t(s_.rows) * s_.cols;
    H_ = array<double>("H", napi_float64_array, int64_t(s_.cols) * s_.cols);
    books_ = array<double>("books", napi_float64_array, int64_t(s_.M) * s_.K * s_.g);
    scales_ = array<double>("scales", napi_float64_array, s_.rows);
    checkedCodes("codes", s_, true);
    E_ = array<double>("E", napi_float64_array, rc);
    P_ = array<double>("P", napi_float64_array, rc);
    // per row: G·M·K candidates of 2g flops, plus the Q table
    autoDevice(2.0 * rc / s_.g * s_.M * s_.K * s_.g, 4e9);
  }
  void Run(const Ctx& ctx) override {
    changed_ = onCuda() ? cuda::vqCodes(s_, H_, books_, scales_, codesOut_, E_, P_, ctx)
                        : vqCodes(s_, H_, books_, scales_, codesOut_, E_, P_, ctx);
  }
  void Fill(Napi::Env env, Napi::Object res) override { res.Set("changed", Napi::Number::New(env, double(changed_))); }
  VqShape s_;
  const double *H_, *books_, *scales_;
  double *E_, *P_;
  int64_t changed_ = 0;
};

class NormalJob : public VqJob {
 public:
  NormalJob(Napi::Env env, Napi::Object o) : VqJob(env, o, false) {
    s_ = shape();
    m_ = integer("book", 0, true);
    if (m_ < 0 || m_ >= s_.M) throw Napi::RangeError::New(env, "book must be in 0.." + std::to_string(s_.M - 1));
    const int64_t n = int64_t(s_.K) * s_.g;
    H_ = array<double>("H", napi_float64_array, int64_t(s_.cols) * s_.cols);
    scales_ = array<double>("scales", napi_float64_array, s_.rows);
    codes_ = checkedCodes("codes", s_, false);
    N_ = array<double>("N", napi_float64_array, n * n);
  }
  void Run(const Ctx& ctx) override { vqNormal(s_, m_, H_, codes_, scales_, N_, ctx); }
  VqShape s_;
  int m_;
  const double *H_, *scales_;
  const int32_t* codes_;
  double* N_;
};

}  // namespace

void registerVqBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("vqRowsTimesH", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<RowsTimesHJob>(i); }));
  exports.Set("vqNearest", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<NearestJob>(i); }));
  exports.Set("vqCodes", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<CodesJob>(i); }));
  exports.Set("vqNormal", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<NormalJob>(i); }));
}

}  // namespace qr
