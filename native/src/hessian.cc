// Hessian accumulation as a symmetric rank-k update on the blocked kernel (lower triangle, then mirrored).
#include "hessian.h"

#include <algorithm>

#include "gemm.h"

namespace qr {

void hessianUpdate(float* H, int cols, const float* X, int tokens, double n, double samples, const Ctx& ctx) {
  const double total = n + samples;
  const float keep = float(n / total);
  const float add = float(2.0 / total);
#pragma omp parallel for schedule(static)
  for (int i = 0; i < cols; i++)
    for (int j = 0; j <= i; j++) H[size_t(i) * cols + j] *= keep;
  // tokens in slabs so progress and cancellation stay responsive on long chunks
  const int slab = 1024;
  for (int t0 = 0; t0 < tokens; t0 += slab) {
    ctx.check();
    const int t = std::min(slab, tokens - t0);
    gemmTN(cols, cols, t, add, X + size_t(t0) * cols, cols, X + size_t(t0) * cols, cols, H, cols, true);
    ctx.report(t0 + t, tokens);
  }
#pragma omp parallel for schedule(static)
  for (int i = 0; i < cols; i++)
    for (int j = i + 1; j < cols; j++) H[size_t(i) * cols + j] = H[size_t(j) * cols + i];
}

}  // namespace qr
