// One Job subclass per exported call: read and check the option object on the main thread, run the
// algorithm (CPU or CUDA) on a worker thread, add scalar results on the main thread.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cuda_api.h"
#include "gptq.h"
#include "hessian.h"
#include "job.h"
#include "outliers.h"
#include "pack.h"
#include "prune_mask.h"
#include "quant_error.h"
#include "quant_grid.h"
#include "sparsegpt.h"

namespace qr {

namespace {

// Shape and device handling common to the weight-matrix jobs.
class MatrixJob : public Job {
 public:
  MatrixJob(Napi::Env env, Napi::Object o, bool hasCuda) : Job(env, o) {
    rows_ = integer("rows", 0, true);
    cols_ = integer("cols", 0, true);
    if (rows_ <= 0 || cols_ <= 0)
      throw Napi::RangeError::New(env, "rows and cols must be positive, got " + std::to_string(rows_) + "×" +
                                           std::to_string(cols_));
    const std::string dev = text("device", "auto");
    if (dev != "auto" && dev != "cpu" && dev != "cuda")
      throw Napi::RangeError::New(env, "device must be 'auto', 'cpu' or 'cuda', got '" + dev + "'");
    if (dev == "cuda") {
      if (!hasCuda) throw Napi::Error::New(env, "this operation has no CUDA implementation");
      if (!cuda::usable()) throw Napi::Error::New(env, "device 'cuda' asked for but no usable GPU: " + cuda::status().error);
      device_ = "cuda";
    } else if (dev == "auto" && hasCuda && cuda::usable()) {
      device_ = "cuda";
      auto_ = true;
    }
  }

