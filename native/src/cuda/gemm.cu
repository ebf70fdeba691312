// FP32 TN GEMM on CUDA cores (128×128 tiles, 8×8 outputs per thread), the device's status probe and
// the optional dlopen'ed cuBLAS used by the benchmarks as a baseline.
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "../cuda_api.h"
#include "common.cuh"
#include "gemm_tile.cuh"

namespace qr {
namespace cuda {

namespace {
constexpr int BM = kTileM, BN = kTileN, BK = kTileK, TM = kThreadM, TN = kThreadN;

__global__ void __launch_bounds__(256) gemmTNKernel(int M, int N, int K, float alpha, const float* __restrict__ A,
                                                    int lda, const float* __restrict__ B, int ldb, float* C, int ldc,
                                                    bool lowerOnly) {
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  if (lowerOnly && m0 + BM <= n0) return;
  __shared__ float As[BK][BM];
  __shared__ float Bs[BK][BN];
  const int tid = threadIdx.x;
  const int tr = tid / 16, tc = tid % 16;  // 16×16 threads, each 8×8 outputs
  float acc[TM][TN] = {};
  for (int k0 = 0; k0 < K; k0 += BK) {
    // 256 threads load 8×128 of A and of B: 4 values each, coalesced along M / N
    for (int t = 0; t < 4; t++) {
      const int idx = tid + t * 256;
      const int kk = idx / BM, mm = idx % BM;
      const int gk = k0 + kk;
      As[kk][mm] = (gk < K && m0 + mm < M) ? A[size_t(gk) * lda + m0 + mm] : 0.f;
      Bs[kk][mm] = (gk < K && n0 + mm < N) ? B[size_t(gk) * ldb + n0 + mm] : 0.f;
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
      if (n < N) C[size_t(m) * ldc + n] += alpha * acc[i][j];
    }
  }
}
}  // namespace

void gemmTN(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
            bool lowerOnly, cudaStream_t s) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM);
  gemmTNKernel<<<grid, 256, 0, s>>>(M, N, K, alpha, A, lda, B, ldb, C, ldc, lowerOnly);
  QR_LAUNCHED("gemmTN");
}

const Status& status() {
  static Status st;
  static std::once_flag once;
  std::call_once(once, [] {
    st.compiled = true;
    cudaRuntimeGetVersion(&st.runtimeVersion);
    cudaError_t e = cudaDriverGetVersion(&st.driverVersion);
    int n = 0;
    if (e == cudaSuccess) e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      st.error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
      cudaGetLastError();
      return;
    }
    for (int i = 0; i < n; i++) {
      cudaDeviceProp p;
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
      DeviceInfo d;
      d.name = p.name;
      d.major = p.major;
      d.minor = p.minor;
      d.memoryGiB = double(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0);
      d.multiprocessors = p.multiProcessorCount;
      st.devices.push_back(d);
    }
    if (st.devices.empty()) st.error = "no CUDA device found";
  });
  return st;
}

// --- optional cuBLAS through dlopen (the addon never needs it; used when present) ---
// The library is loaded once; a handle belongs to the device that was current when it was created,
// so each GPU gets its own (calls on several GPUs run at the same time).
Cublas* cublas(std::string* why) {
  static CublasFns lib;
  static std::string err;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("QRECIPE_CUBLAS");
    void* so = dlopen(env && *env ? env : "libcublas.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!so) {
      err = dlerror();
      return;
    }
    lib.create = reinterpret_cast<decltype(lib.create)>(dlsym(so, "cublasCreate_v2"));
    lib.setStream = reinterpret_cast<decltype(lib.setStream)>(dlsym(so, "cublasSetStream_v2"));
    lib.sgemm = reinterpret_cast<decltype(lib.sgemm)>(dlsym(so, "cublasSgemm_v2"));
    lib.gemmEx = reinterpret_cast<decltype(lib.gemmEx)>(dlsym(so, "cublasGemmEx"));
    lib.ssyrk = reinterpret_cast<decltype(lib.ssyrk)>(dlsym(so, "cublasSsyrk_v2"));
    lib.dtrsm = reinterpret_cast<decltype(lib.dtrsm)>(dlsym(so, "cublasDtrsm_v2"));
    lib.sgemmStridedBatched = reinterpret_cast<decltype(lib.sgemmStridedBatched)>(dlsym(so, "cublasSgemmStridedBatched"));
    if (!lib.create || !lib.setStream || !lib.sgemm || !lib.gemmEx) {
      err = "libcublas loaded but its symbols are missing";
      lib.create = nullptr;
    }
  });
  if (!lib.create) {
    if (why) *why = err;
    return nullptr;
  }
  return handleForCurrentGpu<Cublas>(lib, why, "cublasCreate");
}

bool cublasSgemmTNAcc(Cublas* cb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                      float beta, float* C, int ldc, cudaStream_t s) {
  if (!cb) return false;
  // row-major C(M×N) = Aᵀ(M×K)·B(K×N)  ⇔  column-major Cᵀ(N×M) = Bᵀ·A with B seen as N×K col-major (op N)
  // and A seen as M×K col-major (op T)
  std::lock_guard<std::mutex> lock(cb->mu);
  cb->setStream(cb->handle, s);
  return cb->sgemm(cb->handle, 0 /*N*/, 1 /*T*/, N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc) == 0;
}

bool cublasSyrkLower(Cublas* cb, int n, int k, float alpha, const float* X, float beta, float* H, cudaStream_t s) {
  if (!cb || !cb->ssyrk) return false;
  // row-major X (k×n) is column-major Xc (n×k); row-major lower of H = column-major upper of Xc·Xcᵀ
  std::lock_guard<std::mutex> lock(cb->mu);
  cb->setStream(cb->handle, s);
  return cb->ssyrk(cb->handle, 1 /*UPPER*/, 0 /*N*/, n, k, &alpha, X, n, &beta, H, n) == 0;
}

}  // namespace cuda
}  // namespace qr
