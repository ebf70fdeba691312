// The graph executor's primitives on one CUDA GPU (graph/kernels.h): its own stream, stream-ordered
// allocations (freed tensors are reused without a device sync), element-wise and strided kernels,
// row reductions (ReduceMean, Softmax, LayerNorm), GEMMs (graph_gemm.cu) and taps straight from
// the device tensor into the Hessian (hessian.cu). Same formulas as the host kernels.
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "graph.cuh"
#include "hessian.cuh"

namespace qr {
namespace cuda {

namespace {
using graph::Binary;
using graph::Reduce;
using graph::Strided;
using graph::Unary;

constexpr int THREADS = 256;
inline unsigned blocksFor(int64_t n) { return unsigned(std::min<int64_t>((n + THREADS - 1) / THREADS, int64_t(1) << 20)); }

template <int K>
__device__ inline void offsets(const Strided& s, int64_t i, int64_t* o) {
#pragma unroll
  for (int k = 0; k < K; k++) o[k] = s.off[k];
  for (int d = s.nd - 1; d >= 0; d--) {
    const int64_t c = i % s.dims[d];
    i /= s.dims[d];
#pragma unroll
    for (int k = 0; k < K; k++) o[k] += c * s.st[k][d];
  }
}

#define GRID_LOOP(i, n) for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

template <class T>
__global__ void copyKernel(T* d, const T* x, Strided s, int64_t n) {
  GRID_LOOP(i, n) {
    int64_t o[2];
    offsets<2>(s, i, o);
    d[o[0]] = x[o[1]];
  }
}

__device__ inline float unaryOp(Unary op, float x) {
  switch (op) {
    case Unary::Neg: return -x;
    case Unary::Sqrt: return sqrtf(x);
    case Unary::Reciprocal: return 1.f / x;
    case Unary::Sigmoid: return 1.f / (1.f + expf(-x));
    case Unary::Tanh: return tanhf(x);
    case Unary::Cos: return cosf(x);
    case Unary::Sin: return sinf(x);
    case Unary::Exp: return expf(x);
    case Unary::Abs: return fabsf(x);
    case Unary::Relu: return x > 0.f ? x : 0.f;
    case Unary::Erf: return erff(x);
    case Unary::Identity: return x;
  }
  return x;
}
__global__ void unaryKernel(Unary op, float* d, const float* x, int64_t n) {
  GRID_LOOP(i, n) d[i] = unaryOp(op, x[i]);
}
__global__ void isnanKernel(uint8_t* d, const float* x, int64_t n) {
  GRID_LOOP(i, n) d[i] = isnan(x[i]);
}
__global__ void notKernel(uint8_t* d, const uint8_t* x, int64_t n) {
  GRID_LOOP(i, n) d[i] = !x[i];
}
__global__ void castKernel(void* d, const void* x, int64_t n, bool toBool) {
  GRID_LOOP(i, n) {
    if (toBool) static_cast<uint8_t*>(d)[i] = static_cast<const float*>(x)[i] != 0.f;
    else static_cast<float*>(d)[i] = static_cast<const uint8_t*>(x)[i] ? 1.f : 0.f;
  }
}
__global__ void fillKernel(float* d, float v, int64_t n) {
  GRID_LOOP(i, n) d[i] = v;
}

__device__ inline float arith(Binary op, float a, float b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
    case Binary::Pow: return b == 2.f ? a * a : powf(a, b);
    case Binary::Max: return (isnan(a) || a > b) ? a : b;
    case Binary::Min: return (isnan(a) || a < b) ? a : b;
    default: return 0.f;
  }
}
__global__ void binaryF32(Binary op, void* dst, const float* a, const float* b, Strided s, int64_t n) {
  const bool cmp = op >= Binary::Equal && op <= Binary::GreaterOrEqual;
  GRID_LOOP(i, n) {
    int64_t o[3];
    offsets<3>(s, i, o);
    if (cmp) static_cast<uint8_t*>(dst)[o[0]] = compare(op, a[o[1]], b[o[2]]);
    else static_cast<float*>(dst)[o[0]] = arith(op, a[o[1]], b[o[2]]);
  }
}
__global__ void binaryBool(Binary op, uint8_t* d, const uint8_t* a, const uint8_t* b, Strided s, int64_t n) {
  GRID_LOOP(i, n) {
    int64_t o[3];
    offsets<3>(s, i, o);
    d[o[0]] = op == Binary::And ? (a[o[1]] && b[o[2]]) : op == Binary::Or ? (a[o[1]] || b[o[2]]) : (a[o[1]] == b[o[2]]);
  }
}
template <class T>
__global__ void whereKernel(T* d, const uint8_t* c, const T* a, const T* b, Strided s, int64_t n) {
  GRID_LOOP(i, n) {
    int64_t o[4];
    offsets<4>(s, i, o);
    d[o[0]] = c[o[1]] ? a[o[2]] : b[o[3]];
  }
}

/** Block-wide sum (double accumulation as on the host) / max of one value per thread. */
__device__ double blockSum(double v, double* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < blockDim.x / 32 ? sh[threadIdx.x] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) sh[0] = v;
  }
  __syncthreads();
  const double r = sh[0];
  __syncthreads();
  return r;
}
__device__ float blockMax(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < blockDim.x / 32 ? sh[threadIdx.x] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    if (threadIdx.x == 0) sh[0] = v;
  }
  __syncthreads();
  const float r = sh[0];
  __syncthreads();
  return r;
}

