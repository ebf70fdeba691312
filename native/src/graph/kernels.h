// The primitives every op of the graph executor is built from, implemented once per place the data
// lives: HostKernels (plain C++ with OpenMP: the CPU backend, and the int64 shape arithmetic of
// every backend) and the CUDA kernels (src/cuda/graph_*.cu). Ops (ops_*.cc) compute shapes, strides
// and broadcasting on the host and call these on whichever side holds their tensors, so both
// backends share one implementation of the ONNX semantics.
#pragma once
#include <cstdint>
#include <string>

#include "../common.h"
#include "../host_device.h"
#include "tensor.h"

namespace qr {
namespace graph {

constexpr int MAX_DIMS = 8;

/**
 * An index space of nd dims walked in row-major order, with each operand's element stride per dim
 * (0 where it broadcasts) and base offset: operand k of element (i0..i{nd-1}) is at
 * off[k] + Σ i_d·st[k][d]. Operand 0 is the output.
 */
struct Strided {
  int nd = 0;
  int64_t dims[MAX_DIMS] = {};
  int64_t st[4][MAX_DIMS] = {};
  int64_t off[4] = {};
  int64_t count() const {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= dims[d];
    return n;
  }
};

/** Merges dims that are contiguous in every one of the first `operands` operands and drops dims of size 1. */
void coalesce(Strided& s, int operands);

enum class Unary : uint8_t { Neg, Sqrt, Reciprocal, Sigmoid, Tanh, Cos, Sin, Exp, Abs, Relu, Erf, Identity };
enum class Binary : uint8_t { Add, Sub, Mul, Div, Pow, Max, Min, Equal, Less, LessOrEqual, Greater, GreaterOrEqual, And, Or };
enum class Reduce : uint8_t { Mean, Sum, Max };

/** True for the comparisons (bool output). */
inline bool isCompare(Binary b) { return b >= Binary::Equal && b <= Binary::GreaterOrEqual; }

/** A comparison of two values (false for the other ops): the one definition of the CPU and CUDA kernels. */
template <class T>
QR_HOST_DEVICE inline bool compare(Binary op, T a, T b) {
  switch (op) {
    case Binary::Equal: return a == b;
    case Binary::Less: return a < b;
    case Binary::LessOrEqual: return a <= b;
    case Binary::Greater: return a > b;
    case Binary::GreaterOrEqual: return a >= b;
    default: return false;
  }
}

/** One GEMM batch: C[b] (M×N) = A[b] (M×K) · op(B[b]) (K×N, or N×K with transB), row-major, strides in elements. */
struct Gemm {
  int batch = 1, M = 0, N = 0, K = 0;
  const float* A = nullptr;
  const float* B = nullptr;
  float* C = nullptr;
  int64_t sA = 0, sB = 0, sC = 0;
  bool transB = false;
  /** Optional bias added to every row of C (length N). */
  const float* bias = nullptr;
  float alpha = 1.f;
};

/** A tap's accumulator: H (host array, cols×cols), the samples already folded in, and the resident id. */
struct TapAcc {
  float* H = nullptr;
  int cols = 0;
  double count = 0;
  double samples = 1;
  int64_t resident = 0;
};

class Kernels {
 public:
  virtual ~Kernels() = default;
  virtual bool device() const = 0;
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p, size_t bytes) = 0;
  /** Host ↔ this side's memory (plain copies on the host). */
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;
  virtual void download(void* dst, const void* src, size_t bytes) = 0;
  virtual void sync() {}

  /** dst[i] = src[i] over a strided index space (operand 0: dst, 1: src), elements of `elem` bytes. */
  virtual void copy(size_t elem, void* dst, const void* src, const Strided& s) = 0;
  /** float → float unary, or IsNaN (float → bool) when `isnan`, Not (bool → bool) when `lnot`. */
  virtual void unary(Unary op, float* dst, const float* src, int64_t n) = 0;
  virtual void isnan(uint8_t* dst, const float* src, int64_t n) = 0;
  virtual void logicalNot(uint8_t* dst, const uint8_t* src, int64_t n) = 0;
  /** Element types: in F32 (arithmetic, comparisons) or Bool (And, Or); output Bool for comparisons and logic. */
  virtual void binary(Binary op, DType in, void* dst, const void* a, const void* b, const Strided& s) = 0;
  /** dst = cond ? a : b; operands 0 dst, 1 cond (bool), 2 a, 3 b; `elem` bytes per value. */
  virtual void where(size_t elem, void* dst, const uint8_t* cond, const void* a, const void* b, const Strided& s) = 0;
  /** float ↔ bool (ONNX Cast: nonzero → true; true → 1). */
  virtual void castFloatBool(void* dst, const void* src, int64_t n, bool toBool) = 0;
  /** dst[r] = reduce(src[r][0..cols)). */
  virtual void reduceRows(Reduce op, float* dst, const float* src, int64_t rows, int64_t cols) = 0;
  virtual void softmaxRows(float* dst, const float* src, int64_t rows, int64_t cols) = 0;
  /** dst[r] = (x[r] − mean)/√(var + eps)·scale + bias (scale, bias of length cols; bias may be null). */
  virtual void layerNormRows(float* dst, const float* x, const float* scale, const float* bias, int64_t rows,
                             int64_t cols, float eps) = 0;
  /** dst[o][j][i] = src[o][idx[j]][i]; idx are host values already made non-negative and checked. */
  virtual void gather(size_t elem, void* dst, const void* src, const int64_t* idx, int64_t outer, int64_t axisLen,
                      int64_t nIdx, int64_t inner) = 0;
  virtual void gemm(const Gemm& g) = 0;
  /** Folds X (rows × acc.cols, this side's memory) into the accumulator as HessianAccumulator.add does. */
  virtual void hessianTap(TapAcc& acc, const float* X, int64_t rows, const Ctx& ctx) = 0;
  /** Fills n floats with v. */
  virtual void fill(float* dst, float v, int64_t n) = 0;
};

/** The host's kernels (one shared instance): the CPU backend and every backend's int64 arithmetic. */
Kernels& hostKernels();

/** Host-only int64 arithmetic over a strided space (Add, Sub, Mul, Div, Max, Min, comparisons to bool). */
void hostBinaryInt64(Binary op, void* dst, const int64_t* a, const int64_t* b, const Strided& s);

}  // namespace graph
}  // namespace qr
