// LLM-MQ's sparse outlier protection: the largest |w| of a layer kept in fp16 (CSR), the rest quantised.
#pragma once
#include <cstdint>

#include "quant_grid.h"

namespace qr {

struct OutlierOutputs {
  int32_t* rowPtr;   // rows+1
  int32_t* colIdx;   // nnz, sorted within a row
  uint16_t* values;  // nnz, fp16 bits
  uint8_t* codes;    // rows×cols dense codes (outlier positions hold the code of 0)
  float* scales;     // [rows][groups], fitted without the outliers
  float* zeros;
  float* dense;      // rows×cols dequantised dense part (0 at outliers)
};

/** Keep exactly nnz entries (largest |w|, ties by lower index) as outliers. */
void outliers(const float* W, int rows, int cols, int64_t nnz, const QuantSpec& s, OutlierOutputs& out,
              const Ctx& ctx);

}  // namespace qr