__global__ void reduceRowsKernel(Reduce op, float* d, const float* x, int64_t cols) {
  __shared__ double sh[32];
  const float* r = x + blockIdx.x * cols;
  if (op == Reduce::Max) {
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, r[j]);
    m = blockMax(m, reinterpret_cast<float*>(sh));
    if (threadIdx.x == 0) d[blockIdx.x] = m;
    return;
  }
  double s = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += r[j];
  s = blockSum(s, sh);
  if (threadIdx.x == 0) d[blockIdx.x] = float(op == Reduce::Mean ? s / double(cols) : s);
}

__global__ void softmaxKernel(float* d, const float* x, int64_t cols) {
  __shared__ double sh[32];
  const float* r = x + blockIdx.x * cols;
  float* y = d + blockIdx.x * cols;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, r[j]);
  m = blockMax(m, reinterpret_cast<float*>(sh));
  double s = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float e = expf(r[j] - m);
    y[j] = e;
    s += e;
  }
  s = blockSum(s, sh);
  const float inv = float(1.0 / s);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) y[j] *= inv;
}

__global__ void layerNormKernel(float* d, const float* x, const float* scale, const float* bias, int64_t cols, float eps) {
  __shared__ double sh[32];
  const float* a = x + blockIdx.x * cols;
  float* y = d + blockIdx.x * cols;
  double s = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += a[j];
  const double mean = blockSum(s, sh) / double(cols);
  double q = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) q += (a[j] - mean) * (a[j] - mean);
  const float inv = float(1.0 / sqrt(blockSum(q, sh) / double(cols) + eps));
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) y[j] = float(a[j] - mean) * inv * scale[j] + (bias ? bias[j] : 0.f);
}

template <class T>
__global__ void gatherKernel(T* d, const T* x, const int64_t* idx, int64_t axisLen, int64_t nIdx, int64_t inner, int64_t n) {
  GRID_LOOP(i, n) {
    const int64_t c = i % inner, rest = i / inner, j = rest % nIdx, o = rest / nIdx;
    d[i] = x[(o * axisLen + idx[j]) * inner + c];
  }
}

/** Makes the kernels' GPU current for a scope (frees may come from another thread). */
struct OnDevice {
  int prev = -1;
  explicit OnDevice(int gpu) {
    cudaGetDevice(&prev);
    if (prev != gpu) cudaSetDevice(gpu);
    else prev = -1;
  }
  ~OnDevice() {
    if (prev >= 0) cudaSetDevice(prev);
  }
};

