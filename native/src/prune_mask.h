// Score-based masks shared by Wanda and magnitude pruning (no weight update).
#pragma once
#include <cstdint>

#include "common.h"

namespace qr {

/** Pattern of a score-based pruning: unstructured fraction, or N:M when n > 0. */
struct PrunePattern {
  double sparsity = 0.5;
  int n = 0, m = 0;
  bool perRow = true;  // unstructured: compare within each row (Wanda) or across the layer (magnitude)
};

/**
 * Prune the lowest scores: mask = 1 where pruned, Q = W with pruned entries zeroed. Exactly
 * ⌊count·sparsity⌋ entries per row (perRow) or per layer, ties broken by lower index first.
 */
void pruneByScore(const float* W, const float* score, int rows, int cols, const PrunePattern& p, float* Q,
                  uint8_t* mask, const Ctx& ctx);

}  // namespace qr

namespace qr {
/** Wanda: colNorms[j] = ‖X_j‖₂ over the calibration tokens. */
void wanda(const float* W, const float* colNorms, int rows, int cols, PrunePattern p, float* Q, uint8_t* mask,
           const Ctx& ctx);
/** Magnitude pruning. */
void magnitude(const float* W, int rows, int cols, PrunePattern p, float* Q, uint8_t* mask, const Ctx& ctx);
}  // namespace qr
