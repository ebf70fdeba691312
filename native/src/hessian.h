// Running-mean Hessian H = (2/n)·Σ x·xᵀ of a layer's inputs (GPTQ's add_batch).
#pragma once
#include "common.h"

namespace qr {

/**
 * Fold a chunk X (tokens×cols, row-major) holding `samples` calibration samples into H (cols×cols):
 * H ← H·n/(n+samples) + (2/(n+samples))·XᵀX. n is the number of samples already folded in.
 */
void hessianUpdate(float* H, int cols, const float* X, int tokens, double n, double samples, const Ctx& ctx);

}  // namespace qr
