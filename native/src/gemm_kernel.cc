// Blocked Aᵀ·B kernel, compiled once per instruction set (binding.gyp builds this file three times
// with QR_ISA = v2 / v3 / v4 and -march to match); gemm.cc picks the variant the CPU supports.
// GCC vector extensions keep one source for every width: VBYTES is the register width in bytes.
#include <algorithm>
#include <cstring>
#include <vector>

#include <omp.h>

#ifndef QR_ISA
#error "QR_ISA must be defined (v2, v3 or v4)"
#endif
#define QR_CAT2(a, b) a##_##b
#define QR_CAT(a, b) QR_CAT2(a, b)

#if defined(__AVX512F__)
#define VBYTES 64
#define MR_F 8
#elif defined(__AVX__)
#define VBYTES 32
#define MR_F 6
#else
#define VBYTES 16
#define MR_F 6
#endif

namespace qr {
namespace {

constexpr int KC = 256;  // depth of one packed panel
constexpr int MC = 96;   // rows of C per tile (multiple of every MR)
constexpr int NC = 512;  // columns of C per tile

template <class T>
struct Vec {
  typedef T type __attribute__((vector_size(VBYTES)));
  static constexpr int L = VBYTES / sizeof(T);
};

// MR × (2·L) register tile: acc[i] += a[k][i] · b[k][0..2L).
template <class T, int MR>
inline void micro(int K, const T* a, const T* b, T* c, int ldc, T alpha, int mr, int nr) {
  typedef typename Vec<T>::type vt;
  constexpr int L = Vec<T>::L;
  constexpr int NR = 2 * L;
  vt acc0[MR], acc1[MR];
  for (int i = 0; i < MR; i++) { acc0[i] = vt{}; acc1[i] = vt{}; }
  for (int k = 0; k < K; k++) {
    vt b0, b1;
    std::memcpy(&b0, b + k * NR, sizeof(vt));
    std::memcpy(&b1, b + k * NR + L, sizeof(vt));
    const T* ak = a + k * MR;
    for (int i = 0; i < MR; i++) {
      T ai = ak[i];
      acc0[i] += ai * b0;
      acc1[i] += ai * b1;
    }
  }
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; i++) {
      vt c0, c1;
      std::memcpy(&c0, c + i * ldc, sizeof(vt));
      std::memcpy(&c1, c + i * ldc + L, sizeof(vt));
      c0 += alpha * acc0[i];
      c1 += alpha * acc1[i];
      std::memcpy(c + i * ldc, &c0, sizeof(vt));
      std::memcpy(c + i * ldc + L, &c1, sizeof(vt));
    }
  } else {
    for (int i = 0; i < mr; i++)
      for (int j = 0; j < nr; j++) c[i * ldc + j] += alpha * (j < L ? acc0[i][j] : acc1[i][j - L]);
  }
}

template <class T, int MR>
void gemm(int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T* C, int ldc, bool lower) {
  constexpr int NR = 2 * Vec<T>::L;
  const int mt = (M + MC - 1) / MC, nt = (N + NC - 1) / NC;
#pragma omp parallel
  {
    std::vector<T> pa(size_t(KC) * MC), pb(size_t(KC) * NC);
#pragma omp for schedule(dynamic, 1) collapse(2)
    for (int ti = 0; ti < mt; ti++)
      for (int tj = 0; tj < nt; tj++) {
        const int i0 = ti * MC, j0 = tj * NC;
        const int mc = std::min(MC, M - i0), nc = std::min(NC, N - j0);
        if (lower && i0 + mc <= j0) continue;
        for (int k0 = 0; k0 < K; k0 += KC) {
          const int kc = std::min(KC, K - k0);
          // pack A: panels of MR columns of A (rows of C), k-major inside a panel
          for (int p = 0; p < mc; p += MR) {
            const int mr = std::min(MR, mc - p);
            T* dst = pa.data() + size_t(p) * kc;
            for (int k = 0; k < kc; k++) {
              const T* src = A + size_t(k0 + k) * lda + i0 + p;
              for (int i = 0; i < mr; i++) dst[k * MR + i] = src[i];
              for (int i = mr; i < MR; i++) dst[k * MR + i] = T(0);
            }
          }
          // pack B: panels of NR columns
          for (int q = 0; q < nc; q += NR) {
            const int nr = std::min(NR, nc - q);
            T* dst = pb.data() + size_t(q) * kc;
            for (int k = 0; k < kc; k++) {
              const T* src = B + size_t(k0 + k) * ldb + j0 + q;
              for (int j = 0; j < nr; j++) dst[k * NR + j] = src[j];
              for (int j = nr; j < NR; j++) dst[k * NR + j] = T(0);
            }
          }
          for (int q = 0; q < nc; q += NR) {
            const int nr = std::min(NR, nc - q);
            for (int p = 0; p < mc; p += MR) {
              const int mr = std::min(MR, mc - p);
              if (lower && i0 + p + mr <= j0 + q) continue;
              micro<T, MR>(kc, pa.data() + size_t(p) * kc, pb.data() + size_t(q) * kc,
                           C + size_t(i0 + p) * ldc + j0 + q, ldc, alpha, mr, nr);
            }
          }
        }
      }
  }
}

}  // namespace

void QR_CAT(gemmTN, QR_ISA)(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                            float* C, int ldc, bool lower) {
  gemm<float, MR_F>(M, N, K, alpha, A, lda, B, ldb, C, ldc, lower);
}
void QR_CAT(gemmTN, QR_ISA)(int M, int N, int K, double alpha, const double* A, int lda, const double* B, int ldb,
                            double* C, int ldc, bool lower) {
  gemm<double, MR_F>(M, N, K, alpha, A, lda, B, ldb, C, ldc, lower);
}

}  // namespace qr
