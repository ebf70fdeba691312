// Per-layer quantisation error of each candidate bit width (LLM-MQ's sensitivity inputs).
#pragma once
#include "quant_grid.h"

namespace qr {

/** Errors of ΔW = W − RTN_b(W) for one bit width. Metrics not asked for are NaN. */
struct QuantErrors {
  double squared;  // ‖ΔW‖²_F
  double hessian;  // ½·tr(ΔW·H·ΔWᵀ)
  double gradient; // |⟨G, ΔW⟩_F|
};

/** H (cols×cols) and G (rows×cols) may be null. */
QuantErrors quantError(const float* W, int rows, int cols, const QuantSpec& s, const float* H, const float* G,
                       const Ctx& ctx);

}  // namespace qr
