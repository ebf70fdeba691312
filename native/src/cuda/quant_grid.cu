// RTN on the device: one thread fits each row or group (the CPU's fitParams, quant_grid.cuh) and
// rounds its values.
#include "../cuda_api.h"
#include "common.cuh"
#include "quant_grid.cuh"

namespace qr {
namespace cuda {

namespace {

/** Sequential fit of n values with stride 1 (one thread), the CPU's fitParams on the device. */
__device__ QParams dFit(const float* x, int n, const DSpec& s) {
  float xmin = 0.f, xmax = 0.f;
  for (int i = 0; i < n; i++) {
    xmin = fminf(xmin, x[i]);
    xmax = fmaxf(xmax, x[i]);
  }
  return dSearch(xmin, xmax, s, [&](QParams c) {
    float err = 0.f;
    for (int k = 0; k < n; k++) err += dErr(x[k], c, s);
    return err;
  });
}

__global__ void rtnKernel(const float* W, int rows, int cols, int g, int ng, DSpec s, float* scales, float* zeros,
                          uint8_t* codes, float* Q) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= rows * ng) return;
  const int r = idx / ng, k = idx % ng;
  const int len = min(g, cols - k * g);  // a shorter last group
  const float* x = W + size_t(r) * cols + size_t(k) * g;
  const QParams p = dFit(x, len, s);
  scales[idx] = p.scale;
  zeros[idx] = p.zero;
  if (!codes) return;
  for (int j = 0; j < len; j++) {
    const int c = dCode(x[j], p, s.maxq);
    codes[size_t(r) * cols + size_t(k) * g + j] = uint8_t(c);
    if (Q) Q[size_t(r) * cols + size_t(k) * g + j] = dDequant(c, p);
  }
}

}  // namespace

void rtn(const float* W, int rows, int cols, const QuantSpec& s, float* scales, float* zeros, uint8_t* codes, float* Q,
         const Ctx& ctx) {
  Stream st;
  const int g = s.groupSize > 0 ? s.groupSize : cols;
  const int ng = groupCount(cols, s);
  DevBuf<float> dW(size_t(rows) * cols), dS(size_t(rows) * ng), dZ(size_t(rows) * ng),
      dQ(Q ? size_t(rows) * cols : 0);
  DevBuf<uint8_t> dC(codes ? size_t(rows) * cols : 0);
  dW.upload(W, dW.n, st);
  const int n = rows * ng;
  rtnKernel<<<(n + 127) / 128, 128, 0, st>>>(dW.p, rows, cols, g, ng, toDevice(s), dS.p, dZ.p, dC.p, dQ.p);
  QR_LAUNCHED("rtnKernel");
  dS.download(scales, dS.n, st);
  dZ.download(zeros, dZ.n, st);
  if (codes) dC.download(codes, dC.n, st);
  if (Q) dQ.download(Q, dQ.n, st);
  st.sync();
  ctx.check();
}

}  // namespace cuda
}  // namespace qr
