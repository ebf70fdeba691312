// The Hopper path of the fused dequant+GEMV: a persistent grid whose blocks stream tiles of rows
// (packed codes, scales, zeros) into shared memory with bulk asynchronous copies (cp.async.bulk,
// completed on an mbarrier), several tiles ahead, while the threads compute on an earlier one.
//
// Why not plain loads: a register-load kernel has only the bytes its resident warps asked for in
// flight, and each warp's few loads are issued, waited for, then computed on; at 10 µs per call that
// ramp and tail cost about half the bandwidth (docs/native.md). Here the copy engine keeps STAGES
// tiles per block in flight from the first cycle to the last, independent of what the threads do.
//
// Layout of the work: thread t owns the CPT consecutive columns [t·CPT, (t+1)·CPT) of every row, so
// x (converted to float) lives in its registers for the whole kernel and a group of ≥ 32 columns
// never splits across a thread. A tile is T consecutive rows; each thread forms T partial dots, a
// warp folds them with a transposing shuffle reduction (T values over 32 lanes in log steps), and
// after the tile's barrier warp w adds up row w's partials from all warps (plus its CSR outliers).
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>

#include "gemv.cuh"

namespace qr {
namespace cuda {

namespace {

constexpr int TILE_ROWS = 8;

__device__ __forceinline__ float magicByte(uint32_t v, int b) {
  return __uint_as_float(__byte_perm(v, 0x4B000000u, 0x7440u | uint32_t(b)));
}

/** NW packed words (row bit stream, low bits first) as 2²³ + code, in column order. */
template <int BITS, int NW>
__device__ __forceinline__ void decodeWords(const uint32_t (&w)[NW], float (&f)[NW * 32 / BITS]) {
  if constexpr (BITS == 8) {
#pragma unroll
    for (int k = 0; k < NW; k++)
#pragma unroll
      for (int b = 0; b < 4; b++) f[4 * k + b] = magicByte(w[k], b);
  } else if constexpr (BITS == 4) {
#pragma unroll
    for (int k = 0; k < NW; k++) {
      const uint32_t lo = w[k] & 0x0F0F0F0Fu, hi = (w[k] >> 4) & 0x0F0F0F0Fu;
#pragma unroll
      for (int b = 0; b < 4; b++) {
        f[8 * k + 2 * b] = magicByte(lo, b);
        f[8 * k + 2 * b + 1] = magicByte(hi, b);
      }
    }
  } else {
    static_assert(BITS == 2, "bulk GEMV decodes 2, 4 and 8 bits");
#pragma unroll
    for (int k = 0; k < NW; k++)
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const uint32_t m = (w[k] >> (2 * s)) & 0x03030303u;
#pragma unroll
        for (int b = 0; b < 4; b++) f[16 * k + 4 * b + s] = magicByte(m, b);
      }
  }
}

template <int NW>
__device__ __forceinline__ void loadShared(const uint8_t* p, uint32_t (&w)[NW]) {
  if constexpr (NW == 4) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
  } else if constexpr (NW == 2) {
    const uint2 v = *reinterpret_cast<const uint2*>(p);
    w[0] = v.x; w[1] = v.y;
  } else if constexpr (NW == 1) {
    w[0] = *reinterpret_cast<const uint32_t*>(p);
  } else {
#pragma unroll
    for (int k = 0; k < NW; k += 4) {
      const uint4 v = reinterpret_cast<const uint4*>(p)[k / 4];
      w[k] = v.x; w[k + 1] = v.y; w[k + 2] = v.z; w[k + 3] = v.w;
    }
  }
}

/**
 * Reduces v[T] over the 32 lanes so that lane l ends with the full sum of row (l >> (5 − log₂T)):
 * each step trades half of the remaining values with the partner lane, so T rows cost
 * T − 1 + (5 − log₂T) shuffles instead of 5·T.
 */
template <int T>
__device__ __forceinline__ float transposeReduce(float (&v)[T], int lane) {
  int off = 16;
#pragma unroll
  for (int n = T; n > 1; n >>= 1, off >>= 1) {
    const bool upper = lane & off;
#pragma unroll
    for (int i = 0; i < n / 2; i++) {
      const float send = upper ? v[i] : v[i + n / 2];
      const float keep = upper ? v[i + n / 2] : v[i];
      v[i] = keep + __shfl_xor_sync(0xffffffffu, send, off);
    }
  }
  float s = v[0];
  for (; off; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  return s;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define QR_BULK_ARCH 1
#endif

__device__ __forceinline__ uint32_t smemAddr(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void barInit(uint64_t* bar) {
#ifdef QR_BULK_ARCH
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smemAddr(bar)));
#endif
}

__device__ __forceinline__ void barExpect(uint64_t* bar, uint32_t bytes) {
#ifdef QR_BULK_ARCH
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smemAddr(bar)), "r"(bytes) : "memory");
#endif
}

