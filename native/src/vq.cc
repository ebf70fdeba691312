// AQLM's heavy loops on the CPU (vq.h). Every output is summed in the order vq.ts sums it, and
// nothing is fused (the addon's baseline target has no FMA), so the results equal the TypeScript
// path's bit for bit; the threads split independent outputs (rows, points, codewords), never a sum.
#include "vq.h"
#include "vq_nearest.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace qr {

void rowsTimesH64(const double* H, const double* X, int rows, int n, double* out, const Ctx& ctx) {
  // blocks of rows that fit in ~256 KB share one pass over H, as in vq.ts
  const int block = std::max(1, std::min(rows, 32768 / n));
  for (int r0 = 0; r0 < rows; r0 += block) {
    ctx.check();
    const int r1 = std::min(rows, r0 + block);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
      const double* h = H + size_t(i) * n;
      for (int r = r0; r < r1; r++) {
        const double* x = X + size_t(r) * n;
        double s = 0;
        for (int j = 0; j < n; j++) s += h[j] * x[j];
        out[size_t(r) * n + i] = s;
      }
    }
  }
}

void vqNearest(const double* points, int64_t n, int g, const double* C, int K, int32_t* assign, double* dist,
               const Ctx& ctx) {
  const int64_t chunk = 4096;
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    ctx.check();
    const int64_t i1 = std::min(n, i0 + chunk);
#pragma omp parallel for schedule(static)
    for (int64_t i = i0; i < i1; i++) {
      double bd;
      assign[i] = nearestCodeword(points + i * g, C, K, g, &bd);
      if (dist) dist[i] = bd;
    }
  }
}

void vqQuadratic(const VqShape& s, const double* H, const double* books, double* Q) {
  const int g = s.g, M = s.M, K = s.K, G = s.groups(), cols = s.cols;
#pragma omp parallel for schedule(static)
  for (int j = 0; j < G; j++)
    for (int m = 0; m < M; m++)
      for (int k = 0; k < K; k++) {
        const double* c = books + (size_t(m) * K + k) * g;
        double v = 0;
        for (int p = 0; p < g; p++) {
          double a = 0;
          for (int q = 0; q < g; q++) a += H[size_t(j * g + p) * cols + j * g + q] * c[q];
          v += c[p] * a;
        }
        Q[(size_t(j) * M + m) * K + k] = v;
      }
}

int64_t vqCodes(const VqShape& s, const double* H, const double* books, const double* scales, int32_t* codes,
                double* E, double* P, const Ctx& ctx) {
  const int g = s.g, M = s.M, K = s.K, G = s.groups(), cols = s.cols, rows = s.rows;
  std::vector<double> Q(size_t(G) * M * K);
  vqQuadratic(s, H, books, Q.data());
  int64_t changed = 0;
  const int chunk = 64;
  for (int r0 = 0; r0 < rows; r0 += chunk) {
    ctx.check();
    const int r1 = std::min(rows, r0 + chunk);
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : changed)
    for (int r = r0; r < r1; r++) {
      std::vector<double> z(g), delta(g);
      const double sc = scales[r];
      double* e = E + size_t(r) * cols;
      double* Pr = P + size_t(r) * cols;
      for (int j = 0; j < G; j++) {
        const int j0 = j * g;
        for (int m = 0; m < M; m++) {
          const size_t ci = (size_t(r) * G + j) * M + m;
          const int a = codes[ci];
          const double* ob = books + (size_t(m) * K + a) * g;
          for (int p = 0; p < g; p++) {
            double t = 0;
            for (int q = 0; q < g; q++) t += H[size_t(j0 + p) * cols + j0 + q] * ob[q];
            z[p] = -2 * sc * (Pr[j0 + p] + sc * t);
          }
          const double* Qr = Q.data() + (size_t(j) * M + m) * K;
          const double s2 = sc * sc;
          int best = a;
          double bestVal = 0;
          for (int p = 0; p < g; p++) bestVal += ob[p] * z[p];
          bestVal += s2 * Qr[a];
          for (int k = 0; k < K; k++) {
            const double* kb = books + (size_t(m) * K + k) * g;
            double val = s2 * Qr[k];
            for (int p = 0; p < g; p++) val += kb[p] * z[p];
            if (val < bestVal - 1e-15 * std::fabs(bestVal)) {
              bestVal = val;
              best = k;
            }
          }
          if (best == a) continue;
          codes[ci] = best;
          changed++;
          const double* nb = books + (size_t(m) * K + best) * g;
          for (int p = 0; p < g; p++) {
            delta[p] = sc * (ob[p] - nb[p]);
            e[j0 + p] += delta[p];
          }
          // P += H[:, group]·δ, read as rows of the symmetric H
          for (int p = 0; p < g; p++) {
            const double d = delta[p];
            if (d == 0) continue;
            const double* hr = H + size_t(j0 + p) * cols;
            for (int i = 0; i < cols; i++) Pr[i] += hr[i] * d;
          }
        }
      }
    }
  }
  return changed;
}

void vqNormal(const VqShape& s, int m, const double* H, const int32_t* codes, const double* scales, double* N,
              const Ctx& ctx) {
  const int g = s.g, M = s.M, K = s.K, G = s.groups(), cols = s.cols, rows = s.rows;
  const int64_t n = int64_t(K) * g;
  const int64_t occ = int64_t(rows) * G;
  // occurrences (r, j) bucketed by code in increasing order (vq.ts's counting sort); a code's
  // bucket writes only N's rows of that code, so codes run in parallel without races
  std::vector<int64_t> start(K + 1, 0);
  for (int64_t i = 0; i < occ; i++) start[codes[i * M + m] + 1]++;
  for (int k = 0; k < K; k++) start[k + 1] += start[k];
  std::vector<int64_t> order(occ);
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < occ; i++) order[fill[codes[i * M + m]]++] = i;
  }
  ctx.check();
#pragma omp parallel for schedule(dynamic, 4)
  for (int k = 0; k < K; k++) {
    for (int64_t t = start[k]; t < start[k + 1]; t++) {
      const int64_t i = order[t];
      const int64_t r = i / G;
      const int j = int(i - r * G);
      const double s2 = scales[r] * scales[r];
      const int32_t* rowCodes = codes + r * G * M;
      for (int p = 0; p < g; p++) {
        const double* hrow = H + size_t(j * g + p) * cols;
        double* nrow = N + (int64_t(k) * g + p) * n;
        for (int jj = 0; jj < G; jj++) {
          const double* src = hrow + size_t(jj) * g;
          double* dst = nrow + int64_t(rowCodes[size_t(jj) * M + m]) * g;
          for (int q = 0; q < g; q++) dst[q] += s2 * src[q];
        }
      }
    }
  }
}

}  // namespace qr
