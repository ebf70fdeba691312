// Blocked right-looking Cholesky and blocked triangular inverse on top of gemmTN.
#include "linalg.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "gemm.h"

namespace qr {

namespace {
constexpr int NB = 128;
}

bool choleskyLower(double* A, int n, const Ctx* ctx) {
  std::vector<double> panel;
  for (int k0 = 0; k0 < n; k0 += NB) {
    if (ctx) ctx->check();
    const int b = std::min(NB, n - k0);
    // diagonal block, unblocked (earlier panels were already subtracted by the trailing updates)
    for (int j = k0; j < k0 + b; j++) {
      double* rj = A + size_t(j) * n;
      double d = rj[j];
      for (int p = k0; p < j; p++) d -= rj[p] * rj[p];
      if (!(d > 0) || !std::isfinite(d)) return false;
      d = std::sqrt(d);
      rj[j] = d;
      for (int i = j + 1; i < k0 + b; i++) {
        double* ri = A + size_t(i) * n;
        double s = ri[j];
        for (int p = k0; p < j; p++) s -= ri[p] * rj[p];
        ri[j] = s / d;
      }
    }
    const int m = n - k0 - b;
    if (m == 0) break;
    // panel: rows below solve x·L11ᵀ = a
#pragma omp parallel for schedule(static)
    for (int i = k0 + b; i < n; i++) {
      double* ri = A + size_t(i) * n;
      for (int j = k0; j < k0 + b; j++) {
        const double* rj = A + size_t(j) * n;
        double s = ri[j];
        for (int p = k0; p < j; p++) s -= ri[p] * rj[p];
        ri[j] = s / rj[j];
      }
    }
    // trailing update A22 -= L21·L21ᵀ, with L21ᵀ packed as b×m so gemmTN applies
    panel.assign(size_t(b) * m, 0.0);
    for (int i = 0; i < m; i++)
      for (int p = 0; p < b; p++) panel[size_t(p) * m + i] = A[size_t(k0 + b + i) * n + k0 + p];
    gemmTN(m, m, b, -1.0, panel.data(), m, panel.data(), m, A + size_t(k0 + b) * n + k0 + b, n, true);
  }
  return true;
}

void invertLower(const double* L, double* X, int n, const Ctx* ctx) {
  std::fill(X, X + size_t(n) * n, 0.0);
  std::vector<double> at, t, xt;
  for (int i0 = 0; i0 < n; i0 += NB) {
    if (ctx) ctx->check();
    const int b = std::min(NB, n - i0);
    // diagonal block inverse
    for (int j = i0; j < i0 + b; j++) {
      X[size_t(j) * n + j] = 1.0 / L[size_t(j) * n + j];
      for (int i = j + 1; i < i0 + b; i++) {
        double s = 0;
        for (int p = j; p < i; p++) s += L[size_t(i) * n + p] * X[size_t(p) * n + j];
        X[size_t(i) * n + j] = -s / L[size_t(i) * n + i];
      }
    }
    if (i0 == 0) continue;
    // T = L[i-block, 0:i0] · X[0:i0, 0:i0];  X[i-block, 0:i0] = -Xii · T
    at.assign(size_t(i0) * b, 0.0);
    for (int r = 0; r < b; r++)
      for (int p = 0; p < i0; p++) at[size_t(p) * b + r] = L[size_t(i0 + r) * n + p];
    t.assign(size_t(b) * i0, 0.0);
    gemmTN(b, i0, i0, 1.0, at.data(), b, X, n, t.data(), i0);
    xt.assign(size_t(b) * b, 0.0);
    for (int r = 0; r < b; r++)
      for (int p = 0; p <= r; p++) xt[size_t(p) * b + r] = X[size_t(i0 + r) * n + i0 + p];
    gemmTN(b, i0, b, -1.0, xt.data(), b, t.data(), i0, X + size_t(i0) * n, n);
  }
}

HessianFactor factorHessian(const float* H, int n, const int* perm, double percdamp, const Ctx& ctx) {
  HessianFactor f;
  f.dead.assign(n, 0);
  for (int j = 0; j < n; j++) f.dead[j] = H[size_t(j) * n + j] == 0.0f;
  // Hp = P_rev · H[perm][perm] · P_rev, in double, lower triangle is enough
  std::vector<double> A(size_t(n) * n);
  auto src = [&](int i) { int k = perm ? perm[i] : i; return k; };
  double meanDiag = 0;
  for (int i = 0; i < n; i++) {
    const int pi = src(n - 1 - i);
    for (int j = 0; j <= i; j++) {
      const int pj = src(n - 1 - j);
      double v = H[size_t(pi) * n + pj];
      if (pi == pj && f.dead[pi]) v = 1.0;
      A[size_t(i) * n + j] = v;
    }
    meanDiag += A[size_t(i) * n + i];
  }
  meanDiag /= n;
  const double damp = percdamp * meanDiag;
  for (int i = 0; i < n; i++) A[size_t(i) * n + i] += damp;
  if (!choleskyLower(A.data(), n, &ctx))
    throw std::runtime_error("The Hessian is not positive definite even after dampening (percdamp=" +
                             std::to_string(percdamp) + "); raise percdamp or add calibration data");
  std::vector<double> X(size_t(n) * n);
  invertLower(A.data(), X.data(), n, &ctx);
  f.U.assign(size_t(n) * n, 0.0f);
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++)
    for (int j = i; j < n; j++) f.U[size_t(i) * n + j] = float(X[size_t(n - 1 - i) * n + (n - 1 - j)]);
  return f;
}

}  // namespace qr
