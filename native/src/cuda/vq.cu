// The VQ loops on the device (vq.h's twins), in float64 like the CPU path: rows times H as a tiled
// GEMM, nearest centroids one thread a point, and the greedy code pass one block a row (rows are
// independent; within a row the groups go in order, as the objective's update needs). The code
// pass takes the best codeword by a block-wide argmin instead of the CPU's sequential scan, and
// nvcc fuses multiply-adds, so results match the CPU within rounding (test/gpu/vq-cuda.test.ts).
#include <cfloat>
#include <cmath>

#include "../cuda_api.h"
#include "../vq_nearest.h"
#include "common.cuh"

namespace qr {
namespace cuda {

namespace {

constexpr int TILE = 16;

// out[r][i] = Σ_j X[r][j]·H[i][j]
__global__ void rowsTimesHKernel(const double* H, const double* X, int rows, int n, double* out) {
  __shared__ double xs[TILE][TILE + 1], hs[TILE][TILE + 1];
  const int r = blockIdx.y * TILE + threadIdx.y, i = blockIdx.x * TILE + threadIdx.x;
  const int hi = blockIdx.x * TILE + threadIdx.y;  // the H row this thread loads
  double s = 0;
  for (int j0 = 0; j0 < n; j0 += TILE) {
    const int j = j0 + threadIdx.x;
    xs[threadIdx.y][threadIdx.x] = r < rows && j < n ? X[size_t(r) * n + j] : 0.0;
    hs[threadIdx.y][threadIdx.x] = hi < n && j < n ? H[size_t(hi) * n + j] : 0.0;
    __syncthreads();
#pragma unroll
    for (int t = 0; t < TILE; t++) s += xs[threadIdx.y][t] * hs[threadIdx.x][t];
    __syncthreads();
  }
  if (r < rows && i < n) out[size_t(r) * n + i] = s;
}

__global__ void nearestKernel(const double* P, int64_t n, int g, const double* C, int K, int32_t* assign,
                              double* dist) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double bd;
  assign[i] = nearestCodeword(P + i * g, C, K, g, &bd);
  if (dist) dist[i] = bd;
}

__global__ void quadraticKernel(VqShape s, const double* H, const double* books, double* Q) {
  const int G = s.cols / s.g;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= int64_t(G) * s.M * s.K) return;
  const int k = int(idx % s.K), m = int((idx / s.K) % s.M), j = int(idx / (int64_t(s.K) * s.M));
  const double* c = books + (size_t(m) * s.K + k) * s.g;
  double v = 0;
  for (int p = 0; p < s.g; p++) {
    double a = 0;
    for (int q = 0; q < s.g; q++) a += H[size_t(j * s.g + p) * s.cols + j * s.g + q] * c[q];
    v += c[p] * a;
  }
  Q[idx] = v;
}

constexpr int CODE_THREADS = 128;
constexpr int MAX_DIM = 64;  // VQ_LIMITS.maxDim

__global__ void codesKernel(VqShape s, const double* H, const double* books, const double* scales, const double* Q,
                            int32_t* codes, double* E, double* P, unsigned long long* changed) {
  __shared__ double z[MAX_DIM], delta[MAX_DIM], redV[CODE_THREADS];
  __shared__ int redK[CODE_THREADS];
  __shared__ int chosen;
  const int r = blockIdx.x, tid = threadIdx.x;
  const int g = s.g, M = s.M, K = s.K, G = s.cols / g, cols = s.cols;
  const double sc = scales[r], s2 = sc * sc;
  double* e = E + size_t(r) * cols;
  double* Pr = P + size_t(r) * cols;
  unsigned long long mine = 0;
  for (int j = 0; j < G; j++) {
    const int j0 = j * g;
    for (int m = 0; m < M; m++) {
      const size_t ci = (size_t(r) * G + j) * M + m;
      const int a = codes[ci];
      const double* ob = books + (size_t(m) * K + a) * g;
      for (int p = tid; p < g; p += blockDim.x) {
        double t = 0;
        for (int q = 0; q < g; q++) t += H[size_t(j0 + p) * cols + j0 + q] * ob[q];
        z[p] = -2 * sc * (Pr[j0 + p] + sc * t);
      }
      __syncthreads();
      const double* Qr = Q + (size_t(j) * M + m) * K;
      double bv = DBL_MAX;
      int bk = K;
      for (int k = tid; k < K; k += blockDim.x) {
        const double* kb = books + (size_t(m) * K + k) * g;
        double val = s2 * Qr[k];
        for (int p = 0; p < g; p++) val += kb[p] * z[p];
        if (val < bv) {
          bv = val;
          bk = k;
        }
      }
      redV[tid] = bv;
      redK[tid] = bk;
      __syncthreads();
      for (int h = blockDim.x / 2; h > 0; h /= 2) {
        if (tid < h && (redV[tid + h] < redV[tid] || (redV[tid + h] == redV[tid] && redK[tid + h] < redK[tid]))) {
          redV[tid] = redV[tid + h];
          redK[tid] = redK[tid + h];
        }
        __syncthreads();
      }
      if (tid == 0) {
        double va = 0;
        for (int p = 0; p < g; p++) va += ob[p] * z[p];
        va += s2 * Qr[a];
        // move only for a strict gain, as the CPU's scan does
        chosen = redK[0] < K && redK[0] != a && redV[0] < va - 1e-15 * fabs(va) ? redK[0] : a;
        if (chosen != a) {
          codes[ci] = chosen;
          mine++;
          const double* nb = books + (size_t(m) * K + chosen) * g;
          for (int p = 0; p < g; p++) {
            delta[p] = sc * (ob[p] - nb[p]);
            e[j0 + p] += delta[p];
          }
        }
      }
      __syncthreads();
      if (chosen != a) {
        for (int i = tid; i < cols; i += blockDim.x) {
          double acc = Pr[i];
          for (int p = 0; p < g; p++) acc += H[size_t(j0 + p) * cols + i] * delta[p];
          Pr[i] = acc;
        }
      }
      __syncthreads();
    }
  }
  if (tid == 0 && mine) atomicAdd(changed, mine);
}

}  // namespace

