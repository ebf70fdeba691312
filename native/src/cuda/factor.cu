// The Hessian factorisation of GPTQ / SparseGPT on the device, in float64: build P·H[perm][perm]·P
// (dead inputs → 1, dampened), Cholesky with cuSOLVER, invert the factor with cuBLAS's triangular
// solve, and write U = P·L⁻¹·P as float32. Both libraries are dlopen'ed so the addon keeps no hard
// dependency on them; without them the caller uses the host's float64 path (linalg.cc).
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "../cuda_api.h"
#include "common.cuh"

namespace qr {
namespace cuda {

namespace {

struct CusolverFns {  // the entry points, looked up once
  int (*create)(void**) = nullptr;
  int (*setStream)(void*, cudaStream_t) = nullptr;
  int (*potrfSize)(void*, int, int, double*, int, int*) = nullptr;
  int (*potrf)(void*, int, int, double*, int, double*, int, int*) = nullptr;
};
struct Cusolver : CusolverFns {  // one GPU's handle
  void* handle = nullptr;
  std::mutex mu;
};

std::string dirOf(const char* file) {
  std::string s(file ? file : "");
  const size_t k = s.rfind('/');
  return k == std::string::npos ? std::string() : s.substr(0, k + 1);
}

Cusolver* cusolver(std::string* why) {
  static CusolverFns lib;  // one handle per GPU below
  static std::string err;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> names;
    const char* env = std::getenv("QRECIPE_CUSOLVER");
    if (env && *env) names.push_back(env);
    else {
      // pip's nvidia wheels put cuSOLVER next to cuBLAS; try that folder first
      const std::string d = dirOf(std::getenv("QRECIPE_CUBLAS"));
      for (const char* so : {"libcusolver.so.12", "libcusolver.so.11"}) {
        if (!d.empty()) names.push_back(d + so);
        names.push_back(so);
      }
    }
    void* so = nullptr;
    for (const std::string& n : names)
      if ((so = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL))) break;
    if (!so) {
      err = std::string("cuSOLVER not loadable: ") + dlerror();
      return;
    }
    lib.create = reinterpret_cast<decltype(lib.create)>(dlsym(so, "cusolverDnCreate"));
    lib.setStream = reinterpret_cast<decltype(lib.setStream)>(dlsym(so, "cusolverDnSetStream"));
    lib.potrfSize = reinterpret_cast<decltype(lib.potrfSize)>(dlsym(so, "cusolverDnDpotrf_bufferSize"));
    lib.potrf = reinterpret_cast<decltype(lib.potrf)>(dlsym(so, "cusolverDnDpotrf"));
    if (!lib.create || !lib.setStream || !lib.potrfSize || !lib.potrf) {
      err = "libcusolver loaded but its symbols are missing";
      lib.create = nullptr;
    }
  });
  if (!lib.create) {
    if (why) *why = err;
    return nullptr;
  }
  return handleForCurrentGpu<Cusolver>(lib, why, "cusolverDnCreate");
}

/** A[i][j] (row-major, lower triangle and diagonal) = H[p(n−1−i)][p(n−1−j)], dead diagonal → 1, + damp. */
__global__ void buildKernel(const float* __restrict__ H, int n, const int* __restrict__ perm,
                            const uint8_t* __restrict__ dead, double damp, double* A) {
  const int i = blockIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j > i) return;
  const int pi = perm ? perm[n - 1 - i] : n - 1 - i, pj = perm ? perm[n - 1 - j] : n - 1 - j;
  double v = H[size_t(pi) * n + pj];
  if (i == j) v = (dead[pi] ? 1.0 : v) + damp;
  A[size_t(i) * n + j] = v;
}

__global__ void identityKernel(double* X, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) X[size_t(i) * n + i] = 1.0;
}

/** U[i][j] = X[n−1−i][n−1−j] for j ≥ i (X = L⁻¹, lower), 0 below the diagonal. */
__global__ void reverseKernel(const double* __restrict__ X, int n, float* U) {
  const int i = blockIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= n) return;
  U[size_t(i) * n + j] = j >= i ? float(X[size_t(n - 1 - i) * n + (n - 1 - j)]) : 0.f;
}

}  // namespace

