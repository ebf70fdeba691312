// Outlier extraction: select, zero in the dense copy, fit group ranges on what remains, quantise.
#include "outliers.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "fp16.h"

namespace qr {

void outliers(const float* W, int rows, int cols, int64_t nnz, const QuantSpec& s, OutlierOutputs& out,
              const Ctx& ctx) {
  const size_t total = size_t(rows) * cols;
  std::vector<uint8_t> isOut(total, 0);
  if (nnz > 0) {
    std::vector<int64_t> idx(total);
    std::iota(idx.begin(), idx.end(), int64_t(0));
    auto higher = [&](int64_t a, int64_t b) {
      const float fa = std::fabs(W[a]), fb = std::fabs(W[b]);
      return fa > fb || (fa == fb && a < b);
    };
    std::nth_element(idx.begin(), idx.begin() + (nnz - 1), idx.end(), higher);
    for (int64_t t = 0; t < nnz; t++) isOut[idx[t]] = 1;
  }
  ctx.check();
  std::vector<float> dense(W, W + total);
  for (size_t i = 0; i < total; i++)
    if (isOut[i]) dense[i] = 0.f;
  // the outliers' zeros must not pull the group range: fit on the remaining entries only
  const int g = s.groupSize > 0 ? s.groupSize : cols;
  const int ng = groupCount(cols, s);
#pragma omp parallel
  {
    std::vector<float> buf(g);
#pragma omp for schedule(static)
    for (int r = 0; r < rows; r++)
      for (int k = 0; k < ng; k++) {
        int n = 0;
        for (int j = k * g; j < std::min(cols, (k + 1) * g); j++)
          if (!isOut[size_t(r) * cols + j]) buf[n++] = dense[size_t(r) * cols + j];
        const QParams p = fitParams(buf.data(), n, s);
        out.scales[size_t(r) * ng + k] = p.scale;
        out.zeros[size_t(r) * ng + k] = p.zero;
      }
  }
  ctx.check();
  rtn(dense.data(), rows, cols, s, out.scales, out.zeros, out.codes, out.dense, ctx);
  int64_t k = 0;
  out.rowPtr[0] = 0;
  for (int r = 0; r < rows; r++) {
    for (int j = 0; j < cols; j++)
      if (isOut[size_t(r) * cols + j]) {
        out.colIdx[k] = j;
        out.values[k] = floatToHalf(W[size_t(r) * cols + j]);
        out.dense[size_t(r) * cols + j] = 0.f;
        k++;
      }
    out.rowPtr[r + 1] = int32_t(k);
  }
}

}  // namespace qr
