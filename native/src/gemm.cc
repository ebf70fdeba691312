// Run-time choice of the gemm_kernel.cc variant for this CPU.
#include "gemm.h"

namespace qr {

#define QR_DECL(isa)                                                                                       \
  void gemmTN_##isa(int, int, int, float, const float*, int, const float*, int, float*, int, bool);       \
  void gemmTN_##isa(int, int, int, double, const double*, int, const double*, int, double*, int, bool);
QR_DECL(v2)
QR_DECL(v3)
QR_DECL(v4)

namespace {
int isaLevel() {
  static const int level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq"))
      return 4;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 3;
    return 2;
  }();
  return level;
}
}  // namespace

const char* gemmIsa() {
  switch (isaLevel()) {
    case 4: return "x86-64-v4";
    case 3: return "x86-64-v3";
    default: return "x86-64-v2";
  }
}

template <class T>
static void dispatch(int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T* C, int ldc, bool lower) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  switch (isaLevel()) {
    case 4: gemmTN_v4(M, N, K, alpha, A, lda, B, ldb, C, ldc, lower); break;
    case 3: gemmTN_v3(M, N, K, alpha, A, lda, B, ldb, C, ldc, lower); break;
    default: gemmTN_v2(M, N, K, alpha, A, lda, B, ldb, C, ldc, lower); break;
  }
}

void gemmTN(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
            bool lower) {
  dispatch(M, N, K, alpha, A, lda, B, ldb, C, ldc, lower);
}
void gemmTN(int M, int N, int K, double alpha, const double* A, int lda, const double* B, int ldb, double* C, int ldc,
            bool lower) {
  dispatch(M, N, K, alpha, A, lda, B, ldb, C, ldc, lower);
}

}  // namespace qr
