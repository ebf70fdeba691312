// GPTQ (Frantar et al. 2023): quantise W column by column, spreading each column's rounding error
// over the columns not yet quantised through the upper Cholesky factor of H⁻¹.
#pragma once
#include <cstdint>
#include <vector>

#include "quant_grid.h"

namespace qr {

/** hold[i] of an entry (rows×cols, original order): what GPTQ does with it. */
enum Hold : uint8_t {
  HOLD_NONE = 0,     // quantised
  HOLD_ZERO = 1,     // pruned: stays exactly 0 (its code is the zero point), its error is spread
  HOLD_OUTLIER = 2,  // an outlier kept in fp16: becomes fp16(current value), its code the zero point
};

struct GptqOptions {
  QuantSpec quant;
  int blockSize = 128;
  double percdamp = 0.01;
  bool actOrder = false;
  bool staticGroups = false;
  /** Entries not quantised (Hold values, rows×cols), or null; held entries do not shape the grids. */
  const uint8_t* hold = nullptr;
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
  std::vector<uint8_t> holdP;   // rows×cols hold in quantisation order (empty: none)
  int groups = 1;
};

/** The value a held entry takes: 0 when pruned, fp16(x) for an outlier (its code is the code of 0). */
float heldValue(uint8_t hold, float x);
GptqPrep prepareGptq(const float* W, const float* H, int rows, int cols, const GptqOptions& o, const Ctx& ctx,
                     bool factor = true);
/** Writes Q (un-permuted from Wp), scales, zeros, gIdx, perm into out. */
void finishGptq(const GptqPrep& p, int rows, int cols, const GptqOptions& o, GptqOutputs& out);

}  // namespace qr
