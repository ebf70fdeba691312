// Selection of the lowest-scoring weights for Wanda and magnitude pruning.
#include "prune_mask.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace qr {

namespace {
// Strict order by (score, index): the k first are pruned, so the count is exact even with ties.
inline bool lower(const float* s, int64_t a, int64_t b) { return s[a] < s[b] || (s[a] == s[b] && a < b); }
}  // namespace

void pruneByScore(const float* W, const float* score, int rows, int cols, const PrunePattern& p, float* Q,
                  uint8_t* mask, const Ctx& ctx) {
  const size_t total = size_t(rows) * cols;
  std::fill(mask, mask + total, uint8_t(0));
  if (p.n > 0) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
      for (int j = 0; j < cols; j += p.m) {
        int64_t idx[64];
        const int mm = std::min(p.m, cols - j);
        for (int t = 0; t < mm; t++) idx[t] = int64_t(r) * cols + j + t;
        std::sort(idx, idx + mm, [&](int64_t a, int64_t b) { return lower(score, a, b); });
        for (int t = 0; t < std::min(p.n, mm); t++) mask[idx[t]] = 1;
      }
  } else if (p.perRow) {
    const int k = int(double(cols) * p.sparsity);
#pragma omp parallel
    {
      std::vector<int64_t> idx(cols);
#pragma omp for schedule(dynamic, 8)
      for (int r = 0; r < rows; r++) {
        if (k == 0) continue;
        for (int j = 0; j < cols; j++) idx[j] = int64_t(r) * cols + j;
        std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(),
                         [&](int64_t a, int64_t b) { return lower(score, a, b); });
        for (int t = 0; t < k; t++) mask[idx[t]] = 1;
      }
    }
  } else {
    const size_t k = size_t(double(total) * p.sparsity);
    if (k > 0) {
      std::vector<int64_t> idx(total);
      std::iota(idx.begin(), idx.end(), int64_t(0));
      ctx.check();
      std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(),
                       [&](int64_t a, int64_t b) { return lower(score, a, b); });
      for (size_t t = 0; t < k; t++) mask[idx[t]] = 1;
    }
  }
  ctx.check();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < int64_t(total); i++) Q[i] = mask[i] ? 0.f : W[i];
}

}  // namespace qr
