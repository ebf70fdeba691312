// SparseGPT (Frantar & Alistarh 2023): prune with the OBS error update, optionally quantising the
// kept weights in the same pass (joint sparse + quantised).
#pragma once
#include <cstdint>

#include "quant_grid.h"

namespace qr {

struct SparseGptOptions {
  double sparsity = 0.5;  // unstructured target (used when n == 0)
  int n = 0, m = 0;       // N:M: prune n of every m consecutive columns per row
  bool quantize = false;  // joint: quantise kept weights with `quant`
  QuantSpec quant;
  int blockSize = 128;
  double percdamp = 0.01;
};

struct SparseGptOutputs {
  float* Q;         // rows×cols result
  uint8_t* mask;    // rows×cols, 1 = pruned
  uint8_t* codes;   // rows×cols when quantize, else null
  float* scales;    // [rows][groups] when quantize
  float* zeros;
  double loss = 0;
};

void sparsegpt(const float* W, const float* H, int rows, int cols, const SparseGptOptions& o, SparseGptOutputs& out,
               const Ctx& ctx);

}  // namespace qr
