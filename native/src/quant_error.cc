// ΔW from round-to-nearest, then ‖ΔW‖², ½·Σ(ΔW·H)∘ΔW through gemmTN, and |⟨G,ΔW⟩|.
#include "quant_error.h"

#include <cmath>
#include <vector>

#include "gemm.h"

namespace qr {

QuantErrors quantError(const float* W, int rows, int cols, const QuantSpec& s, const float* H, const float* G,
                       const Ctx& ctx) {
  const int ng = groupCount(cols, s);
  const size_t total = size_t(rows) * cols;
  std::vector<float> scales(size_t(rows) * ng), zeros(size_t(rows) * ng), Q(total);
  std::vector<uint8_t> codes(total);
  fitGrid(W, rows, cols, s, scales.data(), zeros.data(), ctx);
  rtn(W, rows, cols, s, scales.data(), zeros.data(), codes.data(), Q.data(), ctx);
  QuantErrors e{0.0, NAN, NAN};
  double sq = 0, gr = 0;
#pragma omp parallel for reduction(+ : sq, gr) schedule(static)
  for (int64_t i = 0; i < int64_t(total); i++) {
    const double d = double(W[i]) - double(Q[i]);
    sq += d * d;
    if (G) gr += double(G[i]) * d;
  }
  e.squared = sq;
  if (G) e.gradient = std::fabs(gr);
  if (H) {
    ctx.check();
    // Y = ΔW·H (H symmetric) in row slabs to bound memory; ΔWᵀ of the slab is the packed A operand
    const int slab = 256;
    std::vector<float> dT(size_t(cols) * slab), Y(size_t(slab) * cols);
    double h = 0;
    for (int r0 = 0; r0 < rows; r0 += slab) {
      const int m = std::min(slab, rows - r0);
      for (int i = 0; i < m; i++)
        for (int c = 0; c < cols; c++)
          dT[size_t(c) * m + i] = W[size_t(r0 + i) * cols + c] - Q[size_t(r0 + i) * cols + c];
      std::fill(Y.begin(), Y.begin() + size_t(m) * cols, 0.f);
      gemmTN(m, cols, cols, 1.0f, dT.data(), m, H, cols, Y.data(), cols);
      double part = 0;
#pragma omp parallel for reduction(+ : part) schedule(static)
      for (int i = 0; i < m; i++)
        for (int c = 0; c < cols; c++) part += double(Y[size_t(i) * cols + c]) * double(dT[size_t(c) * m + i]);
      h += part;
      ctx.check();
    }
    e.hessian = 0.5 * h;
  }
  return e;
}

}  // namespace qr