std::string factorStatus() { return std::getenv("QRECIPE_HOST_FACTOR") ? "QRECIPE_HOST_FACTOR set" : deviceFactorStatus(); }

std::string deviceFactorStatus() {
  std::string why;
  Cublas* cb = cublas(&why);
  if (!cb) return "cuBLAS not loadable: " + why;
  if (!cb->dtrsm) return "cuBLAS has no cublasDtrsm_v2";
  if (!cusolver(&why)) return why;
  return "";
}

bool deviceFactor(const float* dH, int n, const int* perm, const uint8_t* dead, double percdamp, float* dU,
                  cudaStream_t s, const Ctx& ctx) {
  if (std::getenv("QRECIPE_HOST_FACTOR")) return false;  // benchmarks / debugging: force the host path
  Cublas* cb = cublas(nullptr);
  Cusolver* cs = cusolver(nullptr);
  if (!cb || !cb->dtrsm || !cs) return false;
  // mean of the diagonal after the dead-input fix (the order does not change the mean)
  std::vector<float> diag(n);
  QR_CUDA(cudaMemcpy2DAsync(diag.data(), sizeof(float), dH, size_t(n + 1) * sizeof(float), sizeof(float), n,
                            cudaMemcpyDeviceToHost, s));
  QR_CUDA(cudaStreamSynchronize(s));
  double meanDiag = 0;
  for (int j = 0; j < n; j++) meanDiag += dead[j] ? 1.0 : double(diag[j]);
  meanDiag /= n;
  DevBuf<int> dPerm(perm ? n : 0);
  DevBuf<uint8_t> dDead(n);
  if (perm) dPerm.upload(perm, n, s);
  dDead.upload(dead, n, s);
  DevBuf<double> A(size_t(n) * n), X(size_t(n) * n);
  A.zero(s);
  X.zero(s);
  buildKernel<<<dim3((n + 255) / 256, n), 256, 0, s>>>(dH, n, dPerm.p, dDead.p, percdamp * meanDiag, A.p);
  QR_LAUNCHED("buildKernel");
  identityKernel<<<(n + 255) / 256, 256, 0, s>>>(X.p, n);
  QR_LAUNCHED("identityKernel");
  ctx.check();
  // row-major lower A is column-major upper: potrf(UPPER) gives Rᵀ·R with R = Lᵀ, i.e. row-major L
  int info = 0;
  {
    DevBuf<int> dInfo(1);
    std::lock_guard<std::mutex> lock(cs->mu);
    cs->setStream(cs->handle, s);
    int lwork = 0;
    if (cs->potrfSize(cs->handle, 1 /*UPPER*/, n, A.p, n, &lwork) != 0)
      throw std::runtime_error("cusolverDnDpotrf_bufferSize failed");
    DevBuf<double> work(size_t(lwork > 0 ? lwork : 1));
    if (cs->potrf(cs->handle, 1 /*UPPER*/, n, A.p, n, work.p, lwork, dInfo.p) != 0)
      throw std::runtime_error("cusolverDnDpotrf failed");
    QR_CUDA(cudaMemcpyAsync(&info, dInfo.p, sizeof(int), cudaMemcpyDeviceToHost, s));
    QR_CUDA(cudaStreamSynchronize(s));
  }
  if (info != 0)
    throw std::runtime_error("The Hessian is not positive definite even after dampening (percdamp=" +
                             std::to_string(percdamp) + "); raise percdamp or add calibration data");
  ctx.check();
  // column-major R·Xc = I gives Xc = R⁻¹, whose row-major view is L⁻¹
  {
    const double one = 1.0;
    std::lock_guard<std::mutex> lock(cb->mu);
    cb->setStream(cb->handle, s);
    if (cb->dtrsm(cb->handle, 0 /*LEFT*/, 1 /*UPPER*/, 0 /*N*/, 0 /*NON_UNIT*/, n, n, &one, A.p, n, X.p, n) != 0)
      throw std::runtime_error("cublasDtrsm failed");
  }
  reverseKernel<<<dim3((n + 255) / 256, n), 256, 0, s>>>(X.p, n, dU);
  QR_LAUNCHED("reverseKernel");
  QR_CUDA(cudaStreamSynchronize(s));
  return true;
}

}  // namespace cuda
}  // namespace qr
