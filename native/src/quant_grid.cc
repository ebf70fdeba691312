// The quantiser of the GPTQ reference: range forced to include 0, asymmetric by default, optional
// MSE search over shrunk ranges. Symmetric grids use the full signed range (onnxruntime's rule):
// scale = m / −2^(b−1) where m is the range end of larger magnitude (the negative end on a tie), so
// m itself is code 0 and the other end is within the 2^(b−1) − 1 levels of the other side.
#include "quant_grid.h"

#include <algorithm>
#include <cmath>

namespace qr {

namespace {
QParams fromRange(float xmin, float xmax, const QuantSpec& s) {
  const int maxq = s.maxq();
  if (xmin == 0.f && xmax == 0.f) {
    xmin = -1.f;
    xmax = 1.f;
  }
  QParams p;
  if (s.symmetric) {
    const float half = float((maxq + 1) / 2);
    const float m = xmax > -xmin ? xmax : xmin;
    p.scale = m / -half;
    p.zero = half;
    return p;
  }
  p.scale = (xmax - xmin) / float(maxq);
  p.zero = roundEven(-xmin / p.scale);
  return p;
}
}  // namespace

QParams fitParams(const float* x, int n, const QuantSpec& s) {
  float xmin = 0.f, xmax = 0.f;
  for (int i = 0; i < n; i++) {
    xmin = std::min(xmin, x[i]);
    xmax = std::max(xmax, x[i]);
  }
  QParams best = fromRange(xmin, xmax, s);
  if (!s.mse) return best;
  const int maxq = s.maxq();
  float bestErr = INFINITY;
  const int steps = int(s.maxShrink * s.grid);
  for (int i = 0; i < steps; i++) {
    const float p = 1.f - float(i) / float(s.grid);
    QParams c;
    if (s.symmetric) {
      // the reference keeps the symmetric zero and only shrinks the range
      QParams full = fromRange(p * xmin, p * xmax, s);
      c = full;
    } else {
      const float lo = p * xmin, hi = p * xmax;
      c.scale = (hi - lo) / float(maxq);
      c.zero = roundEven(-lo / c.scale);
      if (lo == 0.f && hi == 0.f) c = fromRange(0.f, 0.f, s);
    }
    float err = 0.f;
    for (int k = 0; k < n; k++) {
      const float d = std::fabs(dequant(quantCode(x[k], c, maxq), c) - x[k]);
      err += std::pow(d, s.norm);
    }
    if (err < bestErr) {
      bestErr = err;
      best = c;
    }
  }
  return best;
}

QParams fitParamsHeld(const float* x, const uint8_t* hold, int n, const QuantSpec& s, float* buf) {
  if (!hold) return fitParams(x, n, s);
  int m = 0;
  for (int i = 0; i < n; i++)
    if (!hold[i]) buf[m++] = x[i];
  return fitParams(buf, m, s);
}

void fitGrid(const float* W, int rows, int cols, const QuantSpec& s, float* scales, float* zeros, const Ctx& ctx) {
  const int g = s.groupSize > 0 ? s.groupSize : cols;
  const int ng = groupCount(cols, s);
  ctx.check();
#pragma omp parallel for schedule(dynamic, 16)
  for (int r = 0; r < rows; r++)
    for (int k = 0; k < ng; k++) {
      QParams p = fitParams(W + size_t(r) * cols + size_t(k) * g, std::min(g, cols - k * g), s);
      scales[size_t(r) * ng + k] = p.scale;
      zeros[size_t(r) * ng + k] = p.zero;
    }
  ctx.check();
}

void rtn(const float* W, int rows, int cols, const QuantSpec& s, const float* scales, const float* zeros,
         uint8_t* codes, float* Q, const Ctx& ctx) {
  const int g = s.groupSize > 0 ? s.groupSize : cols;
  const int ng = groupCount(cols, s);
  const int maxq = s.maxq();
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) {
      const QParams p{scales[size_t(r) * ng + c / g], zeros[size_t(r) * ng + c / g]};
      const int q = quantCode(W[size_t(r) * cols + c], p, maxq);
      codes[size_t(r) * cols + c] = uint8_t(q);
      if (Q) Q[size_t(r) * cols + c] = dequant(q, p);
    }
  ctx.check();
}

}  // namespace qr
