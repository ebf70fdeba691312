// The host side of the graph executor's primitives (kernels.h): OpenMP loops over plain memory. The
// CPU backend runs every op here; the CUDA backend runs its int64 shape arithmetic here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../gemm.h"
#include "../hessian.h"
#include "../cuda_api.h"
#include "kernels.h"

namespace qr {
namespace graph {

std::string dimsText(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); i++) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

Mem::Mem(size_t n, Kernels* k) : bytes(n), owner(k) {
  if (owner) p = owner->alloc(n);
  else {
    p = std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
  }
}
Mem::~Mem() {
  if (owner) owner->release(p, bytes);
  else std::free(p);
}

Tensor hostTensor(DType dt, const Dims& dims) {
  Tensor t;
  t.dt = dt;
  t.dims = dims;
  t.mem = std::make_shared<Mem>(size_t(numel(dims)) * dtypeSize(dt), nullptr);
  return t;
}

std::vector<int64_t> int64Values(const Tensor& t) {
  const int64_t* p = t.data<int64_t>();
  return std::vector<int64_t>(p, p + t.size());
}

void coalesce(Strided& s, int operands) {
  Strided o;
  o.off[0] = s.off[0], o.off[1] = s.off[1], o.off[2] = s.off[2], o.off[3] = s.off[3];
  for (int d = 0; d < s.nd; d++) {
    if (s.dims[d] == 1) continue;
    if (o.nd > 0) {
      const int p = o.nd - 1;
      bool merge = true;
      for (int k = 0; k < operands; k++)
        if (o.st[k][p] != s.st[k][d] * s.dims[d]) merge = false;
      if (merge) {
        o.dims[p] *= s.dims[d];
        for (int k = 0; k < operands; k++) o.st[k][p] = s.st[k][d];
        continue;
      }
    }
    o.dims[o.nd] = s.dims[d];
    for (int k = 0; k < operands; k++) o.st[k][o.nd] = s.st[k][d];
    o.nd++;
  }
  if (o.nd == 0) {  // a single element
    o.nd = 1;
    o.dims[0] = 1;
  }
  s = o;
}

namespace {

/** Offsets of operands 0..K-1 of linear element i. */
template <int K>
inline void offsets(const Strided& s, int64_t i, int64_t* o) {
  for (int k = 0; k < K; k++) o[k] = s.off[k];
  for (int d = s.nd - 1; d >= 0; d--) {
    const int64_t c = i % s.dims[d];
    i /= s.dims[d];
    for (int k = 0; k < K; k++) o[k] += c * s.st[k][d];
  }
}

float unaryOp(Unary op, float x) {
  switch (op) {
    case Unary::Neg: return -x;
    case Unary::Sqrt: return std::sqrt(x);
    case Unary::Reciprocal: return 1.f / x;
    case Unary::Sigmoid: return 1.f / (1.f + std::exp(-x));
    case Unary::Tanh: return std::tanh(x);
    case Unary::Cos: return std::cos(x);
    case Unary::Sin: return std::sin(x);
    case Unary::Exp: return std::exp(x);
    case Unary::Abs: return std::fabs(x);
    case Unary::Relu: return x > 0.f ? x : 0.f;
    case Unary::Erf: return std::erf(x);
    case Unary::Identity: return x;
  }
  return x;
}

template <class T>
T arith(Binary op, T a, T b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
    case Binary::Pow: return T(std::pow(double(a), double(b)));
    case Binary::Max: return a > b ? a : b;
    case Binary::Min: return a < b ? a : b;
    default: return T(0);
  }
}
inline float arithF(Binary op, float a, float b) {
  if (op == Binary::Pow) return b == 2.f ? a * a : std::pow(a, b);
  if (op == Binary::Max) return (std::isnan(a) || a > b) ? a : b;
  if (op == Binary::Min) return (std::isnan(a) || a < b) ? a : b;
  return arith<float>(op, a, b);
}

template <class T>
void binaryT(Binary op, void* dst, const T* a, const T* b, const Strided& s) {
  const int64_t n = s.count();
  if (isCompare(op)) {
    auto* d = static_cast<uint8_t*>(dst);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
      int64_t o[3];
      offsets<3>(s, i, o);
      d[o[0]] = compare<T>(op, a[o[1]], b[o[2]]);
    }
    return;
  }
  auto* d = static_cast<T*>(dst);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    int64_t o[3];
    offsets<3>(s, i, o);
    if constexpr (std::is_same<T, float>::value) d[o[0]] = arithF(op, a[o[1]], b[o[2]]);
    else d[o[0]] = arith<T>(op, a[o[1]], b[o[2]]);
  }
}

