// The product's shapes of the register-tile 4-bit dequant+GEMV on the tensor cores (the kernel and
// how it works: gemv_mma.cuh). The benchmark's other shapes are in native/bench/gemv_mma.cu.
#include "gemv_mma.cuh"

namespace qr {
namespace cuda {

const char* launchTileGemv4(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                            int g, const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  // measured on the H100 (docs/native.md): 8 warps per 16 rows while the row tiles fill about two
  // CTAs per SM (4096 rows), 4 beyond (11008 rows); PDL with registers capped near 80 a thread
  // (65536 / (threads · CTAs an SM)) where available (sm_90), neither before
  const DeviceFacts d = currentDeviceFacts();
  const bool pdl = d.major >= 9, wide = N / 16 <= 2 * d.sms;
  if (const char* why = mmaGemv4Unfit(B, x, N, K, g, pdl)) return why;
  if (pdl && wide) launchMma<8, 2, true, 3>(B, s, z, x, y, N, K, g, rp, ci, v, st);
  else if (pdl) launchMma<4, 2, true, 6>(B, s, z, x, y, N, K, g, rp, ci, v, st);
  else if (wide) launchMma<8, 2, false>(B, s, z, x, y, N, K, g, rp, ci, v, st);
  else launchMma<4, 2, false>(B, s, z, x, y, N, K, g, rp, ci, v, st);
  return nullptr;
}

}  // namespace cuda
}  // namespace qr
