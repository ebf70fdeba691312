// The one dense kernel of the CPU path: C[M×N] += alpha · Aᵀ·B with A stored K×M and B stored K×N
// (row-major, leading dimensions lda/ldb/ldc). "Aᵀ·B" is the shape every caller has: XᵀX for the
// Hessian, Errᵀ·U for GPTQ's lazy update, L21·L21ᵀ in the blocked Cholesky (after packing).
// lowerOnly skips output tiles that lie wholly above the diagonal (symmetric rank-k updates).
// Multithreaded (OpenMP); the kernel is compiled for x86-64-v2/v3/v4 and picked at run time.
#pragma once

namespace qr {
void gemmTN(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
            bool lowerOnly = false);
void gemmTN(int M, int N, int K, double alpha, const double* A, int lda, const double* B, int ldb, double* C,
            int ldc, bool lowerOnly = false);
/** Which kernel variant runs on this CPU: "x86-64-v4", "x86-64-v3" or "x86-64-v2". */
const char* gemmIsa();
}  // namespace qr
