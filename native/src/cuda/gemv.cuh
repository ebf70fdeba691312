// The product's fused dequant+GEMV for group-quantised weights in MatMulNBits layout (row bit
// streams, low bits first), with optional fp16 CSR outliers: its entry point (dequantGemv, gemv.cu),
// the kernels it picks from (the paced 4-bit kernel, gemv_paced.cu; the register-tile 4-bit kernel,
// gemv_mma.cu; the register kernel for every width, gemv_register.cuh), and what they share: the
// streaming load, the fp16 bit tricks and the MMA of the two 4-bit tensor-core kernels, and their
// launch with programmatic dependent launch. The benchmark's other kernel shapes and baselines are
// in native/bench/, outside the product addon.
#pragma once
#include <cuda_fp16.h>

#include <cstdint>

#include "common.cuh"

namespace qr {
namespace cuda {

/** 16 bytes through the read-only path without allocating in L1 (weights are read once; x stays cached). */
__device__ __forceinline__ uint4 ldStream(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

/** What the GEMV launchers ask of the current device. */
struct DeviceFacts {
  int sms = 0;    // multiprocessors
  int major = 0;  // compute capability major (8: Ampere/Ada, 9: Hopper)
};

/** The current device's facts, queried once per device and host thread (no attribute queries per launch). */
DeviceFacts currentDeviceFacts();

/** (a & b) | c in one LOP3: places a nibble under an fp16 exponent. */
__device__ __forceinline__ uint32_t lop3AndOr(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

__device__ __forceinline__ __half2 asHalf2(uint32_t v) { return *reinterpret_cast<__half2*>(&v); }
__device__ __forceinline__ uint32_t asU32(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }

/** c += A·B for one m16n8k16 tile: fp16 inputs (A row-major fragment a0..a3, B column fragment b0, b1), fp32 sums. */
__device__ __forceinline__ void mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/**
 * Launches kernel on grid × block threads with smem bytes of dynamic shared memory on st, with
 * programmatic dependent launch (sm_90) when pdl.
 */
template <typename... Params, typename... Args>
void launchOnStream(void (*kernel)(Params...), unsigned grid, unsigned block, size_t smem, cudaStream_t st, bool pdl,
                    Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(block);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = st;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  QR_CUDA(cudaLaunchKernelEx(&cfg, kernel, args...));
}

/**
 * The product's y[N] = dequant(B)·x (+ CSR outliers rp/ci/v when rp is not null) on stream st, with
 * the kernel measured fastest for the layer on this device (docs/native.md): for 4 bits the paced
 * kernel where it fits (B then in repackPaced4's layout: see gemvUsesPacedLayout), else the
 * register-tile kernel where it fits, else the register kernel (2, 3, 4, 8 bits). Cols and the
 * group size must be multiples of 32. Returns the kernel's name: "paced", "tensor core", "register".
 */
const char* dequantGemv(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                        int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st);

/** Whether dequantGemv takes this layer with the paced kernel, whose B is in repackPaced4's layout. */
bool gemvUsesPacedLayout(int bits, int N, int K, int g);

/**
 * 4-bit y[N] = dequant(B)·x with the register-tile tensor-core kernel (gemv_mma.cu) in the shape
 * the product picks for this layer and device. Null when launched, else why it does not fit (see
 * mmaGemv4Unfit), with nothing launched.
 */
const char* launchTileGemv4(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                            int g, const int* rp, const int* ci, const __half* v, cudaStream_t st);

/**
 * The register kernel (gemv_register.cuh) in the product's shape for `bits` (2, 3, 4 or 8).
 */
void launchRegisterGemv(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                        int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st);

/**
 * Why the paced 4-bit kernel (gemv_paced.cu) cannot take this layer on the current device (sm_90
 * with bulk copies and PDL; rows % 16 with at most two 16-row tiles per SM; cols % 512 and small
 * enough for two CTAs' shared memory per SM; group = 128·2^j dividing cols), or null if it can.
 */
const char* pacedGemv4Unfit(int N, int K, int g);

/**
 * 4-bit y[N] = dequant(Bt)·x (gemv_paced.cu): Bt in repackPaced4's layout; the weight copies of each
 * SM paced `depth` runs deep (0: the default, 16 KiB in flight an SM; a depth ≥ the runs a CTA has
 * issues them all at once). Null when launched, else why not, with nothing launched.
 */
const char* launchPacedGemv4(const uint8_t* Bt, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                             int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int depth = 0);

/**
 * B (N × K 4-bit codes, MatMulNBits row streams, low nibble first) into out (same size) in
 * launchPacedGemv4's tile-major layout. Host code, once per weight matrix; N % 16, K % 128.
 */
void repackPaced4(const uint8_t* B, int N, int K, uint8_t* out);

}  // namespace cuda
}  // namespace qr
