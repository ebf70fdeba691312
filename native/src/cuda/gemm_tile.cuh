// The register-tiled SGEMM's inner step shared by gemm.cu (TN, the Hessian) and graph_gemm.cu (NN /
// NT, the graph executor): 128×128 output tiles, 256 threads as 16×16, each owning 8×8 outputs.
#pragma once

namespace qr {
namespace cuda {

constexpr int kTileM = 128, kTileN = 128, kTileK = 8, kThreadM = 8, kThreadN = 8;

/** acc += the BK-deep slice in shared memory (As[k][m], Bs[k][n]) for thread (tr, tc) of the tile. */
template <int LDA, int LDB>
__device__ __forceinline__ void tileStep(const float (&As)[kTileK][LDA], const float (&Bs)[kTileK][LDB], int tr, int tc,
                                         float (&acc)[kThreadM][kThreadN]) {
#pragma unroll
  for (int kk = 0; kk < kTileK; kk++) {
    float a[kThreadM], b[kThreadN];
#pragma unroll
    for (int i = 0; i < kThreadM; i++) a[i] = As[kk][tr * kThreadM + i];
#pragma unroll
    for (int j = 0; j < kThreadN; j++) b[j] = Bs[kk][tc * kThreadN + j];
#pragma unroll
    for (int i = 0; i < kThreadM; i++)
#pragma unroll
      for (int j = 0; j < kThreadN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
  }
}

}  // namespace cuda
}  // namespace qr
