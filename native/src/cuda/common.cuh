// Shared helpers of the CUDA backend: error checking that throws (never aborts), RAII device
// buffers, and the TN GEMM every solver uses.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../common.h"

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

/** Optional cuBLAS, loaded with dlopen for benchmarks only (QRECIPE_CUBLAS or libcublas.so.13 on the path). */
struct Cublas;
Cublas* cublas(std::string* why);
/** C(M×N) = Aᵀ·B like gemmTN (beta 0) through cublasSgemm; returns false if cuBLAS is unavailable. */
bool cublasSgemmTN(Cublas* cb, int M, int N, int K, const float* A, const float* B, float* C, cudaStream_t s);
/** y(N) = W(N×K, fp16 row-major)·x(K, fp16) through cublasGemmEx, fp32 accumulate. */
bool cublasHgemv(Cublas* cb, int N, int K, const void* W, const void* x, void* y, cudaStream_t s);

}  // namespace cuda
}  // namespace qr