 protected:
  int64_t size() const { return int64_t(rows_) * cols_; }
  bool onCuda() const { return device_ == "cuda"; }
  QuantSpec quantSpec() {
    QuantSpec s;
    s.bits = integer("bits", 4);
    if (s.bits < 2 || s.bits > 8) throw Napi::RangeError::New(Env(), "bits must be 2..8, got " + std::to_string(s.bits));
    s.groupSize = integer("groupSize", 0);
    if (s.groupSize < 0)
      throw Napi::RangeError::New(Env(), "groupSize must be ≥ 0 (0: one group per row), got " + std::to_string(s.groupSize));
    s.symmetric = flag("symmetric", false);
    s.mse = flag("mse", false);
    return s;
  }
  int groups(const QuantSpec& s) const { return groupCount(cols_, s); }
  void nm(int& n, int& m, double& sparsity) {
    n = integer("n", 0);
    m = integer("m", 0);
    sparsity = number("sparsity", 0.5);
    if (n < 0 || m < 0 || (n > 0 && (m <= n || m > 64)) || (n == 0 && m != 0))
      throw Napi::RangeError::New(Env(), "N:M must satisfy 0 < n < m ≤ 64, got " + std::to_string(n) + ":" +
                                             std::to_string(m));
    if (n > 0 && cols_ % m != 0)
      throw Napi::RangeError::New(Env(), "cols " + std::to_string(cols_) + " is not a multiple of m=" + std::to_string(m));
    if (!(sparsity >= 0 && sparsity < 1)) throw Napi::RangeError::New(Env(), "sparsity must be in [0, 1)");
  }
  /**
   * 'auto' sends small problems to the CPU: below `work` of `threshold` the copies and launches
   * cost more than the device saves (an explicit 'cuda' is always honoured).
   */
  void cpuIfSmall(double work, double threshold) {
    if (auto_ && work < threshold) device_ = "cpu";
  }
  int rows_, cols_;
  bool auto_ = false;
};

class QuantGridJob : public MatrixJob {
 public:
  QuantGridJob(Napi::Env env, Napi::Object o) : MatrixJob(env, o, true) {
    s_ = quantSpec();
    W_ = array<float>("W", napi_float32_array, size());
    const int64_t ng = int64_t(rows_) * groups(s_);
    scales_ = array<float>("scales", napi_float32_array, ng);
    zeros_ = array<float>("zeros", napi_float32_array, ng);
    codes_ = array<uint8_t>("codes", napi_uint8_array, size(), true);
    Q_ = array<float>("Q", napi_float32_array, size(), true);
    cpuIfSmall(double(size()), double(1 << 24));
  }
  void Run(const Ctx& ctx) override {
    if (onCuda()) return cuda::rtn(W_, rows_, cols_, s_, scales_, zeros_, codes_, Q_, ctx);
    fitGrid(W_, rows_, cols_, s_, scales_, zeros_, ctx);
    if (codes_) rtn(W_, rows_, cols_, s_, scales_, zeros_, codes_, Q_, ctx);
  }
  QuantSpec s_;
  const float* W_;
  float *scales_, *zeros_, *Q_;
  uint8_t* codes_;
};

class HessianJob : public MatrixJob {
 public:
  // rows = tokens of the chunk, cols = features
  HessianJob(Napi::Env env, Napi::Object o) : MatrixJob(env, o, true) {
    X_ = array<float>("X", napi_float32_array, size());
    H_ = array<float>("H", napi_float32_array, int64_t(cols_) * cols_);
    n_ = number("count", 0);
    samples_ = number("samples", 1);
    resident_ = integer("resident", 0);
    if (!(n_ >= 0) || !(samples_ > 0)) throw Napi::RangeError::New(env, "count must be ≥ 0 and samples > 0");
    cpuIfSmall(2.0 * rows_ * double(cols_) * cols_, 2e10);
  }
  void Run(const Ctx& ctx) override {
    if (onCuda()) return cuda::hessianUpdate(H_, cols_, X_, rows_, n_, samples_, ctx, resident_);
    // a device-resident H is newer than the host copy: bring it back before the CPU adds to it
    if (resident_ > 0) cuda::hessianFetch(resident_, H_, cols_, true);
    hessianUpdate(H_, cols_, X_, rows_, n_, samples_, ctx);
  }
  void Fill(Napi::Env, Napi::Object r) override { r.Set("count", n_ + samples_); }
  const float* X_;
  float* H_;
  double n_, samples_;
  int resident_;
};

// Synchronous: hessianFetch({ id, cols, H?, release? }) copies a device-resident Hessian into H and
// optionally frees it; returns whether one existed.
Napi::Value HessianFetch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "hessianFetch expects an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  const int64_t id = o.Get("id").ToNumber().Int64Value();
  const int cols = o.Has("cols") ? o.Get("cols").ToNumber().Int32Value() : 0;
  const bool release = o.Has("release") && o.Get("release").ToBoolean().Value();
  float* H = nullptr;
  if (o.Has("H") && o.Get("H").IsTypedArray()) {
    Napi::Float32Array a = o.Get("H").As<Napi::Float32Array>();
    if (cols <= 0 || a.ElementLength() != size_t(cols) * cols)
      throw Napi::RangeError::New(env, "hessianFetch: H must hold cols×cols values");
    H = a.Data();
  }
  try {
    return Napi::Boolean::New(env, cuda::usable() && cuda::hessianFetch(id, H, cols, release));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

class GptqJob : public MatrixJob {
 public:
  GptqJob(Napi::Env env, Napi::Object o) : MatrixJob(env, o, true) {
    o_.quant = quantSpec();
    o_.blockSize = integer("blockSize", 128);
    o_.percdamp = number("percdamp", 0.01);
    o_.actOrder = flag("actOrder", false);
    o_.staticGroups = flag("staticGroups", false);
    if (o_.blockSize < 1 || o_.blockSize > 4096) throw Napi::RangeError::New(env, "blockSize must be 1..4096");
    if (!(o_.percdamp >= 0)) throw Napi::RangeError::New(env, "percdamp must be ≥ 0");
    W_ = array<float>("W", napi_float32_array, size());
    H_ = array<float>("H", napi_float32_array, int64_t(cols_) * cols_);
    o_.hold = array<uint8_t>("hold", napi_uint8_array, size(), true);
    if (o_.hold)
      for (int64_t i = 0; i < size(); i++)
        if (o_.hold[i] > HOLD_OUTLIER)
          throw Napi::RangeError::New(env, "hold[" + std::to_string(i) + "] is " + std::to_string(o_.hold[i]) +
                                               ": 0 (quantise), 1 (pruned) or 2 (outlier)");
    const int64_t ng = int64_t(rows_) * groups(o_.quant);
    out_.Q = array<float>("Q", napi_float32_array, size());
    out_.codes = array<uint8_t>("codes", napi_uint8_array, size());
    out_.scales = array<float>("scales", napi_float32_array, ng);
    out_.zeros = array<float>("zeros", napi_float32_array, ng);
    out_.gIdx = array<int32_t>("gIdx", napi_int32_array, cols_);
    out_.perm = array<int32_t>("perm", napi_int32_array, cols_);
    cpuIfSmall(double(size()), double(1 << 22));
  }
  void Run(const Ctx& ctx) override {
    if (onCuda() && cuda::supports(o_.quant, true, o_.blockSize, 0)) return cuda::gptq(W_, H_, rows_, cols_, o_, out_, ctx);
    device_ = "cpu";
    gptq(W_, H_, rows_, cols_, o_, out_, ctx);
  }
  void Fill(Napi::Env, Napi::Object r) override { r.Set("loss", out_.loss); }
  GptqOptions o_;
  GptqOutputs out_{};
  const float *W_, *H_;
};

class SparseGptJob : public MatrixJob {
 public:
  SparseGptJob(Napi::Env env, Napi::Object o) : MatrixJob(env, o, true) {
    nm(o_.n, o_.m, o_.sparsity);
    o_.quantize = flag("quantize", false);
    if (o_.quantize) o_.quant = quantSpec();
    o_.blockSize = integer("blockSize", 128);
    o_.percdamp = number("percdamp", 0.01);
    if (o_.blockSize < 1 || o_.blockSize > 4096) throw Napi::RangeError::New(env, "blockSize must be 1..4096");
    if (o_.n > 0 && o_.blockSize % o_.m != 0) throw Napi::RangeError::New(env, "blockSize must be a multiple of m");
    W_ = array<float>("W", napi_float32_array, size());
    H_ = array<float>("H", napi_float32_array, int64_t(cols_) * cols_);
    out_.Q = array<float>("Q", napi_float32_array, size());
    out_.mask = array<uint8_t>("mask", napi_uint8_array, size());
    if (o_.quantize) {
      const int64_t ng = int64_t(rows_) * groups(o_.quant);
      out_.codes = array<uint8_t>("codes", napi_uint8_array, size());
      out_.scales = array<float>("scales", napi_float32_array, ng);
      out_.zeros = array<float>("zeros", napi_float32_array, ng);
    }
    cpuIfSmall(double(size()), double(1 << 22));
  }
  void Run(const Ctx& ctx) override {
    if (onCuda() && cuda::supports(o_.quant, o_.quantize, o_.blockSize, o_.m))
      return cuda::sparsegpt(W_, H_, rows_, cols_, o_, out_, ctx);
    device_ = "cpu";
    sparsegpt(W_, H_, rows_, cols_, o_, out_, ctx);
  }
  void Fill(Napi::Env, Napi::Object r) override { r.Set("loss", out_.loss); }
  SparseGptOptions o_;
  SparseGptOutputs out_{};
  const float *W_, *H_;
};

class PruneJob : public MatrixJob {
 public:
  PruneJob(Napi::Env env, Napi::Object o, bool useNorms) : MatrixJob(env, o, false) {
    nm(p_.n, p_.m, p_.sparsity);
    W_ = array<float>("W", napi_float32_array, size());
    norms_ = useNorms ? array<float>("colNorms", napi_float32_array, cols_) : nullptr;
    Q_ = array<float>("Q", napi_float32_array, size());
    mask_ = array<uint8_t>("mask", napi_uint8_array, size());
  }
  void Run(const Ctx& ctx) override {
    if (norms_) wanda(W_, norms_, rows_, cols_, p_, Q_, mask_, ctx);
    else magnitude(W_, rows_, cols_, p_, Q_, mask_, ctx);
  }
  PrunePattern p_;
  const float *W_, *norms_;
  float* Q_;
  uint8_t* mask_;
};

class OutliersJob : public MatrixJob {
 public:
  OutliersJob(Napi::Env env, Napi::Object o) : MatrixJob(env, o, false) {
    s_ = quantSpec();
    nnz_ = int64_t(number("nnz", 0, true));
    if (nnz_ < 0 || nnz_ > size()) throw Napi::RangeError::New(env, "nnz must be in 0..rows·cols");
    const int64_t ng = int64_t(rows_) * groups(s_);
    W_ = array<float>("W", napi_float32_array, size());
    out_.rowPtr = array<int32_t>("rowPtr", napi_int32_array, rows_ + 1);
    out_.colIdx = array<int32_t>("colIdx", napi_int32_array, nnz_);
    out_.values = array<uint16_t>("values", napi_uint16_array, nnz_);
    out_.codes = array<uint8_t>("codes", napi_uint8_array, size());
    out_.scales = array<float>("scales", napi_float32_array, ng);
    out_.zeros = array<float>("zeros", napi_float32_array, ng);
    out_.dense = array<float>("dense", napi_float32_array, size());
  }
  void Run(const Ctx& ctx) override { outliers(W_, rows_, cols_, nnz_, s_, out_, ctx); }
  QuantSpec s_;
  int64_t nnz_;
  const float* W_;
  OutlierOutputs out_{};
};

class QuantErrorJob : public MatrixJob {
 public:
  QuantErrorJob(Napi::Env env, Napi::Object o) : MatrixJob(env, o, false) {
    s_ = quantSpec();
    const int64_t nb = arrayLength("bitsList");
    if (nb <= 0) throw Napi::TypeError::New(env, "'bitsList' must be a non-empty Int32Array");
    bits_ = array<int32_t>("bitsList", napi_int32_array, nb);
    for (int64_t i = 0; i < nb; i++)
      if (bits_[i] < 2 || bits_[i] > 8) throw Napi::RangeError::New(env, "bitsList entries must be 2..8");
    nb_ = int(nb);
    W_ = array<float>("W", napi_float32_array, size());
    H_ = array<float>("H", napi_float32_array, int64_t(cols_) * cols_, true);
    G_ = array<float>("G", napi_float32_array, size(), true);
    sq_ = array<double>("squared", napi_float64_array, nb);
    hess_ = array<double>("hessian", napi_float64_array, nb);
    grad_ = array<double>("gradient", napi_float64_array, nb);
  }
  void Run(const Ctx& ctx) override {
    for (int i = 0; i < nb_; i++) {
      QuantSpec s = s_;
      s.bits = bits_[i];
      const QuantErrors e = quantError(W_, rows_, cols_, s, H_, G_, ctx);
      sq_[i] = e.squared;
      hess_[i] = e.hessian;
      grad_[i] = e.gradient;
      ctx.report(i + 1, nb_);
    }
  }
  QuantSpec s_;
  int nb_;
  const int32_t* bits_;
  const float *W_, *H_, *G_;
  double *sq_, *hess_, *grad_;
};

class PackJob : public MatrixJob {
 public:
  PackJob(Napi::Env env, Napi::Object o, bool unpack) : MatrixJob(env, o, false), unpack_(unpack) {
    bits_ = integer("bits", 4);
    bs_ = integer("blockSize", 128);
    if (bits_ < 2 || bits_ > 8) throw Napi::RangeError::New(env, "bits must be 2..8");
    if (bs_ < 16 || (bs_ & (bs_ - 1))) throw Napi::RangeError::New(env, "blockSize must be a power of two ≥ 16");
    const int64_t nb = (cols_ + bs_ - 1) / bs_;
    const int64_t blob = (int64_t(bs_) * bits_ + 7) / 8;
    const int64_t zpRow = (nb * bits_ + 7) / 8;
    codes_ = array<uint8_t>("codes", napi_uint8_array, size());
    B_ = array<uint8_t>("B", napi_uint8_array, rows_ * nb * blob);
    zeros_ = array<uint8_t>("zeros", napi_uint8_array, rows_ * nb, true);
    zp_ = array<uint8_t>("zeroPoints", napi_uint8_array, rows_ * zpRow, !zeros_);
    if (!unpack_) {
      const int maxq = (1 << bits_) - 1;
      for (int64_t i = 0; i < size(); i++)
        if (codes_[i] > maxq) throw Napi::RangeError::New(env, "code " + std::to_string(codes_[i]) + " at index " +
                                                                   std::to_string(i) + " does not fit in " +
                                                                   std::to_string(bits_) + " bits");
    }
  }
  void Run(const Ctx&) override {
    if (unpack_) unpackNBits(B_, rows_, cols_, bits_, bs_, zp_, codes_, zeros_);
    else packNBits(codes_, rows_, cols_, bits_, bs_, zeros_, B_, zp_);
  }
  bool unpack_;
  int bits_, bs_;
  uint8_t *codes_, *B_, *zeros_, *zp_;
};

}  // namespace

void registerBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("quantGrid", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<QuantGridJob>(i); }));
  exports.Set("hessian", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<HessianJob>(i); }));
  exports.Set("gptq", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<GptqJob>(i); }));
  exports.Set("sparsegpt", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<SparseGptJob>(i); }));
  exports.Set("wanda", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<PruneJob>(i, true); }));
  exports.Set("magnitude", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<PruneJob>(i, false); }));
  exports.Set("outliers", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<OutliersJob>(i); }));
  exports.Set("quantError", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<QuantErrorJob>(i); }));
  exports.Set("packNBits", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<PackJob>(i, false); }));
  exports.Set("unpackNBits", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return startJob<PackJob>(i, true); }));
  exports.Set("hessianFetch", Napi::Function::New(env, HessianFetch));
}

}  // namespace qr
