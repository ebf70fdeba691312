// The heavy loops of additive vector quantization (AQLM; engine/extreme/vq.ts drives the algorithm):
// nearest-centroid assignment (k-means), rows times a symmetric H, the greedy code pass and the
// normal matrix of one codebook's least squares. All in float64 with the same arithmetic, in the
// same order per output, as vq.ts's TypeScript fallback, so the CPU path gives the same numbers.
#pragma once
#include <cstdint>

#include "common.h"

namespace qr {

/** A VQ layer's shape: rows × cols weights, groups of g, M codebooks of K codewords (G = cols/g). */
struct VqShape {
  int rows = 0, cols = 0, g = 0, M = 0, K = 0;
  int groups() const { return cols / g; }
};

/** out[r] = H·x[r] for `rows` vectors of length n (row-major); H n×n (used as rows: Σ_j H[i][j]·x[j]). */
void rowsTimesH64(const double* H, const double* X, int rows, int n, double* out, const Ctx& ctx);

/**
 * For each of n points of dimension g, the nearest of K centroids by squared distance (the first
 * one on ties) and that distance (dist may be null).
 */
void vqNearest(const double* points, int64_t n, int g, const double* C, int K, int32_t* assign, double* dist,
               const Ctx& ctx);

/**
 * One greedy pass over groups and codebooks of every row (vq.ts updateCodes): each code moves to
 * the codeword with the least exact change of the row's loss e_rᵀ·H·e_r. E (rows × cols, the
 * residuals w − s·v) and P (= E·H) are updated in place with the codes; returns the codes changed.
 * H must be exactly symmetric.
 */
int64_t vqCodes(const VqShape& s, const double* H, const double* books, const double* scales, int32_t* codes,
                double* E, double* P, const Ctx& ctx);

/** Q[j][m][k] = c_kᵀ·H_jj·c_k, the quadratic term of each codeword in each group (G·M·K). */
void vqQuadratic(const VqShape& s, const double* H, const double* books, double* Q);

/**
 * N += Σ_r s_r²·A_rᵀ·H·A_r, the normal matrix (K·g square) of codebook m's least squares, A_r
 * mapping the codebook to row r's groups by its codes (vq.ts updateCodebook).
 */
void vqNormal(const VqShape& s, int m, const double* H, const int32_t* codes, const double* scales, double* N,
              const Ctx& ctx);

}  // namespace qr