class CudaKernels final : public graph::Kernels {
 public:
  explicit CudaKernels(int gpu) : gpu_(gpu) {
    QR_CUDA(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
    // keep freed blocks in the pool between runs (the default returns them at every sync)
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, gpu) == cudaSuccess) {
      uint64_t keep = UINT64_MAX;
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
  }
  ~CudaKernels() override {
    OnDevice g(gpu_);
    cudaStreamSynchronize(s_);
    cudaStreamDestroy(s_);
  }
  bool device() const override { return true; }
  void* alloc(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMallocAsync(&p, bytes ? bytes : 1, s_);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw std::runtime_error("out of GPU memory allocating " + std::to_string(bytes >> 20) + " MiB");
    }
    QR_CUDA(e);
    return p;
  }
  void release(void* p, size_t) override {
    OnDevice g(gpu_);
    cudaFreeAsync(p, s_);
  }
  void upload(void* dst, const void* src, size_t bytes) override {
    QR_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s_));
  }
  void download(void* dst, const void* src, size_t bytes) override {
    QR_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s_));
  }
  void sync() override { QR_CUDA(cudaStreamSynchronize(s_)); }

  void copy(size_t elem, void* dst, const void* src, const Strided& s) override {
    const int64_t n = s.count();
    if (elem == 4) copyKernel<float><<<blocksFor(n), THREADS, 0, s_>>>(static_cast<float*>(dst), static_cast<const float*>(src), s, n);
    else if (elem == 1) copyKernel<uint8_t><<<blocksFor(n), THREADS, 0, s_>>>(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), s, n);
    else copyKernel<int64_t><<<blocksFor(n), THREADS, 0, s_>>>(static_cast<int64_t*>(dst), static_cast<const int64_t*>(src), s, n);
    QR_LAUNCHED("graph copy");
  }
  void unary(Unary op, float* dst, const float* src, int64_t n) override {
    unaryKernel<<<blocksFor(n), THREADS, 0, s_>>>(op, dst, src, n);
    QR_LAUNCHED("graph unary");
  }
  void isnan(uint8_t* dst, const float* src, int64_t n) override {
    isnanKernel<<<blocksFor(n), THREADS, 0, s_>>>(dst, src, n);
    QR_LAUNCHED("graph isnan");
  }
  void logicalNot(uint8_t* dst, const uint8_t* src, int64_t n) override {
    notKernel<<<blocksFor(n), THREADS, 0, s_>>>(dst, src, n);
    QR_LAUNCHED("graph not");
  }
  void binary(Binary op, graph::DType in, void* dst, const void* a, const void* b, const Strided& s) override {
    const int64_t n = s.count();
    if (in == graph::DType::F32)
      binaryF32<<<blocksFor(n), THREADS, 0, s_>>>(op, dst, static_cast<const float*>(a), static_cast<const float*>(b), s, n);
    else if (in == graph::DType::Bool)
      binaryBool<<<blocksFor(n), THREADS, 0, s_>>>(op, static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(a), static_cast<const uint8_t*>(b), s, n);
    else throw std::logic_error("int64 arithmetic runs on the host");
    QR_LAUNCHED("graph binary");
  }
  void where(size_t elem, void* dst, const uint8_t* cond, const void* a, const void* b, const Strided& s) override {
    const int64_t n = s.count();
    if (elem == 4)
      whereKernel<float><<<blocksFor(n), THREADS, 0, s_>>>(static_cast<float*>(dst), cond, static_cast<const float*>(a), static_cast<const float*>(b), s, n);
    else
      whereKernel<uint8_t><<<blocksFor(n), THREADS, 0, s_>>>(static_cast<uint8_t*>(dst), cond, static_cast<const uint8_t*>(a), static_cast<const uint8_t*>(b), s, n);
    QR_LAUNCHED("graph where");
  }
  void castFloatBool(void* dst, const void* src, int64_t n, bool toBool) override {
    castKernel<<<blocksFor(n), THREADS, 0, s_>>>(dst, src, n, toBool);
    QR_LAUNCHED("graph cast");
  }
  void reduceRows(Reduce op, float* dst, const float* src, int64_t rows, int64_t cols) override {
    for (int64_t r0 = 0; r0 < rows; r0 += 65535 * 1024) {
      const int64_t r = std::min<int64_t>(rows - r0, 65535 * 1024);
      reduceRowsKernel<<<unsigned(r), THREADS, 0, s_>>>(op, dst + r0, src + r0 * cols, cols);
    }
    QR_LAUNCHED("graph reduce");
  }
  void softmaxRows(float* dst, const float* src, int64_t rows, int64_t cols) override {
    for (int64_t r0 = 0; r0 < rows; r0 += 65535 * 1024) {
      const int64_t r = std::min<int64_t>(rows - r0, 65535 * 1024);
      softmaxKernel<<<unsigned(r), THREADS, 0, s_>>>(dst + r0 * cols, src + r0 * cols, cols);
    }
    QR_LAUNCHED("graph softmax");
  }
  void layerNormRows(float* dst, const float* x, const float* scale, const float* bias, int64_t rows, int64_t cols,
                     float eps) override {
    for (int64_t r0 = 0; r0 < rows; r0 += 65535 * 1024) {
      const int64_t r = std::min<int64_t>(rows - r0, 65535 * 1024);
      layerNormKernel<<<unsigned(r), THREADS, 0, s_>>>(dst + r0 * cols, x + r0 * cols, scale, bias, cols, eps);
    }
    QR_LAUNCHED("graph layernorm");
  }
  void gather(size_t elem, void* dst, const void* src, const int64_t* idx, int64_t outer, int64_t axisLen, int64_t nIdx,
              int64_t inner) override {
    auto* dIdx = static_cast<int64_t*>(alloc(size_t(nIdx) * sizeof(int64_t)));
    upload(dIdx, idx, size_t(nIdx) * sizeof(int64_t));
    const int64_t n = outer * nIdx * inner;
    if (elem == 8) throw std::logic_error("int64 gathers run on the host");
    if (elem == 4) gatherKernel<float><<<blocksFor(n), THREADS, 0, s_>>>(static_cast<float*>(dst), static_cast<const float*>(src), dIdx, axisLen, nIdx, inner, n);
    else gatherKernel<uint8_t><<<blocksFor(n), THREADS, 0, s_>>>(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), dIdx, axisLen, nIdx, inner, n);
    QR_LAUNCHED("graph gather");
    release(dIdx, 0);
  }
  void gemm(const graph::Gemm& g) override { graphGemm(g, s_); }
  void hessianTap(graph::TapAcc& acc, const float* X, int64_t rows, const Ctx&) override {
    hessianUpdateFromDevice(acc.H, acc.cols, X, rows, acc.count, acc.samples, acc.resident, s_);
  }
  void fill(float* dst, float v, int64_t n) override {
    fillKernel<<<blocksFor(n), THREADS, 0, s_>>>(dst, v, n);
    QR_LAUNCHED("graph fill");
  }

 private:
  int gpu_;
  cudaStream_t s_ = nullptr;
};
}  // namespace

std::unique_ptr<graph::Kernels> graphKernels(int gpu) { return std::unique_ptr<graph::Kernels>(new CudaKernels(gpu)); }

}  // namespace cuda
}  // namespace qr
