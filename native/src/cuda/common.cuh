// Shared helpers of the CUDA backend: error checking that throws (never aborts), RAII device
// buffers, and the TN GEMM every solver uses.
#pragma once
#include <cuda_runtime.h>

#include <mutex>
#include <stdexcept>
#include <string>

#include "../common.h"
#include "../cuda_api.h"

namespace qr {
namespace cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear a sticky non-fatal error so the next call starts clean
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ")");
  }
}
#define QR_CUDA(call) ::qr::cuda::check((call), #call)
#define QR_LAUNCHED(name) ::qr::cuda::check(cudaGetLastError(), name)

/** Device allocation freed on scope exit. */
template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  explicit DevBuf(size_t count) : n(count) {
    if (count) QR_CUDA(cudaMalloc(&p, count * sizeof(T)));
  }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf& operator=(DevBuf&& o) noexcept {
    if (this != &o) {
      if (p) cudaFree(p);
      p = o.p;
      n = o.n;
      o.p = nullptr;
      o.n = 0;
    }
    return *this;
  }
  ~DevBuf() {
    if (p) cudaFree(p);
  }
  void upload(const T* h, size_t count, cudaStream_t s = 0) {
    QR_CUDA(cudaMemcpyAsync(p, h, count * sizeof(T), cudaMemcpyHostToDevice, s));
  }
  void download(T* h, size_t count, cudaStream_t s = 0) const {
    QR_CUDA(cudaMemcpyAsync(h, p, count * sizeof(T), cudaMemcpyDeviceToHost, s));
  }
  void zero(cudaStream_t s = 0) {
    if (n) QR_CUDA(cudaMemsetAsync(p, 0, n * sizeof(T), s));
  }
};

/**
 * The calling thread's current GPU's instance of something made per GPU — a cuBLAS or cuSOLVER
 * handle belongs to the device current when it was created — made by `make` on first use (null:
 * failed, not retried). Null, with *why set, when there is no current GPU or making it failed.
 */
template <class T, class Make>
T* forCurrentGpu(Make make, std::string* why, const char* what) {
  constexpr int MAX_GPUS = 64;
  static std::mutex mu;
  static T* made[MAX_GPUS] = {};
  static bool failed[MAX_GPUS] = {};
  const int dev = currentGpu();
  if (dev < 0 || dev >= MAX_GPUS) {
    if (why) *why = "no current GPU";
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mu);
  if (!made[dev] && !failed[dev]) failed[dev] = !(made[dev] = make());
  if (!made[dev] && why) *why = std::string(what) + " failed on GPU " + std::to_string(dev);
  return made[dev];
}

/**
 * The current GPU's handle H of a dlopen'ed library (H derives from the entry-point table Fns, with
 * a `handle`): made on first use by copying fns and calling fns.create; null with *why when not.
 */
template <class H, class Fns>
H* handleForCurrentGpu(const Fns& fns, std::string* why, const char* what) {
  return forCurrentGpu<H>(
      [&fns] {
        auto* h = new H;  // lives as long as the process, like the library
        static_cast<Fns&>(*h) = fns;
        if (h->create(&h->handle) == 0) return h;
        delete h;
        return static_cast<H*>(nullptr);
      },
      why, what);
}

/** A stream owned for the length of one call. */
struct Stream {
  cudaStream_t s = nullptr;
  Stream() { QR_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s) cudaStreamDestroy(s);
  }
  void sync() const { QR_CUDA(cudaStreamSynchronize(s)); }
  operator cudaStream_t() const { return s; }
};

/** C[M×N] += alpha·Aᵀ·B, A: K×M (lda), B: K×N (ldb), row-major, FP32 on CUDA cores (no TF32). */
void gemmTN(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
            bool lowerOnly, cudaStream_t s);

/**
 * Optional cuBLAS, loaded with dlopen at first use (QRECIPE_CUBLAS or libcublas.so.13 on the loader
 * path): the addon links no cuBLAS, so it loads and runs (on its own kernels) without one. The handle
 * is shared by every job, so calls hold mu while they set the stream and enqueue.
 */
struct CublasFns {  // the entry points, looked up once
  int (*create)(void**) = nullptr;
  int (*setStream)(void*, cudaStream_t) = nullptr;
  int (*sgemm)(void*, int, int, int, int, int, const float*, const float*, int, const float*, int, const float*,
               float*, int) = nullptr;
  int (*gemmEx)(void*, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                const void*, void*, int, int, int, int) = nullptr;
  int (*ssyrk)(void*, int, int, int, int, const float*, const float*, int, const float*, float*, int) = nullptr;
  int (*dtrsm)(void*, int, int, int, int, int, int, const double*, const double*, int, double*, int) = nullptr;
  int (*sgemmStridedBatched)(void*, int, int, int, int, int, const float*, const float*, int, long long, const float*,
                             int, long long, const float*, float*, int, long long, int) = nullptr;
};
struct Cublas : CublasFns {  // one GPU's handle
  void* handle = nullptr;
  std::mutex mu;
};
Cublas* cublas(std::string* why);
/** C = alpha·Aᵀ·B + beta·C, row-major with leading dimensions, through cublasSgemm. */
bool cublasSgemmTNAcc(Cublas* cb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                      float beta, float* C, int ldc, cudaStream_t s);
/** Lower triangle of row-major H(n×n) = alpha·XᵀX + beta·H for row-major X (k×n), through cublasSsyrk. */
bool cublasSyrkLower(Cublas* cb, int n, int k, float alpha, const float* X, float beta, float* H, cudaStream_t s);

/**
 * U = upper Cholesky factor of (damped, permuted) H⁻¹ on the device in float64, the device twin of
 * factorHessian (same steps, same P·chol(P·H·P)⁻¹·P construction): cuSOLVER's Dpotrf (dlopen'ed:
 * QRECIPE_CUSOLVER, else libcusolver.so.12 beside cuBLAS or on the loader path) and cuBLAS's Dtrsm.
 * dH: H (float32, n×n) already on the device; dead: by original column; perm: quantisation order
 * (null = identity). Returns false (nothing written) when either library is unavailable, so the
 * caller falls back to the host; throws when H is not positive definite.
 */
bool deviceFactor(const float* dH, int n, const int* perm, const uint8_t* dead, double percdamp, float* dU,
                  cudaStream_t s, const Ctx& ctx);
/** Why the device factorisation is unavailable ("" when it is available). */
std::string deviceFactorStatus();

}  // namespace cuda
}  // namespace qr
