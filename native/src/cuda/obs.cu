// GPTQ and SparseGPT on the device: the OBS column-block loop they share. The Hessian factorisation
// and the parameters fitted before the loop come from the same host code as the CPU path
// (prepareGptq / factorHessian, or its device twin deviceFactor in factor.cu), so both start from
// identical bits; the column loop runs one warp per row with the row's 128-column block in
// registers, and the lazy update is gemmTN on the device. Per-element updates use
// __fmul_rn/__fsub_rn so they round exactly like the CPU loop (obs.h; no FMA contraction).
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "../cuda_api.h"
#include "../linalg.h"
#include "common.cuh"
#include "quant_grid.cuh"

namespace qr {
namespace cuda {

namespace {

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

/** Slot t of a lane's block registers (a select, so the array stays in registers). */
__device__ __forceinline__ float slot(const float (&w)[SLOTS], int t) {
  return t == 0 ? w[0] : t == 1 ? w[1] : t == 2 ? w[2] : w[3];
}

/**
 * Warp-cooperative fit of a group starting at column j (values: registers below i2, global beyond),
 * on the entries hrow does not hold (hrow: the row's hold in quantisation order, or null).
 */
__device__ QParams warpFitGroup(const float (&w)[SLOTS], const float* wrow, const uint8_t* hrow, int i1, int i2,
                                int j, int len, const DSpec& s, int lane) {
  auto value = [&](int c) { return c < i2 ? slot(w, (c - i1) >> 5) : wrow[c]; };
  float mn = 0.f, mx = 0.f;
  for (int c = j + lane; c < j + len; c += 32) {
    if (hrow && hrow[c]) continue;
    const float v = value(c);
    mn = fminf(mn, v);
    mx = fmaxf(mx, v);
  }
  return dSearch(warpMin(mn), warpMax(mx), s, [&](QParams cnd) {
    float err = 0.f;
    for (int c = j + lane; c < j + len; c += 32)
      if (!(hrow && hrow[c])) err += dErr(value(c), cnd, s);
    return warpSum(err);
  });
}

/** The value a held entry takes (gptq.cc's heldValue): 0 when pruned (1), fp16(x) for an outlier (2). */
__device__ __forceinline__ float dHeld(uint8_t h, float x) { return h == 2 ? __half2float(__float2half_rn(x)) : 0.f; }

/**
 * One 128-column block of GPTQ / SparseGPT: one warp per row. mode 0: one grid per row (params[r]),
 * 1: static groups by original column (params[r][perm[j]/g]), 2: groups fitted at group starts.
 * quant = 0 (SparseGPT without quantisation): q is w or 0. mask: SparseGPT's block mask (rows×128)
 * for unstructured pruning, or null; nmN/nmM > 0: N:M chosen in the kernel. hold: GPTQ's entries
 * not quantised (rows×cols in quantisation order, gptq.h's Hold values), or null.
 */
__global__ void __launch_bounds__(128) columnBlockKernel(float* Wp, int rows, int cols, int i1, int i2,
                                                         const float* __restrict__ U, QParams* params, int ng, int g,
                                                         int mode, const int* __restrict__ perm, DSpec s, int quant,
                                                         uint8_t* codes, uint8_t* maskBlock, uint8_t* maskOut,
                                                         int nmN, int nmM, const uint8_t* __restrict__ hold,
                                                         float* errT, double* rowLoss) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (r >= rows) return;
  float* wrow = Wp + size_t(r) * cols;
  const uint8_t* hrow = hold ? hold + size_t(r) * cols : nullptr;
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
      float v = slot(w, jt);
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
      cur = warpFitGroup(w, wrow, hrow, i1, i2, j, min(g, cols - j), s, lane);
      if (lane == 0) params[size_t(r) * ng + j / g] = cur;
    }
    const QParams p = mode == 1 ? params[size_t(r) * ng + perm[j] / g] : cur;
    float e = 0.f, q = 0.f;
    if (lane == jl) {
      const float x = slot(w, jt);
      const bool isPruned = (pruned >> jt) & 1;
      const uint8_t h = hrow ? hrow[j] : 0;
      q = isPruned ? 0.f : x;
      if (quant) {
        const int code = dCode(h ? 0.f : q, p, s.maxq);
        q = h ? dHeld(h, x) : dDequant(code, p);
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
                     uint8_t* maskOut, const std::vector<uint8_t>& holdP, cudaStream_t st, const Ctx& ctx) {
  const int rows = a.rows, cols = a.cols;
  DevBuf<float> dW(Wp.size()), dErr(size_t(128) * rows);
  DevBuf<uint8_t> dHold(holdP.size());
  if (!holdP.empty()) dHold.upload(holdP.data(), holdP.size(), st);
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
                                                     a.nmN, a.nmM, holdP.empty() ? nullptr : dHold.p, dErr.p,
                                                     dLoss.p);
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
  out.loss =
      runColumnLoop(prep.Wp, U.U.p, U.diag, prep.params, prep.perm, a, codesPerm.data(), nullptr, prep.holdP, st, ctx);
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
  a.ng = groups ? groupCount(cols, o.quant) : 1;
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
  out.loss =
      runColumnLoop(Wc, U.U.p, U.diag, params, perm, a, o.quantize ? out.codes : nullptr, out.mask, {}, st, ctx);
  std::copy(Wc.begin(), Wc.end(), out.Q);
  if (o.quantize)
    for (size_t i = 0; i < params.size(); i++) {
      out.scales[i] = params[i].scale;
      out.zeros[i] = params[i].zero;
    }
}

}  // namespace cuda
}  // namespace qr
