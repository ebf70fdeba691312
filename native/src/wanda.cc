// Wanda (Sun et al. 2024): score |W_ij|·‖X_j‖₂, pruned within each output row; no weight update.
#include <cmath>
#include <vector>

#include "prune_mask.h"

namespace qr {

void wanda(const float* W, const float* colNorms, int rows, int cols, PrunePattern p, float* Q, uint8_t* mask,
           const Ctx& ctx) {
  std::vector<float> score(size_t(rows) * cols);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < cols; j++) score[size_t(r) * cols + j] = std::fabs(W[size_t(r) * cols + j]) * colNorms[j];
  p.perRow = true;
  pruneByScore(W, score.data(), rows, cols, p, Q, mask, ctx);
}

}  // namespace qr
