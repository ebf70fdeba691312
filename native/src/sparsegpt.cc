// SparseGPT on the CPU, organised like gptq.cc: the block's mask, then rows in parallel, then the
// lazy update. Unstructured masks use the block-wide quantile of w²/d² of the current weights, as
// the reference (`tmp <= sorted[int(numel·sparsity)]`).
#include "sparsegpt.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "gemm.h"
#include "linalg.h"
#include "obs.h"

namespace qr {

void sparsegpt(const float* W, const float* H, int rows, int cols, const SparseGptOptions& o, SparseGptOutputs& out,
               const Ctx& ctx) {
  const QuantSpec& s = o.quant;
  const bool groups = o.quantize && s.groupSize > 0;
  const int g = groups ? s.groupSize : cols;
  const int ng = groups ? groupCount(cols, s) : 1;
  const int maxq = s.maxq();

  HessianFactor f = factorHessian(H, cols, nullptr, o.percdamp, ctx);
  const float* U = f.U.data();
  std::vector<float> Wc(size_t(rows) * cols);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < cols; j++) Wc[size_t(r) * cols + j] = f.dead[j] ? 0.f : W[size_t(r) * cols + j];

  std::vector<QParams> params(size_t(rows) * ng);
  if (o.quantize && !groups) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) params[r] = fitParams(Wc.data() + size_t(r) * cols, cols, s);
  }

  const int B = o.blockSize;
  std::vector<float> errT(size_t(B) * rows);
  std::vector<uint8_t> blockMask(size_t(rows) * B);
  std::vector<float> score;
  std::vector<double> rowLoss(rows, 0.0);
  const int nBlocks = (cols + B - 1) / B;
  for (int b = 0; b < nBlocks; b++) {
    ctx.check();
    const int i1 = b * B, i2 = std::min(cols, i1 + B), w1 = i2 - i1;
    if (o.n == 0) {
      score.resize(size_t(rows) * w1);
#pragma omp parallel for schedule(static)
      for (int r = 0; r < rows; r++)
        for (int j = 0; j < w1; j++) {
          const float d = U[size_t(i1 + j) * cols + i1 + j], w = Wc[size_t(r) * cols + i1 + j];
          score[size_t(r) * w1 + j] = w * w / (d * d);
        }
      std::vector<float> sorted(score);
      const size_t k = std::min(sorted.size() - 1, size_t(double(sorted.size()) * o.sparsity));
      std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
      const float thresh = o.sparsity > 0 ? sorted[k] : -1.f;
      for (size_t i = 0; i < score.size(); i++) blockMask[(i / w1) * B + i % w1] = score[i] <= thresh;
    }
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
      float* w = Wc.data() + size_t(r) * cols;
      uint8_t* mk = blockMask.data() + size_t(r) * B;
      QParams* pr = params.data() + size_t(r) * ng;
      double loss = 0;
      for (int j = i1; j < i2; j++) {
        if (o.n > 0 && (j - i1) % o.m == 0) {
          // prune the n lowest w²/d² of this row's next m columns (ties: lower index first)
          int idx[64];
          float sc[64];
          const int mm = std::min(o.m, i2 - j);
          for (int t = 0; t < mm; t++) {
            const float d = U[size_t(j + t) * cols + j + t];
            sc[t] = w[j + t] * w[j + t] / (d * d);
            idx[t] = t;
            mk[j - i1 + t] = 0;
          }
          std::stable_sort(idx, idx + mm, [&](int a, int c) { return sc[a] < sc[c]; });
          for (int t = 0; t < std::min(o.n, mm); t++) mk[j - i1 + idx[t]] = 1;
        }
        if (groups && j % g == 0) pr[j / g] = fitParams(w + j, std::min(g, cols - j), s);
        float q = mk[j - i1] ? 0.f : w[j];
        if (o.quantize) {
          const QParams p = groups ? pr[j / g] : pr[0];
          const int code = quantCode(q, p, maxq);
          q = dequant(code, p);
          out.codes[size_t(r) * cols + j] = uint8_t(code);
        }
        out.mask[size_t(r) * cols + j] = mk[j - i1];
        errT[size_t(j - i1) * rows + r] = obsColumnStep(w, j, i2, q, U, cols, loss);
      }
      rowLoss[r] += loss;
    }
    if (i2 < cols)
      gemmTN(rows, cols - i2, w1, -1.0f, errT.data(), rows, U + size_t(i1) * cols + i2, cols, Wc.data() + i2, cols);
    ctx.report(i2, cols);
  }
  out.loss = std::accumulate(rowLoss.begin(), rowLoss.end(), 0.0);
  std::copy(Wc.begin(), Wc.end(), out.Q);
  if (o.quantize) splitParams(params.data(), params.size(), out.scales, out.zeros);
}

}  // namespace qr
