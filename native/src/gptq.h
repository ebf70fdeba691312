// GPTQ (Frantar et al. 2023): quantise W column by column, spreading each column's rounding error
// over the columns not yet quantised through the upper Cholesky factor of H⁻¹.
#pragma once
#include <cstdint>
#include <vector>

#include "quant_grid.h"

namespace qr {

struct GptqOptions {
  QuantSpec quant;
  int blockSize = 128;
  double percdamp = 0.01;
  bool actOrder = false;
  bool staticGroups = false;
};

/** Outputs, all caller-allocated. scales/zeros are [rows][groups]; gIdx[c] is column c's group. */
struct GptqOutputs {
  float* Q;        // rows×cols dequantised weights
  uint8_t* codes;  // rows×cols
  float* scales;
  float* zeros;
  int32_t* gIdx;   // cols
  int32_t* perm;   // cols: quantisation order (identity without act-order)
  double loss = 0; // Σ (w−q)²/d²/2, as the reference
};

void gptq(const float* W, const float* H, int rows, int cols, const GptqOptions& o, GptqOutputs& out, const Ctx& ctx);

/**
 * The host-side steps shared by the CPU and CUDA solvers, so both start from the same bits: order,
 * U, W in quantisation order (dead columns zeroed) and the parameters fitted before the loop.
 */
struct GptqPrep {
  std::vector<int> perm;
  std::vector<float> U;       // cols×cols upper factor of H⁻¹ in quantisation order (empty: not factored)
  std::vector<uint8_t> dead;  // by original column: diag(H) = 0
  std::vector<float> Wp;      // rows×cols, permuted
  std::vector<QParams> params;  // rows×groups
  int groups = 1;
};
GptqPrep prepareGptq(const float* W, const float* H, int rows, int cols, const GptqOptions& o, const Ctx& ctx,
                     bool factor = true);
/** Writes Q (un-permuted from Wp), scales, zeros, gIdx, perm into out. */
void finishGptq(const GptqPrep& p, int rows, int cols, const GptqOptions& o, GptqOutputs& out);

}  // namespace qr
