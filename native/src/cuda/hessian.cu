// The Hessian on the device: H ← H·n/(n+s) + (2/(n+s))·XᵀX by cuBLAS SSYRK (half the flops) when
// it is loadable, else by cuBLAS SGEMM or our own GEMM, in token slabs; and the registry of Hessians
// that stay in GPU memory between adds (HessianAccumulator with keepOnDevice), by accumulator id.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "../cuda_api.h"
#include "common.cuh"
#include "hessian.cuh"

namespace qr {
namespace cuda {

namespace {
__global__ void scaleLowerKernel(float* H, int n, float keep) {
  const int i = blockIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j <= i) H[size_t(i) * n + j] *= keep;
}
__global__ void mirrorKernel(float* H, int n) {
  // 32×32 tiles through shared memory so both the read (lower) and the write (upper) are coalesced
  __shared__ float tile[32][33];
  const int bi = blockIdx.y, bj = blockIdx.x;
  if (bj > bi) return;
  const int i = bi * 32 + threadIdx.y, j = bj * 32 + threadIdx.x;
  if (i < n && j < n) tile[threadIdx.y][threadIdx.x] = H[size_t(i) * n + j];
  __syncthreads();
  const int ti = bj * 32 + threadIdx.y, tj = bi * 32 + threadIdx.x;  // transposed position
  if (ti < n && tj < n && tj > ti) H[size_t(ti) * n + tj] = tile[threadIdx.x][threadIdx.y];
}
}  // namespace

HessianKernel pickHessianKernel() {
  const char* env = std::getenv("QRECIPE_HESSIAN");  // syrk | gemm | own: for benchmarks
  const std::string want = env ? env : "";
  Cublas* cb = cublas(nullptr);
  if (want == "own" || !cb) return HessianKernel::Own;
  if (want == "gemm" || !cb->ssyrk) return HessianKernel::Gemm;
  return HessianKernel::Syrk;
}

void hessianStep(HessianKernel k, float* dH, int cols, const float* dX, int t, float alpha, float beta,
                 cudaStream_t st) {
  if (k == HessianKernel::Syrk && cublasSyrkLower(cublas(nullptr), cols, t, alpha, dX, beta, dH, st)) return;
  if (k == HessianKernel::Gemm &&
      cublasSgemmTNAcc(cublas(nullptr), cols, cols, t, alpha, dX, cols, dX, cols, beta, dH, cols, st))
    return;
  if (k != HessianKernel::Own) throw std::runtime_error("cuBLAS call failed in the Hessian update");
  if (beta != 1.f) {
    scaleLowerKernel<<<dim3((cols + 255) / 256, cols), 256, 0, st>>>(dH, cols, beta);
    QR_LAUNCHED("scaleLowerKernel");
  }
  gemmTN(cols, cols, t, alpha, dX, cols, dX, cols, dH, cols, true, st);
}

void finishHessian(HessianKernel k, float* dH, int cols, cudaStream_t st) {
  if (k == HessianKernel::Gemm) return;  // computed in full
  const int tiles = (cols + 31) / 32;
  mirrorKernel<<<dim3(tiles, tiles), dim3(32, 32), 0, st>>>(dH, cols);
  QR_LAUNCHED("mirrorKernel");
}

namespace {
/** Hessians kept on the device between adds (HessianAccumulator with keepOnDevice), by accumulator id. */
struct Resident {
  DevBuf<float> H;
  int cols = 0;
  int gpu = 0;  // where H lives: every later add of this accumulator runs there
  ~Resident() {
    // free on the GPU that owns the buffer, whatever is current on the thread that drops it
    int cur = -1;
    cudaGetDevice(&cur);
    if (cur != gpu) cudaSetDevice(gpu);
    H = DevBuf<float>();
    if (cur != gpu && cur >= 0) cudaSetDevice(cur);
  }
};
std::mutex residentMu;
std::unordered_map<int64_t, std::unique_ptr<Resident>> residents;

/** The resident entry for id (created, with H uploaded, when there is room), or null. */
Resident* residentFor(int64_t id, const float* H, int cols, bool fromZero, cudaStream_t st) {
  std::lock_guard<std::mutex> lock(residentMu);
  auto it = residents.find(id);
  if (it != residents.end()) {
    if (it->second->cols == cols) return it->second.get();
    residents.erase(it);
  }
  size_t freeB = 0, totalB = 0;
  QR_CUDA(cudaMemGetInfo(&freeB, &totalB));
  const size_t bytes = size_t(cols) * cols * sizeof(float);
  if (freeB < 2 * bytes + (size_t(1) << 30)) return nullptr;  // leave room for the solvers
  auto r = std::make_unique<Resident>();
  r->H = DevBuf<float>(size_t(cols) * cols);
  r->cols = cols;
  r->gpu = currentGpu();
  if (fromZero) r->H.zero(st);
  else r->H.upload(H, r->H.n, st);
  Resident* p = r.get();
  residents[id] = std::move(r);
  return p;
}
}  // namespace

bool hessianFetch(int64_t id, float* H, int cols, bool release) {
  std::lock_guard<std::mutex> lock(residentMu);
  auto it = residents.find(id);
  if (it == residents.end()) return false;
  if (H) {
    if (it->second->cols != cols) throw std::runtime_error("hessianFetch: the resident Hessian has another size");
    // unified addressing: the copy reads from whichever GPU holds H
    QR_CUDA(cudaMemcpy(H, it->second->H.p, it->second->H.n * sizeof(float), cudaMemcpyDeviceToHost));
  }
  if (release) residents.erase(it);
  return true;
}

void hessianUpdate(float* H, int cols, const float* X, int tokens, double n, double samples, const Ctx& ctx,
                   int64_t residentId) {
  if (residentId > 0) {
    // an accumulator whose H already lives on a GPU keeps adding there, whichever GPU this call got
    std::lock_guard<std::mutex> lock(residentMu);
    auto it = residents.find(residentId);
    if (it != residents.end() && it->second->gpu != currentGpu()) QR_CUDA(cudaSetDevice(it->second->gpu));
  }
  Stream st;
  const double total = n + samples;
  const float keep = float(n / total), add = float(2.0 / total);
  const int slab = 16384;
  const HessianKernel k = pickHessianKernel();
  Resident* res = residentId > 0 ? residentFor(residentId, H, cols, keep == 0.f, st) : nullptr;
  DevBuf<float> own(res ? 0 : size_t(cols) * cols), dX(size_t(std::min(tokens, slab)) * cols);
  float* dH = res ? res->H.p : own.p;
  if (!res) {
    if (keep != 0.f) own.upload(H, own.n, st);
    else own.zero(st);  // the first add: H is overwritten (beta 0), no need to copy it up
  }
  for (int t0 = 0; t0 < tokens; t0 += slab) {
    ctx.check();
    const int t = std::min(slab, tokens - t0);
    dX.upload(X + size_t(t0) * cols, size_t(t) * cols, st);
    hessianStep(k, dH, cols, dX.p, t, add, t0 == 0 ? keep : 1.f, st);
    st.sync();
    ctx.report(t0 + t, tokens);
  }
  finishHessian(k, dH, cols, st);
  if (!res) own.download(H, own.n, st);
  st.sync();
}

void hessianUpdateFromDevice(float* H, int cols, const float* dX, int64_t tokens, double n, double samples,
                             int64_t residentId, cudaStream_t st) {
  if (residentId > 0) {
    // a Hessian kept on another GPU comes back to the host first, then lives on this one
    std::unique_lock<std::mutex> lock(residentMu);
    auto it = residents.find(residentId);
    const bool elsewhere = it != residents.end() && it->second->gpu != currentGpu();
    lock.unlock();
    if (elsewhere) hessianFetch(residentId, H, cols, true);
  }
  const double total = n + samples;
  const float keep = float(n / total), add = float(2.0 / total);
  const int64_t slab = 16384;
  const HessianKernel k = pickHessianKernel();
  Resident* res = residentId > 0 ? residentFor(residentId, H, cols, keep == 0.f, st) : nullptr;
  DevBuf<float> own(res ? 0 : size_t(cols) * cols);
  float* dH = res ? res->H.p : own.p;
  if (!res) {
    if (keep != 0.f) own.upload(H, own.n, st);
    else own.zero(st);
  }
  for (int64_t t0 = 0; t0 < tokens; t0 += slab) {
    const int t = int(std::min(slab, tokens - t0));
    hessianStep(k, dH, cols, dX + size_t(t0) * cols, t, add, t0 == 0 ? keep : 1.f, st);
  }
  finishHessian(k, dH, cols, st);
  if (!res) {
    own.download(H, own.n, st);
    QR_CUDA(cudaStreamSynchronize(st));  // own is freed on return, and the host H must be current
  }
}

}  // namespace cuda
}  // namespace qr
