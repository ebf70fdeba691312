// GPTQ on the CPU. Inside a 128-column block every row is independent (its own quantiser state and
// error propagation), so a thread owns whole rows; the block's error then reaches the remaining
// columns in one gemmTN (the reference's lazy batch update).
#include "gptq.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "fp16.h"
#include "gemm.h"
#include "linalg.h"
#include "obs.h"

namespace qr {

float heldValue(uint8_t hold, float x) { return hold == HOLD_OUTLIER ? halfToFloat(floatToHalf(x)) : 0.f; }

GptqPrep prepareGptq(const float* W, const float* H, int rows, int cols, const GptqOptions& o, const Ctx& ctx,
                     bool factor) {
  const QuantSpec& s = o.quant;
  const bool groups = s.groupSize > 0;
  const int g = groups ? s.groupSize : cols;
  GptqPrep p;
  p.groups = groupCount(cols, s);
  const int ng = p.groups;
  p.perm.resize(cols);
  std::iota(p.perm.begin(), p.perm.end(), 0);
  std::vector<uint8_t> deadIn(cols);
  for (int j = 0; j < cols; j++) deadIn[j] = H[size_t(j) * cols + j] == 0.0f;
  if (o.actOrder)  // columns with the largest Hessian diagonal first (dead ones count as 1, like the reference)
    std::stable_sort(p.perm.begin(), p.perm.end(), [&](int a, int b) {
      const float da = deadIn[a] ? 1.f : H[size_t(a) * cols + a], db = deadIn[b] ? 1.f : H[size_t(b) * cols + b];
      return da > db;
    });
  const std::vector<int>& perm = p.perm;
  HessianFactor f;
  if (factor) {
    f = factorHessian(H, cols, perm.data(), o.percdamp, ctx);
    p.U = std::move(f.U);
  } else f.dead = deadIn;  // the caller factors H itself (the CUDA path, on the device)
  p.dead = f.dead;

  p.Wp.resize(size_t(rows) * cols);
  std::vector<float>& Wp = p.Wp;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < cols; j++) Wp[size_t(r) * cols + j] = f.dead[perm[j]] ? 0.f : W[size_t(r) * cols + perm[j]];
  if (o.hold) {
    p.holdP.resize(size_t(rows) * cols);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
      for (int j = 0; j < cols; j++) p.holdP[size_t(r) * cols + j] = o.hold[size_t(r) * cols + perm[j]];
  }

  // parameters fitted before the loop (on the entries not held): per row, or per original-order
  // group (static groups)
  p.params.resize(size_t(rows) * ng);
  std::vector<QParams>& params = p.params;
  if (!groups || o.staticGroups) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
      std::vector<float> buf(cols);
      if (!groups) {
        const uint8_t* h = o.hold ? p.holdP.data() + size_t(r) * cols : nullptr;
        params[size_t(r) * ng] = fitParamsHeld(Wp.data() + size_t(r) * cols, h, cols, s, buf.data());
        continue;
      }
      std::vector<float> row(cols);
      for (int j = 0; j < cols; j++) row[perm[j]] = Wp[size_t(r) * cols + j];
      const uint8_t* h = o.hold ? o.hold + size_t(r) * cols : nullptr;
      for (int k = 0; k < ng; k++)
        params[size_t(r) * ng + k] = fitParamsHeld(row.data() + size_t(k) * g, h ? h + size_t(k) * g : nullptr,
                                                   std::min(g, cols - k * g), s, buf.data());
    }
  }
  return p;
}

void finishGptq(const GptqPrep& p, int rows, int cols, const GptqOptions& o, GptqOutputs& out) {
  const bool groups = o.quant.groupSize > 0;
  const int g = groups ? o.quant.groupSize : cols;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < cols; j++) out.Q[size_t(r) * cols + p.perm[j]] = p.Wp[size_t(r) * cols + j];
  splitParams(p.params.data(), size_t(rows) * p.groups, out.scales, out.zeros);
  std::vector<int> inv(cols);
  for (int j = 0; j < cols; j++) inv[p.perm[j]] = j;
  for (int c = 0; c < cols; c++) {
    out.perm[c] = p.perm[c];
    out.gIdx[c] = !groups ? 0 : (o.actOrder && !o.staticGroups ? inv[c] / g : c / g);
  }
}

void gptq(const float* W, const float* H, int rows, int cols, const GptqOptions& o, GptqOutputs& out, const Ctx& ctx) {
  const QuantSpec& s = o.quant;
  const bool groups = s.groupSize > 0;
  const int g = groups ? s.groupSize : cols;
  const int maxq = s.maxq();
  GptqPrep prep = prepareGptq(W, H, rows, cols, o, ctx);
  const int ng = prep.groups;
  const std::vector<int>& perm = prep.perm;
  const float* U = prep.U.data();
  std::vector<float>& Wp = prep.Wp;
  std::vector<QParams>& params = prep.params;

  const int B = o.blockSize;
  std::vector<float> errT(size_t(B) * rows);
  std::vector<double> rowLoss(rows, 0.0);
  const int nBlocks = (cols + B - 1) / B;
  for (int b = 0; b < nBlocks; b++) {
    ctx.check();
    const int i1 = b * B, i2 = std::min(cols, i1 + B);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
      float* w = Wp.data() + size_t(r) * cols;
      const uint8_t* hold = prep.holdP.empty() ? nullptr : prep.holdP.data() + size_t(r) * cols;
      QParams* pr = params.data() + size_t(r) * ng;
      std::vector<float> buf(hold ? g : 0);
      double loss = 0;
      for (int j = i1; j < i2; j++) {
        if (groups && !o.staticGroups && j % g == 0)
          pr[j / g] = fitParamsHeld(w + j, hold ? hold + j : nullptr, std::min(g, cols - j), s, buf.data());
        const QParams p = !groups ? pr[0] : (o.staticGroups ? pr[perm[j] / g] : pr[j / g]);
        const uint8_t h = hold ? hold[j] : uint8_t(HOLD_NONE);
        const int code = quantCode(h ? 0.f : w[j], p, maxq);
        const float q = h ? heldValue(h, w[j]) : dequant(code, p);
        out.codes[size_t(r) * cols + perm[j]] = uint8_t(code);
        errT[size_t(j - i1) * rows + r] = obsColumnStep(w, j, i2, q, U, cols, loss);
      }
      rowLoss[r] += loss;
    }
    if (i2 < cols)
      gemmTN(rows, cols - i2, i2 - i1, -1.0f, errT.data(), rows, U + size_t(i1) * cols + i2, cols,
             Wp.data() + i2, cols);
    ctx.report(i2, cols);
  }
  out.loss = std::accumulate(rowLoss.begin(), rowLoss.end(), 0.0);
  finishGptq(prep, rows, cols, o, out);
}

}  // namespace qr