class HostKernels final : public Kernels {
 public:
  bool device() const override { return false; }
  void* alloc(size_t bytes) override {
    void* p = std::malloc(bytes ? bytes : 1);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void release(void* p, size_t) override { std::free(p); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }

  void copy(size_t elem, void* dst, const void* src, const Strided& s) override {
    const int64_t n = s.count();
    auto* d = static_cast<uint8_t*>(dst);
    const auto* x = static_cast<const uint8_t*>(src);
    const int64_t inner = s.dims[s.nd - 1];
    if (s.st[0][s.nd - 1] == 1 && s.st[1][s.nd - 1] == 1) {  // contiguous rows: memcpy each
      const int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t r = 0; r < rows; r++) {
        int64_t o[2];
        offsets<2>(s, r * inner, o);
        std::memcpy(d + o[0] * elem, x + o[1] * elem, size_t(inner) * elem);
      }
      return;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
      int64_t o[2];
      offsets<2>(s, i, o);
      std::memcpy(d + o[0] * elem, x + o[1] * elem, elem);
    }
  }
  void unary(Unary op, float* dst, const float* src, int64_t n) override {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) dst[i] = unaryOp(op, src[i]);
  }
  void isnan(uint8_t* dst, const float* src, int64_t n) override {
    for (int64_t i = 0; i < n; i++) dst[i] = std::isnan(src[i]);
  }
  void logicalNot(uint8_t* dst, const uint8_t* src, int64_t n) override {
    for (int64_t i = 0; i < n; i++) dst[i] = !src[i];
  }
  void binary(Binary op, DType in, void* dst, const void* a, const void* b, const Strided& s) override {
    if (in == DType::F32) return binaryT<float>(op, dst, static_cast<const float*>(a), static_cast<const float*>(b), s);
    if (in == DType::I64) return binaryT<int64_t>(op, dst, static_cast<const int64_t*>(a), static_cast<const int64_t*>(b), s);
    const auto* x = static_cast<const uint8_t*>(a);
    const auto* y = static_cast<const uint8_t*>(b);
    auto* d = static_cast<uint8_t*>(dst);
    const int64_t n = s.count();
    for (int64_t i = 0; i < n; i++) {
      int64_t o[3];
      offsets<3>(s, i, o);
      d[o[0]] = op == Binary::And ? (x[o[1]] && y[o[2]]) : op == Binary::Or ? (x[o[1]] || y[o[2]]) : (x[o[1]] == y[o[2]]);
    }
  }
  void where(size_t elem, void* dst, const uint8_t* cond, const void* a, const void* b, const Strided& s) override {
    const int64_t n = s.count();
    auto* d = static_cast<uint8_t*>(dst);
    const auto* x = static_cast<const uint8_t*>(a);
    const auto* y = static_cast<const uint8_t*>(b);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
      int64_t o[4];
      offsets<4>(s, i, o);
      std::memcpy(d + o[0] * elem, cond[o[1]] ? x + o[2] * elem : y + o[3] * elem, elem);
    }
  }
  void castFloatBool(void* dst, const void* src, int64_t n, bool toBool) override {
    if (toBool)
      for (int64_t i = 0; i < n; i++) static_cast<uint8_t*>(dst)[i] = static_cast<const float*>(src)[i] != 0.f;
    else
      for (int64_t i = 0; i < n; i++) static_cast<float*>(dst)[i] = static_cast<const uint8_t*>(src)[i] ? 1.f : 0.f;
  }
  void reduceRows(Reduce op, float* dst, const float* src, int64_t rows, int64_t cols) override {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; r++) {
      const float* x = src + r * cols;
      if (op == Reduce::Max) {
        float m = -INFINITY;
        for (int64_t j = 0; j < cols; j++) m = std::max(m, x[j]);
        dst[r] = m;
        continue;
      }
      double s = 0;
      for (int64_t j = 0; j < cols; j++) s += x[j];
      dst[r] = float(op == Reduce::Mean ? s / double(cols) : s);
    }
  }
  void softmaxRows(float* dst, const float* src, int64_t rows, int64_t cols) override {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; r++) {
      const float* x = src + r * cols;
      float* y = dst + r * cols;
      float m = -INFINITY;
      for (int64_t j = 0; j < cols; j++) m = std::max(m, x[j]);
      double s = 0;
      for (int64_t j = 0; j < cols; j++) s += (y[j] = std::exp(x[j] - m));
      const float inv = float(1.0 / s);
      for (int64_t j = 0; j < cols; j++) y[j] *= inv;
    }
  }
  void layerNormRows(float* dst, const float* x, const float* scale, const float* bias, int64_t rows, int64_t cols,
                     float eps) override {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; r++) {
      const float* a = x + r * cols;
      float* y = dst + r * cols;
      double s = 0, q = 0;
      for (int64_t j = 0; j < cols; j++) s += a[j];
      const double mean = s / double(cols);
      for (int64_t j = 0; j < cols; j++) q += (a[j] - mean) * (a[j] - mean);
      const float inv = float(1.0 / std::sqrt(q / double(cols) + eps));
      for (int64_t j = 0; j < cols; j++) y[j] = float(a[j] - mean) * inv * scale[j] + (bias ? bias[j] : 0.f);
    }
  }
  void gather(size_t elem, void* dst, const void* src, const int64_t* idx, int64_t outer, int64_t axisLen,
              int64_t nIdx, int64_t inner) override {
    auto* d = static_cast<uint8_t*>(dst);
    const auto* x = static_cast<const uint8_t*>(src);
    const size_t row = size_t(inner) * elem;
#pragma omp parallel for schedule(static) if (outer * nIdx * inner > 65536)
    for (int64_t o = 0; o < outer; o++)
      for (int64_t j = 0; j < nIdx; j++) std::memcpy(d + (o * nIdx + j) * row, x + (o * axisLen + idx[j]) * row, row);
  }
  void gemm(const Gemm& g) override {
    // the CPU kernel computes C += alpha·Aᵀ·B with A stored K×M and B stored K×N: transpose A (and B
    // when it is stored N×K) into K-major copies, then accumulate into a zeroed C
    std::vector<float> At(size_t(g.K) * g.M), Bt(g.transB ? size_t(g.K) * g.N : 0);
    for (int b = 0; b < g.batch; b++) {
      const float* A = g.A + b * g.sA;
      const float* B = g.B + b * g.sB;
      float* C = g.C + b * g.sC;
#pragma omp parallel for schedule(static) if (int64_t(g.M) * g.K > 65536)
      for (int m = 0; m < g.M; m++)
        for (int k = 0; k < g.K; k++) At[size_t(k) * g.M + m] = A[size_t(m) * g.K + k];
      if (g.transB) {
#pragma omp parallel for schedule(static) if (int64_t(g.N) * g.K > 65536)
        for (int n = 0; n < g.N; n++)
          for (int k = 0; k < g.K; k++) Bt[size_t(k) * g.N + n] = B[size_t(n) * g.K + k];
      }
      const int64_t mn = int64_t(g.M) * g.N;
      if (g.bias)
        for (int m = 0; m < g.M; m++) std::memcpy(C + size_t(m) * g.N, g.bias, size_t(g.N) * sizeof(float));
      else
        std::memset(C, 0, size_t(mn) * sizeof(float));
      gemmTN(g.M, g.N, g.K, g.alpha, At.data(), g.M, g.transB ? Bt.data() : B, g.N, C, g.N);
    }
  }
  void hessianTap(TapAcc& acc, const float* X, int64_t rows, const Ctx& ctx) override {
    if (rows > INT32_MAX) fail("a tapped tensor has more than 2^31 rows");
    // a device-resident H is newer than the host copy: bring it back before adding on the CPU
    if (acc.resident > 0 && cuda::usable()) cuda::hessianFetch(acc.resident, acc.H, acc.cols, true);
    // no cancellation inside a tap: an accumulator is updated whole or not at all
    (void)ctx;
    const Ctx quiet;
    hessianUpdate(acc.H, acc.cols, X, int(rows), acc.count, acc.samples, quiet);
  }
  void fill(float* dst, float v, int64_t n) override {
    for (int64_t i = 0; i < n; i++) dst[i] = v;
  }
};

}  // namespace

Kernels& hostKernels() {
  static HostKernels k;
  return k;
}

void hostBinaryInt64(Binary op, void* dst, const int64_t* a, const int64_t* b, const Strided& s) {
  binaryT<int64_t>(op, dst, a, b, s);
}

}  // namespace graph
}  // namespace qr
