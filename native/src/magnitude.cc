// Magnitude pruning: |W| against one layer-wide threshold (unstructured) or per row within N:M groups.
#include <cmath>
#include <vector>

#include "prune_mask.h"

namespace qr {

void magnitude(const float* W, int rows, int cols, PrunePattern p, float* Q, uint8_t* mask, const Ctx& ctx) {
  std::vector<float> score(size_t(rows) * cols);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < int64_t(rows) * cols; i++) score[i] = std::fabs(W[i]);
  p.perRow = false;
  pruneByScore(W, score.data(), rows, cols, p, Q, mask, ctx);
}

}  // namespace qr
