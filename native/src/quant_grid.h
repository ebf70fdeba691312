// GPTQ's min-max uniform quantiser (per row or per group of columns) and round-to-nearest. The
// symmetric grid uses the whole signed range, as onnxruntime's blockwise quantiser does: the value
// of largest magnitude maps to −2^(b−1) exactly (its scale carries its sign), so 2^b levels are used.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common.h"

namespace qr {

/** How weights are mapped to integer codes. */
struct QuantSpec {
  int bits = 4;            // 2..8
  int groupSize = 0;       // 0: one scale/zero per row; else columns per group (the last may be shorter)
  bool symmetric = false;  // zero fixed at 2^(bits-1), full signed range
  bool mse = false;        // search a shrunk range minimising |err|^norm
  float norm = 2.4f;
  int grid = 100;
  float maxShrink = 0.8f;
  int maxq() const { return (1 << bits) - 1; }
};

/** Scale and zero of one quantisation group. */
struct QParams {
  float scale;
  float zero;
};

/** Fit the quantiser on n values x (stride 1). */
QParams fitParams(const float* x, int n, const QuantSpec& s);

/** Groups per row: ⌈cols / groupSize⌉ (a shorter last group, as GPTQ's reference), or 1. */
inline int groupCount(int cols, const QuantSpec& s) { return s.groupSize > 0 ? (cols + s.groupSize - 1) / s.groupSize : 1; }

/**
 * Fit on the entries of x whose hold[i] is 0 (held entries, pruned or outliers, are not quantised
 * and do not shape the grid); buf holds n floats. hold may be null (every entry counts).
 */
QParams fitParamsHeld(const float* x, const uint8_t* hold, int n, const QuantSpec& s, float* buf);

inline int quantCode(float x, QParams p, int maxq) {
  float q = roundEven(x / p.scale) + p.zero;
  q = q < 0.f ? 0.f : (q > float(maxq) ? float(maxq) : q);
  return int(q);
}
inline float dequant(int code, QParams p) { return p.scale * (float(code) - p.zero); }

/** Writes n fitted groups' scales and zeros into two arrays (the outputs' [rows][groups] layout). */
inline void splitParams(const QParams* p, size_t n, float* scales, float* zeros) {
  for (size_t i = 0; i < n; i++) {
    scales[i] = p[i].scale;
    zeros[i] = p[i].zero;
  }
}

/** Fit every row / group of W (rows×cols): scales and zeros are [rows][groupCount]. */
void fitGrid(const float* W, int rows, int cols, const QuantSpec& s, float* scales, float* zeros, const Ctx& ctx);

/** Round-to-nearest with fitted params: codes (rows×cols), dequantised weights Q (may be null). */
void rtn(const float* W, int rows, int cols, const QuantSpec& s, const float* scales, const float* zeros,
         uint8_t* codes, float* Q, const Ctx& ctx);

}  // namespace qr
