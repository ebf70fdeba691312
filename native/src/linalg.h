// Dense symmetric factorisations in float64 for the GPTQ / SparseGPT solvers (row-major n×n).
#pragma once
#include <cstdint>
#include <vector>

#include "common.h"

namespace qr {

/** In-place lower Cholesky A = L·Lᵀ (lower triangle read and written). False if not positive definite. */
bool choleskyLower(double* A, int n, const Ctx* ctx = nullptr);

/** X = L⁻¹ for lower-triangular L (X's upper triangle is zeroed). */
void invertLower(const double* L, double* X, int n, const Ctx* ctx = nullptr);

/**
 * What GPTQ and SparseGPT need from the Hessian. Given H (cols×cols, float32), it applies the
 * reference's steps: dead inputs (diag = 0 → H_jj = 1, deadCols marked so W[:,j] is zeroed), the
 * optional permutation perm (H ← H[perm][perm]), dampening H += percdamp·mean(diag H)·I, and returns
 * U = upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), as float32 row-major.
 * Computed as U = P·chol(P·H·P)⁻¹·P with P the reversal permutation, which equals
 * cholesky(cholesky_inverse(cholesky(H)), upper=True) of the reference with one factorisation less.
 */
struct HessianFactor {
  std::vector<float> U;
  std::vector<uint8_t> dead;  // by original column
};
HessianFactor factorHessian(const float* H, int n, const int* perm, double percdamp, const Ctx& ctx);

}  // namespace qr
