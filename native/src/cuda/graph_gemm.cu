// The graph executor's MatMul / Gemm on CUDA: C[b] = alpha·A[b]·op(B[b]) (+ bias), row-major, FP32
// on CUDA cores. cuBLAS SgemmStridedBatched (dlopen'ed, default math mode: no TF32) when loadable,
// else our register-tiled kernel in the style of gemm.cu's TN kernel.
#include <cstdlib>
#include <mutex>
#include <string>

#include "common.cuh"
#include "gemm_tile.cuh"
#include "graph.cuh"

namespace qr {
namespace cuda {

namespace {
constexpr int BM = kTileM, BN = kTileN, BK = kTileK, TM = kThreadM, TN = kThreadN;

template <bool TRANSB>
__global__ void __launch_bounds__(256) gemmNNKernel(int M, int N, int K, float alpha, const float* __restrict__ A,
                                                    long long sA, const float* __restrict__ B, long long sB, float* C,
                                                    long long sC, const float* __restrict__ bias) {
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  A += blockIdx.z * sA;
  B += blockIdx.z * sB;
  C += blockIdx.z * sC;
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  const int tid = threadIdx.x;
  const int tr = tid / 16, tc = tid % 16;
  float acc[TM][TN] = {};
  for (int k0 = 0; k0 < K; k0 += BK) {
    // A (M×K): 128 rows × 8 k, 4 values a thread, 8 consecutive threads read one row's 8 k
#pragma unroll
    for (int t = 0; t < 4; t++) {
      const int idx = tid + t * 256;
      const int mm = idx / BK, kk = idx % BK;
      const int gm = m0 + mm, gk = k0 + kk;
      As[kk][mm] = (gm < M && gk < K) ? A[size_t(gm) * K + gk] : 0.f;
      if (TRANSB) {  // B stored N×K
        const int gn = n0 + mm;
        Bs[kk][mm] = (gn < N && gk < K) ? B[size_t(gn) * K + gk] : 0.f;
      } else {  // B stored K×N: coalesced along N
        const int kb = idx / BN, nb = idx % BN;
        const int gkb = k0 + kb, gn = n0 + nb;
        Bs[kb][nb] = (gkb < K && gn < N) ? B[size_t(gkb) * N + gn] : 0.f;
      }
    }
    __syncthreads();
    tileStep(As, Bs, tr, tc, acc);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; i++) {
    const int m = m0 + tr * TM + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < TN; j++) {
      const int n = n0 + tc * TN + j;
      if (n < N) C[size_t(m) * N + n] = alpha * acc[i][j] + (bias ? bias[n] : 0.f);
    }
  }
}

__global__ void rowsOfBias(float* C, const float* bias, int M, int N, long long sC) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < size_t(M) * N) C[blockIdx.y * sC + i] = bias[i % N];
}
}  // namespace

void graphGemmOwn(const graph::Gemm& g, cudaStream_t s) {
  if (g.batch > 65535) throw std::runtime_error("graph GEMM: more than 65535 batches");
  dim3 grid((g.N + BN - 1) / BN, (g.M + BM - 1) / BM, g.batch);
  if (g.transB) gemmNNKernel<true><<<grid, 256, 0, s>>>(g.M, g.N, g.K, g.alpha, g.A, g.sA, g.B, g.sB, g.C, g.sC, g.bias);
  else gemmNNKernel<false><<<grid, 256, 0, s>>>(g.M, g.N, g.K, g.alpha, g.A, g.sA, g.B, g.sB, g.C, g.sC, g.bias);
  QR_LAUNCHED("graph gemm");
}

bool graphGemmCublas(const graph::Gemm& g, cudaStream_t s) {
  Cublas* cb = cublas(nullptr);
  if (!cb || !cb->sgemmStridedBatched) return false;
  float beta = 0.f;
  if (g.bias) {
    if (g.batch > 65535) return false;
    dim3 grid(unsigned((size_t(g.M) * g.N + 255) / 256), g.batch);
    rowsOfBias<<<grid, 256, 0, s>>>(g.C, g.bias, g.M, g.N, g.sC);
    QR_LAUNCHED("graph gemm bias");
    beta = 1.f;
  }
  // row-major C (M×N) = A·op(B)  ⇔  column-major Cᵀ (N×M) = op(B)ᵀ·Aᵀ: B first (N: ldb N; T when
  // B is stored N×K: ldb K), A as a column-major K×M matrix (lda K)
  std::lock_guard<std::mutex> lock(cb->mu);
  cb->setStream(cb->handle, s);
  const int st = cb->sgemmStridedBatched(cb->handle, g.transB ? 1 : 0, 0, g.N, g.M, g.K, &g.alpha, g.B, g.transB ? g.K : g.N,
                                         g.sB, g.A, g.K, g.sA, &beta, g.C, g.N, g.sC, g.batch);
  if (st != 0) throw std::runtime_error("cublasSgemmStridedBatched failed with status " + std::to_string(st));
  return true;
}

void graphGemm(const graph::Gemm& g, cudaStream_t s) {
  const char* env = std::getenv("QRECIPE_GRAPH_GEMM");  // own | cublas: for tests and benchmarks
  if (!(env && std::string(env) == "own") && graphGemmCublas(g, s)) return;
  graphGemmOwn(g, s);
}

}  // namespace cuda
}  // namespace qr
