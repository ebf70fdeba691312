// VQ's nearest codeword of one point (squared distance, the first of ties), the one scan used by the
// CPU loop (vq.cc) and the CUDA kernel (cuda/vq.cu).
#pragma once
#include <cmath>

#include "host_device.h"

namespace qr {

/** Index of the codeword of C (K × g, row-major) nearest to x (g values); its squared distance in *dist. */
QR_HOST_DEVICE inline int nearestCodeword(const double* x, const double* C, int K, int g, double* dist) {
  int best = 0;
  double bd = INFINITY;
  for (int c = 0; c < K; c++) {
    const double* y = C + static_cast<long long>(c) * g;
    double d = 0;
    for (int p = 0; p < g; p++) {
      const double t = x[p] - y[p];
      d += t * t;
    }
    if (d < bd) {
      bd = d;
      best = c;
    }
  }
  *dist = bd;
  return best;
}

}  // namespace qr