__device__ __forceinline__ void bulkCopy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
#ifdef QR_BULK_ARCH
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smemAddr(dst)),
      "l"(src), "r"(bytes), "r"(smemAddr(bar))
      : "memory");
#endif
}

__device__ __forceinline__ void barWait(uint64_t* bar, uint32_t parity) {
#ifdef QR_BULK_ARCH
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra WAIT_%=;\n"
      "}\n" ::"r"(smemAddr(bar)),
      "r"(parity)
      : "memory");
#endif
}

struct TileBytes {
  uint32_t codes, scales, zeros, stage;  // bytes of one tile's parts; stage = their padded sum
};

/**
 * One block per slot of the persistent grid; blockDim.x = K / CPT threads (a multiple of 32, ≤ 512).
 * Dynamic shared memory: STAGES (≤ 16) stages of tb.stage bytes, then 2 × warps × T floats of
 * partials, then 16 mbarriers.
 */
template <int BITS, int CPT>
__global__ void __launch_bounds__(512, 1) bulkGemvKernel(const uint8_t* __restrict__ B, const __half* __restrict__ scales,
                                                        const uint8_t* __restrict__ zeros, const __half* __restrict__ x,
                                                        float* __restrict__ y, int N, int K, int g, TileBytes tb, int STAGES,
                                                        const int* __restrict__ rowPtr, const int* __restrict__ colIdx,
                                                        const __half* __restrict__ vals) {
#ifdef QR_BULK_ARCH
  constexpr int T = TILE_ROWS, NW = CPT * BITS / 32;
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, warps = blockDim.x >> 5;
  float* red = reinterpret_cast<float*>(smem + size_t(STAGES) * tb.stage);  // [2][warps][T]
  uint64_t* bar = reinterpret_cast<uint64_t*>(red + 2 * warps * T);
  const int nTiles = N / T, ng = K / g;
  const int grp = tid * CPT / g;
  const uint32_t rowBytes = uint32_t(K) * BITS / 8;

  auto issue = [&](int tile, int s) {
    uint8_t* st = smem + size_t(s) * tb.stage;
    barExpect(&bar[s], tb.codes + tb.scales + tb.zeros);
    bulkCopy(st, B + size_t(tile) * tb.codes, tb.codes, &bar[s]);
    bulkCopy(st + tb.codes, scales + size_t(tile) * T * ng, tb.scales, &bar[s]);
    bulkCopy(st + tb.codes + tb.scales, zeros + size_t(tile) * T * ng, tb.zeros, &bar[s]);
  };
  if (tid == 0) {
    for (int s = 0; s < STAGES; s++) barInit(&bar[s]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    for (int s = 0; s < STAGES; s++) {
      const int tile = blockIdx.x + s * gridDim.x;
      if (tile < nTiles) issue(tile, s);
    }
  }
  float xr[CPT];
  {
    const uint4* xv = reinterpret_cast<const uint4*>(x + tid * CPT);
#pragma unroll
    for (int v = 0; v < CPT / 8; v++) {
      const uint4 t = __ldg(xv + v);
      const __half2* h = reinterpret_cast<const __half2*>(&t);
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const float2 f2 = __half22float2(h[e]);
        xr[8 * v + 2 * e] = f2.x;
        xr[8 * v + 2 * e + 1] = f2.y;
      }
    }
  }
  __syncthreads();

  for (int i = 0;; i++) {
    const int tile = blockIdx.x + i * gridDim.x;
    if (tile >= nTiles) break;
    const int s = i % STAGES;
    barWait(&bar[s], uint32_t(i / STAGES) & 1u);
    const uint8_t* st = smem + size_t(s) * tb.stage;
    const __half* sc = reinterpret_cast<const __half*>(st + tb.codes);
    const uint8_t* zp = st + tb.codes + tb.scales;
    float part[T];
#pragma unroll
    for (int r = 0; r < T; r++) {
      uint32_t w[NW];
      loadShared<NW>(st + size_t(r) * rowBytes + size_t(tid) * (CPT * BITS / 8), w);
      float f[CPT];
      decodeWords<BITS, NW>(w, f);
      const float m = 8388608.f + float(zp[r * ng + grp]);
      float p0 = 0.f, p1 = 0.f;  // two chains: T rows already give the FMAs independent work
#pragma unroll
      for (int j = 0; j < CPT; j += 2) {
        p0 = fmaf(f[j] - m, xr[j], p0);
        p1 = fmaf(f[j + 1] - m, xr[j + 1], p1);
      }
      part[r] = __half2float(sc[r * ng + grp]) * (p0 + p1);
    }
    const float rowSum = transposeReduce<T>(part, lane);
    float* rb = red + (i & 1) * warps * T;
    constexpr int SHIFT = 5 - (T == 8 ? 3 : T == 4 ? 2 : T == 16 ? 4 : 0);
    if ((lane & ((1 << SHIFT) - 1)) == 0) rb[warp * T + (lane >> SHIFT)] = rowSum;
    // every thread is done with stage s (its values are in registers) and has written its partials
    __syncthreads();
    if (tid == 0 && tile + STAGES * int(gridDim.x) < nTiles) issue(tile + STAGES * gridDim.x, s);
    for (int r = warp; r < T; r += warps) {
      const int row = tile * T + r;
      float a = lane < warps ? rb[lane * T + r] : 0.f;
      if (rowPtr)
        for (int k = rowPtr[row] + lane; k < rowPtr[row + 1]; k += 32)
          a = fmaf(__half2float(vals[k]), __half2float(x[colIdx[k]]), a);
      for (int o = 16; o; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
      if (lane == 0) y[row] = a;
    }
  }
#endif
}

template <int BITS, int CPT>
const char* launchBulk(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K, int g,
                       const int* rp, const int* ci, const __half* v, cudaStream_t st, int maxStages, int blocksPerSm) {
  const int threads = K / CPT;
  if (threads % 32 || threads > 512 || threads < 64) return "K / columns per thread is not 64..512 whole warps";
  const int ng = K / g;
  TileBytes tb;
  tb.codes = uint32_t(TILE_ROWS) * K * BITS / 8;
  tb.scales = uint32_t(TILE_ROWS) * ng * 2;
  tb.zeros = uint32_t(TILE_ROWS) * ng;
  if (tb.codes % 16 || tb.scales % 16 || tb.zeros % 16) return "a tile's codes, scales or zeros are not whole 16-byte words";
  tb.stage = (tb.codes + tb.scales + tb.zeros + 127) / 128 * 128;
  // device limits looked up once per device: a timed loop of 10 µs calls must not pay for attribute
  // queries on every launch
  struct Limits { int dev = -1, sms = 0, maxSmem = 0; };
  static std::mutex mu;
  static Limits cached;
  int dev = 0;
  QR_CUDA(cudaGetDevice(&dev));
  Limits lim;
  {
    std::lock_guard<std::mutex> lock(mu);
    lim = cached;
  }
  if (lim.dev != dev) {
    lim.dev = dev;
    QR_CUDA(cudaDeviceGetAttribute(&lim.sms, cudaDevAttrMultiProcessorCount, dev));
    QR_CUDA(cudaDeviceGetAttribute(&lim.maxSmem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    // once per device and instantiation: allow all of it (the launch asks for what it needs)
    QR_CUDA(cudaFuncSetAttribute(bulkGemvKernel<BITS, CPT>, cudaFuncAttributeMaxDynamicSharedMemorySize, lim.maxSmem));
    std::lock_guard<std::mutex> lock(mu);
    cached = lim;
  }
  // as many stages as fit: in shared memory one block per SM (blocksPerSm = 1) or that many blocks
  const size_t fixedBytes = 2 * size_t(threads / 32) * TILE_ROWS * 4 + 16 * 8;
  const size_t perBlock = size_t(lim.maxSmem) / size_t(std::max(1, blocksPerSm)) - (blocksPerSm > 1 ? 1024 : 0);
  const int stages = int(std::min<size_t>(size_t(maxStages), perBlock > fixedBytes ? (perBlock - fixedBytes) / tb.stage : 0));
  if (stages < 2) return "fewer than two tiles fit in shared memory";
  const size_t smemBytes = size_t(stages) * tb.stage + fixedBytes;
  const int nTiles = N / TILE_ROWS;
  const int grid = std::min(nTiles, lim.sms * std::max(1, blocksPerSm));
  bulkGemvKernel<BITS, CPT><<<grid, threads, smemBytes, st>>>(B, s, z, x, y, N, K, g, tb, stages, rp, ci, v);
  QR_LAUNCHED("bulkGemvKernel");
  return nullptr;
}

template <int BITS>
const char* launchBulkCols(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                           int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int maxStages,
                           int blocksPerSm) {
  // 16 columns per thread up to K = 8192 (at most 512 threads), 32 up to 16384
  if (K % (16 * 32) == 0 && K / 16 <= 512) return launchBulk<BITS, 16>(B, s, z, x, y, N, K, g, rp, ci, v, st, maxStages, blocksPerSm);
  if (K % (32 * 32) == 0 && K / 32 <= 512) return launchBulk<BITS, 32>(B, s, z, x, y, N, K, g, rp, ci, v, st, maxStages, blocksPerSm);
  return "K is not a multiple of 512 up to 8192 or of 1024 up to 16384";
}

}  // namespace

bool bulkGemvSupported() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
  return major >= 9;
}

const char* launchBulkGemv(int bits, const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                    int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int stages,
                    int blocksPerSm) {
  if (!bulkGemvSupported()) return "the device is older than Hopper";
  if (N % TILE_ROWS || g % 32 || K % g) return "rows are not a multiple of 8 or the group size does not fit";
  const uintptr_t align = reinterpret_cast<uintptr_t>(B) | reinterpret_cast<uintptr_t>(s) |
                          reinterpret_cast<uintptr_t>(z) | reinterpret_cast<uintptr_t>(x);
  if (align % 16) return "an array is not 16-byte aligned";
  stages = std::min(stages, 16);  // the kernel's barriers are sized for 16
  switch (bits) {
    case 2: return launchBulkCols<2>(B, s, z, x, y, N, K, g, rp, ci, v, st, stages, blocksPerSm);
    case 4: return launchBulkCols<4>(B, s, z, x, y, N, K, g, rp, ci, v, st, stages, blocksPerSm);
    case 8: return launchBulkCols<8>(B, s, z, x, y, N, K, g, rp, ci, v, st, stages, blocksPerSm);
    default: return "only 2, 4 and 8 bits";
  }
}

}  // namespace cuda
}  // namespace qr
