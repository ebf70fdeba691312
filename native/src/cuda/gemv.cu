// The product's fused dequant+GEMV (gemv.cuh): which kernel takes a layer on this device, and the
// register kernel in the shapes the product uses. Kernel shapes that only the benchmark times, and
// its baselines, are in native/bench/ (built into qrecipe_bench.node, not into the product addon).
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>

#include "common.cuh"
#include "gemv.cuh"
#include "gemv_register.cuh"

namespace qr {
namespace cuda {

DeviceFacts currentDeviceFacts() {
  static thread_local int cachedDev = -1;
  static thread_local DeviceFacts f;
  int dev = 0;
  QR_CUDA(cudaGetDevice(&dev));
  if (dev != cachedDev) {
    QR_CUDA(cudaDeviceGetAttribute(&f.sms, cudaDevAttrMultiProcessorCount, dev));
    QR_CUDA(cudaDeviceGetAttribute(&f.major, cudaDevAttrComputeCapabilityMajor, dev));
    cachedDev = dev;
  }
  return f;
}

void launchRegisterGemv(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                        int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  // the fastest measured on the H100 (docs/native.md): <rows per warp, chunks per lane, warps per
  // block> <2,2,4>, one row per warp for 3 bits (its generic decode needs the registers), streaming
  // weight loads for 4 and 8 bits
  switch (bits) {
    case 2: launchGemv<2, 2, 2, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 3: launchGemv<3, 1, 4, 4>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 4: launchGemv<4, 2, 2, 4, true>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    case 8: launchGemv<8, 2, 2, 4, true>(B, s, z, x, y, N, K, g, rp, ci, v, st); return;
    default: throw std::runtime_error("dequant GEMV supports 2, 3, 4 and 8 bits");
  }
}

bool gemvUsesPacedLayout(int bits, int N, int K, int g) { return bits == 4 && !pacedGemv4Unfit(N, K, g); }

const char* dequantGemv(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                        int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  if (K % 32 || g % 32 || K % g)
    throw std::runtime_error("dequant GEMV needs cols and the group size to be multiples of 32");
  if (gemvUsesPacedLayout(bits, N, K, g)) {
    if (const char* why = launchPacedGemv4(B, s, z, x, y, N, K, g, rp, ci, v, st))
      throw std::runtime_error(std::string("the paced tensor-core GEMV does not fit: ") + why);
    return "paced";
  }
  if (bits == 4 && !launchTileGemv4(B, s, z, x, y, N, K, g, rp, ci, v, st)) return "tensor core";
  launchRegisterGemv(bits, B, s, z, x, y, N, K, g, rp, ci, v, st);
  return "register";
}

}  // namespace cuda
}  // namespace qr