void vqRowsTimesH(const double* H, const double* X, int rows, int n, double* out, const Ctx& ctx) {
  Stream st;
  DevBuf<double> dH(size_t(n) * n), dX(size_t(rows) * n), dO(size_t(rows) * n);
  dH.upload(H, dH.n, st);
  dX.upload(X, dX.n, st);
  const dim3 block(TILE, TILE), grid((n + TILE - 1) / TILE, (rows + TILE - 1) / TILE);
  rowsTimesHKernel<<<grid, block, 0, st>>>(dH.p, dX.p, rows, n, dO.p);
  QR_LAUNCHED("rowsTimesHKernel");
  dO.download(out, dO.n, st);
  st.sync();
  ctx.check();
}

void vqNearest(const double* points, int64_t n, int g, const double* C, int K, int32_t* assign, double* dist,
               const Ctx& ctx) {
  Stream st;
  DevBuf<double> dP(size_t(n) * g), dC(size_t(K) * g), dD(dist ? size_t(n) : 0);
  DevBuf<int32_t> dA(n);
  dP.upload(points, dP.n, st);
  dC.upload(C, dC.n, st);
  nearestKernel<<<unsigned((n + 255) / 256), 256, 0, st>>>(dP.p, n, g, dC.p, K, dA.p, dD.p);
  QR_LAUNCHED("nearestKernel");
  dA.download(assign, dA.n, st);
  if (dist) dD.download(dist, dD.n, st);
  st.sync();
  ctx.check();
}

int64_t vqCodes(const VqShape& s, const double* H, const double* books, const double* scales, int32_t* codes,
                double* E, double* P, const Ctx& ctx) {
  if (s.g > MAX_DIM) throw std::runtime_error("vq codes on CUDA: dim above 64");
  Stream st;
  const size_t rc = size_t(s.rows) * s.cols, nq = size_t(s.groups()) * s.M * s.K;
  DevBuf<double> dH(size_t(s.cols) * s.cols), dB(size_t(s.M) * s.K * s.g), dS(s.rows), dE(rc), dP(rc), dQ(nq);
  DevBuf<int32_t> dC(size_t(s.rows) * s.groups() * s.M);
  DevBuf<unsigned long long> dN(1);
  dH.upload(H, dH.n, st);
  dB.upload(books, dB.n, st);
  dS.upload(scales, dS.n, st);
  dE.upload(E, rc, st);
  dP.upload(P, rc, st);
  dC.upload(codes, dC.n, st);
  dN.zero(st);
  quadraticKernel<<<unsigned((nq + 255) / 256), 256, 0, st>>>(s, dH.p, dB.p, dQ.p);
  QR_LAUNCHED("quadraticKernel");
  codesKernel<<<s.rows, CODE_THREADS, 0, st>>>(s, dH.p, dB.p, dS.p, dQ.p, dC.p, dE.p, dP.p, dN.p);
  QR_LAUNCHED("codesKernel");
  unsigned long long changed = 0;
  dC.download(codes, dC.n, st);
  dE.download(E, rc, st);
  dP.download(P, rc, st);
  dN.download(&changed, 1, st);
  st.sync();
  ctx.check();
  return int64_t(changed);
}

}  // namespace cuda
}  // namespace qr
