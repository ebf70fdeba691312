// The OBS column step that GPTQ and SparseGPT share on the CPU (gptq.cc, sparsegpt.cc): column j of
// one row becomes q, and its error, scaled by U's diagonal, is taken off the row's later columns of
// the block along U's row j. The CUDA twin is columnBlockKernel (cuda/obs.cu).
#pragma once
#include <cstddef>

namespace qr {

/**
 * w: one row of the working weights; U: cols×cols upper factor of H⁻¹ (row-major); the block ends
 * at column i2. Writes w[j] = q, updates w[j+1..i2), adds (w[j] − q)²/d²/2 to loss and returns the
 * scaled error e = (w[j] − q)/d that the lazy update spreads beyond the block.
 */
inline float obsColumnStep(float* w, int j, int i2, float q, const float* U, int cols, double& loss) {
  const float x = w[j];
  const float* u = U + size_t(j) * cols;
  const float d = u[j];
  const float e = (x - q) / d;
  loss += double(x - q) * double(x - q) / (double(d) * double(d)) / 2.0;
  for (int k = j + 1; k < i2; k++) w[k] -= e * u[k];
  w[j] = q;
  return e;
}

}  // namespace qr
