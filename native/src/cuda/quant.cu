// CUDA paths of the Hessian, RTN, GPTQ and SparseGPT. The Hessian factorisation and the parameters
// fitted before the loop come from the same host code as the CPU path (prepareGptq / factorHessian),
// so both start from identical bits; the column loop runs one warp per row with the row's 128-column
// block in registers, and the lazy update is gemmTN on the device. Per-element updates use
// __fmul_rn/__fsub_rn so they round exactly like the CPU loop (no FMA contraction).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <numeric>
#include <vector>

#include "../cuda_api.h"
#include "../linalg.h"
#include "common.cuh"

namespace qr {
namespace cuda {

namespace {

struct DSpec {
  int bits, maxq, symmetric, mse, grid;
  float norm, maxShrink;
};

DSpec toDevice(const QuantSpec& s) {
  return DSpec{s.bits, s.maxq(), s.symmetric ? 1 : 0, s.mse ? 1 : 0, s.grid, s.norm, s.maxShrink};
}

__device__ __forceinline__ QParams dFromRange(float xmin, float xmax, const DSpec& s) {
  if (s.symmetric) {
    xmax = fmaxf(fabsf(xmin), xmax);
    xmin = -xmax;
  }
  if (xmin == 0.f && xmax == 0.f) {
    xmin = -1.f;
    xmax = 1.f;
  }
  QParams p;
  p.scale = __fdiv_rn(__fsub_rn(xmax, xmin), float(s.maxq));
  p.zero = s.symmetric ? float((s.maxq + 1) / 2) : nearbyintf(__fdiv_rn(-xmin, p.scale));
  return p;
}

__device__ __forceinline__ int dCode(float x, QParams p, int maxq) {
  float q = __fadd_rn(nearbyintf(__fdiv_rn(x, p.scale)), p.zero);
  q = q < 0.f ? 0.f : (q > float(maxq) ? float(maxq) : q);
  return int(q);
}
__device__ __forceinline__ float dDequant(int code, QParams p) { return __fmul_rn(p.scale, __fsub_rn(float(code), p.zero)); }

/** Candidate grid i of the MSE search (i < 0: the full range). */
__device__ __forceinline__ QParams dCandidate(float xmin, float xmax, int i, const DSpec& s) {
  if (i < 0) return dFromRange(xmin, xmax, s);
  const float p = __fsub_rn(1.f, __fdiv_rn(float(i), float(s.grid)));
  if (s.symmetric) return dFromRange(__fmul_rn(p, xmin), __fmul_rn(p, xmax), s);
  const float lo = __fmul_rn(p, xmin), hi = __fmul_rn(p, xmax);
  if (lo == 0.f && hi == 0.f) return dFromRange(0.f, 0.f, s);
  QParams c;
  c.scale = __fdiv_rn(__fsub_rn(hi, lo), float(s.maxq));
  c.zero = nearbyintf(__fdiv_rn(-lo, c.scale));
  return c;
}

/** Sequential fit of n values with stride 1 (one thread), the CPU's fitParams on the device. */
__device__ QParams dFit(const float* x, int n, const DSpec& s) {
  float xmin = 0.f, xmax = 0.f;
  for (int i = 0; i < n; i++) {
    xmin = fminf(xmin, x[i]);
    xmax = fmaxf(xmax, x[i]);
  }
  QParams best = dFromRange(xmin, xmax, s);
  if (!s.mse) return best;
  float bestErr = INFINITY;
  const int steps = int(s.maxShrink * s.grid);
  for (int i = 0; i < steps; i++) {
    const QParams c = dCandidate(xmin, xmax, i, s);
    float err = 0.f;
    for (int k = 0; k < n; k++) err += powf(fabsf(dDequant(dCode(x[k], c, s.maxq), c) - x[k]), s.norm);
    if (err < bestErr) {
      bestErr = err;
      best = c;
    }
  }
  return best;
}

__global__ void rtnKernel(const float* W, int rows, int cols, int g, DSpec s, float* scales, float* zeros,
                          uint8_t* codes, float* Q) {
  const int ng = cols / g;
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= rows * ng) return;
  const int r = idx / ng, k = idx % ng;
  const float* x = W + size_t(r) * cols + size_t(k) * g;
  const QParams p = dFit(x, g, s);
  scales[idx] = p.scale;
  zeros[idx] = p.zero;
  if (!codes) return;
  for (int j = 0; j < g; j++) {
    const int c = dCode(x[j], p, s.maxq);
    codes[size_t(r) * cols + size_t(k) * g + j] = uint8_t(c);
    if (Q) Q[size_t(r) * cols + size_t(k) * g + j] = dDequant(c, p);
  }
}

__inline__ __device__ float warpMin(float v) {
  for (int o = 16; o; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__inline__ __device__ float warpMax(float v) {
  for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__inline__ __device__ float warpSum(float v) {
  for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

constexpr int SLOTS = 4;  // 128-column block / 32 lanes

/** Warp-cooperative fit of a group starting at column j (values: registers below i2, global beyond). */
__device__ QParams warpFitGroup(const float (&w)[SLOTS], const float* wrow, int i1, int i2, int j, int len,
                                const DSpec& s, int lane) {
  float mn = 0.f, mx = 0.f;
  for (int c = j + lane; c < j + len; c += 32) {
    float v;
    if (c < i2) {
      const int t = (c - i1) >> 5;
      v = t == 0 ? w[0] : t == 1 ? w[1] : t == 2 ? w[2] : w[3];
    } else v = wrow[c];
    mn = fminf(mn, v);
    mx = fmaxf(mx, v);
  }
  mn = warpMin(mn);
  mx = warpMax(mx);
  QParams best = dFromRange(mn, mx, s);
  if (!s.mse) return best;
  float bestErr = INFINITY;
  const int steps = int(s.maxShrink * s.grid);
  for (int i = 0; i < steps; i++) {
    const QParams cnd = dCandidate(mn, mx, i, s);
    float err = 0.f;
    for (int c = j + lane; c < j + len; c += 32) {
      float v;
      if (c < i2) {
        const int t = (c - i1) >> 5;
        v = t == 0 ? w[0] : t == 1 ? w[1] : t == 2 ? w[2] : w[3];
      } else v = wrow[c];
      err += powf(fabsf(dDequant(dCode(v, cnd, s.maxq), cnd) - v), s.norm);
    }
    err = warpSum(err);
    if (err < bestErr) {
      bestErr = err;
      best = cnd;
    }
  }
  return best;
}

/**
 * One 128-column block of GPTQ / SparseGPT: one warp per row. mode 0: one grid per row (params[r]),
 * 1: static groups by original column (params[r][perm[j]/g]), 2: groups fitted at group starts.
 * quant = 0 (SparseGPT without quantisation): q is w or 0. mask: SparseGPT's block mask (rows×128)
 * for unstructured pruning, or null; nmN/nmM > 0: N:M chosen in the kernel.
 */
__global__ void __launch_bounds__(128) columnBlockKernel(float* Wp, int rows, int cols, int i1, int i2,
                                                         const float* __restrict__ U, QParams* params, int ng, int g,
                                                         int mode, const int* __restrict__ perm, DSpec s, int quant,
                                                         uint8_t* codes, uint8_t* maskBlock, uint8_t* maskOut,
                                                         int nmN, int nmM, float* errT, double* rowLoss) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (r >= rows) return;
  float* wrow = Wp + size_t(r) * cols;
  float w[SLOTS];
  int pruned = 0;  // bit t: slot t pruned
#pragma unroll
  for (int t = 0; t < SLOTS; t++) {
    const int c = i1 + lane + 32 * t;
    w[t] = c < i2 ? wrow[c] : 0.f;
    if (maskBlock && c < i2 && maskBlock[size_t(r) * 128 + (c - i1)]) pruned |= 1 << t;
  }
  // the grid in force at the block start: per row, or (groups wider than the block) the group fitted
  // in an earlier block; refitted below at each group start
  QParams cur = mode == 0 ? params[size_t(r) * ng] : (mode == 2 ? params[size_t(r) * ng + i1 / g] : QParams{1.f, 0.f});
  double loss = 0;
  for (int j = i1; j < i2; j++) {
    const int jt = (j - i1) >> 5, jl = (j - i1) & 31;
    if (nmN > 0 && (j - i1) % nmM == 0) {
      // N:M: lanes of this group hold columns j..j+M−1 in slot jt; rank by (score, column)
      const int base = jl;
      const bool inGroup = lane >= base && lane < base + nmM;
      const int c = i1 + lane + 32 * jt;
      float v = jt == 0 ? w[0] : jt == 1 ? w[1] : jt == 2 ? w[2] : w[3];
      const float d = U[size_t(c < cols ? c : 0) * cols + (c < cols ? c : 0)];
      const float score = __fdiv_rn(__fmul_rn(v, v), __fmul_rn(d, d));
      int rank = 0;
      for (int o = 0; o < nmM; o++) {
        const float so = __shfl_sync(0xffffffffu, score, base + o);
        if (inGroup && (so < score || (so == score && base + o < lane))) rank++;
      }
      if (inGroup) {
        if (rank < nmN) pruned |= 1 << jt;
        else pruned &= ~(1 << jt);
      }
    }
    if (mode == 2 && j % g == 0) {
      cur = warpFitGroup(w, wrow, i1, i2, j, min(g, cols - j), s, lane);
      if (lane == 0) params[size_t(r) * ng + j / g] = cur;
    }
    const QParams p = mode == 1 ? params[size_t(r) * ng + perm[j] / g] : cur;
    float e = 0.f, q = 0.f;
    if (lane == jl) {
      const float x = jt == 0 ? w[0] : jt == 1 ? w[1] : jt == 2 ? w[2] : w[3];
      const bool isPruned = (pruned >> jt) & 1;
      q = isPruned ? 0.f : x;
      if (quant) {
        const int code = dCode(q, p, s.maxq);
        q = dDequant(code, p);
        codes[size_t(r) * cols + j] = uint8_t(code);
      }
      const float d = U[size_t(j) * cols + j];
      e = __fdiv_rn(__fsub_rn(x, q), d);
      const double dx = double(__fsub_rn(x, q));
      loss += dx * dx / (double(d) * double(d)) / 2.0;
      errT[size_t(j - i1) * rows + r] = e;
      if (maskOut) maskOut[size_t(r) * cols + j] = isPruned ? 1 : 0;
    }
    e = __shfl_sync(0xffffffffu, e, jl);
    q = __shfl_sync(0xffffffffu, q, jl);
    const float* u = U + size_t(j) * cols;
#pragma unroll
    for (int t = 0; t < SLOTS; t++) {
      const int c = i1 + lane + 32 * t;
      if (c > j && c < i2) w[t] = __fsub_rn(w[t], __fmul_rn(e, u[c]));
      if (c == j) w[t] = q;
    }
  }
#pragma unroll
  for (int t = 0; t < SLOTS; t++) {
    const int c = i1 + lane + 32 * t;
    if (c < i2) wrow[c] = w[t];
  }
  for (int o = 16; o; o >>= 1) loss += __shfl_xor_sync(0xffffffffu, loss, o);
  if (lane == 0) rowLoss[r] += loss;
}

/** Runs the block loop shared by GPTQ and SparseGPT on the device. hostMask: unstructured SparseGPT. */
struct LoopArgs {
  int rows, cols, mode, g, ng, quant, nmN = 0, nmM = 0;
  double sparsity = -1;  // ≥ 0: unstructured mask per block, chosen on the host from device scores
  DSpec spec;
};

double runColumnLoop(std::vector<float>& Wp, const float* dU, const std::vector<float>& Udiag,
                     std::vector<QParams>& params, const std::vector<int>& perm, const LoopArgs& a, uint8_t* codesOut,
                     uint8_t* maskOut, cudaStream_t st, const Ctx& ctx) {
  const int rows = a.rows, cols = a.cols;
  DevBuf<float> dW(Wp.size()), dErr(size_t(128) * rows);
  DevBuf<QParams> dP(params.size());
  DevBuf<int> dPerm(perm.size());
  DevBuf<uint8_t> dCodes(codesOut ? size_t(rows) * cols : 0), dMaskOut(maskOut ? size_t(rows) * cols : 0),
      dMaskBlock(a.sparsity >= 0 ? size_t(rows) * 128 : 0);
  DevBuf<double> dLoss(rows);
  dW.upload(Wp.data(), Wp.size(), st);
  dP.upload(params.data(), params.size(), st);
  dPerm.upload(perm.data(), perm.size(), st);
  dLoss.zero(st);
  if (dMaskOut.p) dMaskOut.zero(st);
  std::vector<float> blockW, score;
  std::vector<uint8_t> blockMask;
  const int nBlocks = (cols + 127) / 128;
  for (int b = 0; b < nBlocks; b++) {
    ctx.check();
    const int i1 = b * 128, i2 = std::min(cols, i1 + 128), w1 = i2 - i1;
    if (a.sparsity >= 0) {
      // the block's threshold: the same selection as the CPU path, on the device's current weights
      blockW.resize(size_t(rows) * w1);
      QR_CUDA(cudaMemcpy2DAsync(blockW.data(), w1 * sizeof(float), dW.p + i1, cols * sizeof(float),
                                w1 * sizeof(float), rows, cudaMemcpyDeviceToHost, st));
      QR_CUDA(cudaStreamSynchronize(st));
      score.resize(blockW.size());
      for (int r = 0; r < rows; r++)
        for (int j = 0; j < w1; j++) {
          const float d = Udiag[i1 + j], w = blockW[size_t(r) * w1 + j];
          score[size_t(r) * w1 + j] = w * w / (d * d);
        }
      std::vector<float> sorted(score);
      const size_t k = std::min(sorted.size() - 1, size_t(double(sorted.size()) * a.sparsity));
      std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
      const float thresh = a.sparsity > 0 ? sorted[k] : -1.f;
      blockMask.assign(size_t(rows) * 128, 0);
      for (int r = 0; r < rows; r++)
        for (int j = 0; j < w1; j++) blockMask[size_t(r) * 128 + j] = score[size_t(r) * w1 + j] <= thresh;
      dMaskBlock.upload(blockMask.data(), blockMask.size(), st);
    }
    columnBlockKernel<<<(rows + 3) / 4, 128, 0, st>>>(dW.p, rows, cols, i1, i2, dU, dP.p, a.ng, a.g, a.mode,
                                                     dPerm.p, a.spec, a.quant, dCodes.p, dMaskBlock.p, dMaskOut.p,
                                                     a.nmN, a.nmM, dErr.p, dLoss.p);
    QR_LAUNCHED("columnBlockKernel");
    // our GEMM sums k in order like the CPU's, which keeps the two paths' weights close
    if (i2 < cols)
      gemmTN(rows, cols - i2, w1, -1.f, dErr.p, rows, dU + size_t(i1) * cols + i2, cols, dW.p + i2, cols, false, st);
    // progress every 8 blocks: a sync per block would leave the device idle while the host reports
    if ((b & 7) == 7 || b == nBlocks - 1 || a.sparsity >= 0) {
      QR_CUDA(cudaStreamSynchronize(st));
      ctx.report(i2, cols);
    }
  }
  dW.download(Wp.data(), Wp.size(), st);
  dP.download(params.data(), params.size(), st);
  std::vector<uint8_t> codesPerm;
  if (codesOut) dCodes.download(codesOut, size_t(rows) * cols, st);
  if (maskOut) dMaskOut.download(maskOut, size_t(rows) * cols, st);
  std::vector<double> loss(rows);
  dLoss.download(loss.data(), rows, st);
  QR_CUDA(cudaStreamSynchronize(st));
  return std::accumulate(loss.begin(), loss.end(), 0.0);
}

}  // namespace

bool supports(const QuantSpec& s, bool quantize, int blockSize, int m) {
  return blockSize == 128 && (!quantize || s.groupSize == 0 || s.groupSize % 32 == 0) && (m == 0 || 32 % m == 0);
}

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

/** Which kernel accumulates the Hessian: cuBLAS SYRK (half the flops) when loadable, else our GEMM. */
enum class HessianKernel { Syrk, Gemm, Own };

namespace {
HessianKernel pickHessianKernel() {
  const char* env = std::getenv("QRECIPE_HESSIAN");  // syrk | gemm | own: for benchmarks
  const std::string want = env ? env : "";
  Cublas* cb = cublas(nullptr);
  if (want == "own" || !cb) return HessianKernel::Own;
  if (want == "gemm" || !cb->ssyrk) return HessianKernel::Gemm;
  return HessianKernel::Syrk;
}

/** dH = beta·dH + alpha·XᵀX on the device (lower triangle only for Syrk/Own; mirrored by finishHessian). */
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
}  // namespace

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

HessianBenchResult benchHessian(int cols, int tokens, const Ctx& ctx) {
  HessianBenchResult r;
  Stream st;
  DevBuf<float> dX(size_t(tokens) * cols), dH(size_t(cols) * cols);
  // random-ish data so no kernel sees a special case (zeros)
  std::vector<float> x(size_t(tokens) * cols);
  uint32_t seed = 12345;
  for (auto& v : x) {
    seed = seed * 1664525u + 1013904223u;
    v = float(seed >> 8) * (2.f / 16777216.f) - 1.f;
  }
  dX.upload(x.data(), x.size(), st);
  dH.zero(st);
  cudaEvent_t e0, e1;
  QR_CUDA(cudaEventCreate(&e0));
  QR_CUDA(cudaEventCreate(&e1));
  const double flops = 2.0 * double(cols) * cols * tokens;  // as a full GEMM counts them
  auto timeIt = [&](auto&& f) {
    f();
    QR_CUDA(cudaEventRecord(e0, st));
    const int iters = 5;
    for (int i = 0; i < iters; i++) f();
    QR_CUDA(cudaEventRecord(e1, st));
    QR_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    QR_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    return flops / (double(ms) / iters * 1e9);
  };
  auto step = [&](HessianKernel k) {
    hessianStep(k, dH.p, cols, dX.p, tokens, 1e-3f, 0.5f, st);
    finishHessian(k, dH.p, cols, st);
  };
  r.ownTflops = timeIt([&] { step(HessianKernel::Own); });
  ctx.check();
  Cublas* cb = cublas(nullptr);
  if (cb) {
    r.cublasGemmTflops = timeIt([&] {
      cublasSgemmTNAcc(cb, cols, cols, tokens, 1.f, dX.p, cols, dX.p, cols, 0.f, dH.p, cols, st);
    });
    if (cb->ssyrk) r.syrkTflops = timeIt([&] { step(HessianKernel::Syrk); });
    r.gemmTflops = timeIt([&] { step(HessianKernel::Gemm); });
  }
  const HessianKernel k = pickHessianKernel();
  r.used = k == HessianKernel::Syrk ? "cublas-syrk" : k == HessianKernel::Gemm ? "cublas-gemm" : "qrecipe";
  r.usedTflops = k == HessianKernel::Syrk ? r.syrkTflops : k == HessianKernel::Gemm ? r.gemmTflops : r.ownTflops;
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return r;
}

void rtn(const float* W, int rows, int cols, const QuantSpec& s, float* scales, float* zeros, uint8_t* codes, float* Q,
         const Ctx& ctx) {
  Stream st;
  const int g = s.groupSize > 0 ? s.groupSize : cols;
  const int ng = cols / g;
  DevBuf<float> dW(size_t(rows) * cols), dS(size_t(rows) * ng), dZ(size_t(rows) * ng),
      dQ(Q ? size_t(rows) * cols : 0);
  DevBuf<uint8_t> dC(codes ? size_t(rows) * cols : 0);
  dW.upload(W, dW.n, st);
  const int n = rows * ng;
  rtnKernel<<<(n + 127) / 128, 128, 0, st>>>(dW.p, rows, cols, g, toDevice(s), dS.p, dZ.p, dC.p, dQ.p);
  QR_LAUNCHED("rtnKernel");
  dS.download(scales, dS.n, st);
  dZ.download(zeros, dZ.n, st);
  if (codes) dC.download(codes, dC.n, st);
  if (Q) dQ.download(Q, dQ.n, st);
  st.sync();
  ctx.check();
}

namespace {
/** U on the device (factored there when cuSOLVER is loadable, else on the host) and its diagonal on the host. */
struct DeviceU {
  DevBuf<float> U;
  std::vector<float> diag;
};

void placeU(const float* H, int cols, const int* perm, const std::vector<uint8_t>& dead, double percdamp,
            std::vector<float>& hostU, DeviceU& out, cudaStream_t st, const Ctx& ctx) {
  out.U = DevBuf<float>(size_t(cols) * cols);
  bool onDevice = false;
  if (hostU.empty()) {
    DevBuf<float> dH(size_t(cols) * cols);
    dH.upload(H, dH.n, st);
    onDevice = deviceFactor(dH.p, cols, perm, dead.data(), percdamp, out.U.p, st, ctx);
    if (!onDevice) hostU = factorHessian(H, cols, perm, percdamp, ctx).U;
  }
  if (!onDevice) out.U.upload(hostU.data(), hostU.size(), st);
  out.diag.resize(cols);
  QR_CUDA(cudaMemcpy2DAsync(out.diag.data(), sizeof(float), out.U.p, size_t(cols + 1) * sizeof(float), sizeof(float),
                            cols, cudaMemcpyDeviceToHost, st));
  QR_CUDA(cudaStreamSynchronize(st));
}

bool factorOnDevice() { return !std::getenv("QRECIPE_HOST_FACTOR") && deviceFactorStatus().empty(); }
}  // namespace

void gptq(const float* W, const float* H, int rows, int cols, const GptqOptions& o, GptqOutputs& out, const Ctx& ctx) {
  GptqPrep prep = prepareGptq(W, H, rows, cols, o, ctx, !factorOnDevice());
  Stream st;
  DeviceU U;
  placeU(H, cols, prep.perm.data(), prep.dead, o.percdamp, prep.U, U, st, ctx);
  LoopArgs a;
  a.rows = rows;
  a.cols = cols;
  a.g = o.quant.groupSize > 0 ? o.quant.groupSize : cols;
  a.ng = prep.groups;
  a.mode = o.quant.groupSize == 0 ? 0 : (o.staticGroups ? 1 : 2);
  a.quant = 1;
  a.spec = toDevice(o.quant);
  std::vector<uint8_t> codesPerm(size_t(rows) * cols);
  out.loss = runColumnLoop(prep.Wp, U.U.p, U.diag, prep.params, prep.perm, a, codesPerm.data(), nullptr, st, ctx);
  const int* perm = prep.perm.data();
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < cols; j++) out.codes[size_t(r) * cols + perm[j]] = codesPerm[size_t(r) * cols + j];
  finishGptq(prep, rows, cols, o, out);
}

void sparsegpt(const float* W, const float* H, int rows, int cols, const SparseGptOptions& o, SparseGptOutputs& out,
               const Ctx& ctx) {
  std::vector<uint8_t> dead(cols);
  for (int j = 0; j < cols; j++) dead[j] = H[size_t(j) * cols + j] == 0.0f;
  std::vector<float> hostU;
  if (!factorOnDevice()) hostU = factorHessian(H, cols, nullptr, o.percdamp, ctx).U;
  Stream st;
  DeviceU U;
  placeU(H, cols, nullptr, dead, o.percdamp, hostU, U, st, ctx);
  std::vector<float> Wc(size_t(rows) * cols);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < cols; j++) Wc[size_t(r) * cols + j] = dead[j] ? 0.f : W[size_t(r) * cols + j];
  const bool groups = o.quantize && o.quant.groupSize > 0;
  LoopArgs a;
  a.rows = rows;
  a.cols = cols;
  a.g = groups ? o.quant.groupSize : cols;
  a.ng = cols / a.g;
  a.mode = groups ? 2 : 0;
  a.quant = o.quantize ? 1 : 0;
  a.spec = toDevice(o.quant);
  a.nmN = o.n;
  a.nmM = o.m;
  if (o.n == 0) a.sparsity = o.sparsity;
  std::vector<QParams> params(size_t(rows) * a.ng, QParams{1.f, 0.f});
  if (o.quantize && !groups)
    for (int r = 0; r < rows; r++) params[r] = fitParams(Wc.data() + size_t(r) * cols, cols, o.quant);
  std::vector<int> perm(cols);
  std::iota(perm.begin(), perm.end(), 0);
  out.loss = runColumnLoop(Wc, U.U.p, U.diag, params, perm, a, o.quantize ? out.codes : nullptr, out.mask, st, ctx);
  std::copy(Wc.begin(), Wc.end(), out.Q);
  if (o.quantize)
    for (size_t i = 0; i < params.size(); i++) {
      out.scales[i] = params[i].scale;
      out.zeros[i] = params[i].zero;
    }
}

}  // namespace cuda
}  // namespace qr
