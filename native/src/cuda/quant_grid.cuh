// The quantiser of the CUDA paths (RTN in quant_grid.cu, GPTQ / SparseGPT in obs.cu): the device
// twin of quant_grid.{h,cc}, with the same rounding (__fdiv_rn/__fmul_rn/__fsub_rn, no FMA
// contraction) so both paths fit identical grids, and the one MSE search over shrunk grids.
#pragma once
#include <cmath>

#include "../quant_grid.h"

namespace qr {
namespace cuda {

struct DSpec {
  int bits, maxq, symmetric, mse, grid;
  float norm, maxShrink;
};

inline DSpec toDevice(const QuantSpec& s) {
  return DSpec{s.bits, s.maxq(), s.symmetric ? 1 : 0, s.mse ? 1 : 0, s.grid, s.norm, s.maxShrink};
}

__device__ __forceinline__ QParams dFromRange(float xmin, float xmax, const DSpec& s) {
  if (xmin == 0.f && xmax == 0.f) {
    xmin = -1.f;
    xmax = 1.f;
  }
  QParams p;
  if (s.symmetric) {
    // the full signed range: the end of larger magnitude (the negative one on a tie) is code 0
    const float half = float((s.maxq + 1) / 2);
    p.scale = __fdiv_rn(xmax > -xmin ? xmax : xmin, -half);
    p.zero = half;
    return p;
  }
  p.scale = __fdiv_rn(__fsub_rn(xmax, xmin), float(s.maxq));
  p.zero = nearbyintf(__fdiv_rn(-xmin, p.scale));
  return p;
}

__device__ __forceinline__ int dCode(float x, QParams p, int maxq) {
  float q = __fadd_rn(nearbyintf(__fdiv_rn(x, p.scale)), p.zero);
  q = q < 0.f ? 0.f : (q > float(maxq) ? float(maxq) : q);
  return int(q);
}
__device__ __forceinline__ float dDequant(int code, QParams p) { return __fmul_rn(p.scale, __fsub_rn(float(code), p.zero)); }

/** Candidate grid i of the MSE search (i < 0: the full range). */
__device__ __forceinline__ QParams dCandidate(float xmin, float xmax, int i, const DSpec& s) {
  if (i < 0) return dFromRange(xmin, xmax, s);
  const float p = __fsub_rn(1.f, __fdiv_rn(float(i), float(s.grid)));
  if (s.symmetric) return dFromRange(__fmul_rn(p, xmin), __fmul_rn(p, xmax), s);
  const float lo = __fmul_rn(p, xmin), hi = __fmul_rn(p, xmax);
  if (lo == 0.f && hi == 0.f) return dFromRange(0.f, 0.f, s);
  QParams c;
  c.scale = __fdiv_rn(__fsub_rn(hi, lo), float(s.maxq));
  c.zero = nearbyintf(__fdiv_rn(-lo, c.scale));
  return c;
}

/** |dequant(code(v)) − v|^norm under the grid c: one value's share of the MSE search's error. */
__device__ __forceinline__ float dErr(float v, QParams c, const DSpec& s) {
  return powf(fabsf(dDequant(dCode(v, c, s.maxq), c) - v), s.norm);
}

/**
 * The grid of values in [xmin, xmax]: the min-max grid, or with s.mse the shrunk candidate of least
 * error (the first one on ties); errOf(c) sums dErr over the values (and over the warp, for a
 * warp's search).
 */
template <class ErrOf>
__device__ __forceinline__ QParams dSearch(float xmin, float xmax, const DSpec& s, ErrOf errOf) {
  QParams best = dFromRange(xmin, xmax, s);
  if (!s.mse) return best;
  float bestErr = INFINITY;
  const int steps = int(s.maxShrink * s.grid);
  for (int i = 0; i < steps; i++) {
    const QParams c = dCandidate(xmin, xmax, i, s);
    const float err = errOf(c);
    if (err < bestErr) {
      bestErr = err;
      best = c;
    }
  }
  return best;
}

}  // namespace cuda
}  // namespace qr
