// 4-bit dequant+GEMV on the tensor cores for layers of at most two 16-row tiles per SM (4096 rows on
// an H100), whose weights reach shared memory by bulk copies before the programmatic-dependent-launch
// wait, paced so that the next layer's prefetch does not hold up this layer's read of x (sm_90).
//
// Why: in a chain of layers each GEMV can fetch its weights while the previous one computes, but it
// must read x after the previous one has ended, and that read is on the critical path of every call.
// A per-CTA timeline of the chain (globaltimer stamps; docs/native.md, "Where the 4096×4096 time
// goes") showed that x read from L2 takes as long as the memory requests queued ahead of it: with
// every CTA's whole tile requested at once (8.4 MB in flight) x took 1–2.4 µs; with the copies paced
// to about 16 KiB in flight an SM (2 MB in all, still enough to keep HBM busy) it takes about 0.6 µs,
// and the call drops from 5.1 to 3.7 µs.
//
// Structure:
// - grid = SM count, CTA c takes row tiles c and c + grid: every SM holds one CTA of this call and
//   one of the next (registers allow two), so no SM gets a double share when CTAs start out of turn;
// - each warp owns a contiguous run of 128-column blocks of one tile and copies it with one
//   cp.async.bulk on its own mbarrier; warp w issues its copy only once the run of warp w − depth
//   has landed (the pacing), all before the PDL wait;
// - per (tile, group, row) the decode constants and the scale are made before the wait too, laid
//   out so that a warp's 8 rows of one group are 128 contiguous bytes (one shared-memory wavefront);
// - decode: exact fp16 (q − z): a low nibble under 1024's exponent minus 1024 + z, a high nibble
//   under 64's (ulp 1/16) minus 64 + z — one LOP3 and one HSUB2 each, all exact; mma.sync m16n8k16
//   multiplies by x, which is used as it lies in shared memory (the layout orders the nibbles to match);
// - lanes t = 2, 3 process their four words in rotated order so that the four lanes reading x for
//   one MMA hit different banks.
//
// Layout (repackPaced4, once per weight matrix on the host): per 16-row tile, per 128-column block,
// two 512-byte halves (rows q and q + 8 of the fragment, q = lane / 4), lane l's 16 bytes at l·16;
// lane (q, t)'s word slot j holds the 8 columns 32t + 8·((j + t/2) % 4) .. + 7 of its block, column
// i of the 8 at nibble i/2 (even i) or 4 + i/2 (odd i).
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>

#include "gemv.cuh"

namespace qr {
namespace cuda {

namespace {

constexpr int kWarpsPerTile = 4;  // fastest measured at 4096² (8 were slower: docs/native.md)
constexpr int kTilesPerCta = 2;
constexpr int kWarps = kWarpsPerTile * kTilesPerCta;
constexpr size_t kMaxSmem = 110 * 1024;  // two CTAs an SM within the H100's 227 KiB
constexpr uint32_t kInFlightBytes = 16 * 1024;  // the pacing target per SM (docs/native.md)

__device__ __forceinline__ uint32_t smemAddr(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void barInit(uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smemAddr(bar)));
#endif
}

/** The one arrival on bar, announcing the bytes that the bulk copies completing on it will bring. */
__device__ __forceinline__ void barExpect(uint64_t* bar, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smemAddr(bar)), "r"(bytes) : "memory");
#endif
}

/** Copies bytes (a multiple of 16, both ends 16-byte aligned) from global src to shared dst; bar counts them. */
__device__ __forceinline__ void bulkCopy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smemAddr(dst)),
      "l"(src), "r"(bytes), "r"(smemAddr(bar))
      : "memory");
#endif
}

/** Until bar's first phase completes (every barrier here is used once per launch). */
__device__ __forceinline__ void barWait(uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], 0;\n"
      "@!p bra WAIT_%=;\n"
      "}\n" ::"r"(smemAddr(bar))
      : "memory");
#endif
}

/**
 * Word w's 8 codes as exact fp16 (q − z) pairs: p[0] = nibbles (0, 4), p[1] = (1, 5), p[2] = (2, 6),
 * p[3] = (3, 7). loL = 1024 + z and loH = 64 + z in both halves (a nibble at bits 4..7 under 64's
 * exponent reads as 64 + q, ulp 1/16).
 */
__device__ __forceinline__ void decodeExact(uint32_t w, uint32_t loL, uint32_t loH, uint32_t (&p)[4]) {
  const uint32_t w8 = w >> 8;
  p[0] = asU32(__hsub2(asHalf2(lop3AndOr(w, 0x000F000Fu, 0x64006400u)), asHalf2(loL)));
  p[1] = asU32(__hsub2(asHalf2(lop3AndOr(w, 0x00F000F0u, 0x54005400u)), asHalf2(loH)));
  p[2] = asU32(__hsub2(asHalf2(lop3AndOr(w8, 0x000F000Fu, 0x64006400u)), asHalf2(loL)));
  p[3] = asU32(__hsub2(asHalf2(lop3AndOr(w8, 0x00F000F0u, 0x54005400u)), asHalf2(loH)));
}

/**
 * Dynamic shared memory: the CTA's two tiles (8·K bytes each), x (2·K), the decode constants
 * ({1024 + z, 64 + z, scale} per tile, group and row: 16 bytes), then the raw scales and zero points
 * as the bulk copies bring them (32·ng and 16·ng bytes a tile). lgBpg = log2(group / 128); depth:
 * runs in flight an SM.
 */
__global__ void __launch_bounds__(kWarps * 32, 2) pacedGemv4Kernel(const uint8_t* __restrict__ Bt,
                                                                  const __half* __restrict__ scales,
                                                                  const uint8_t* __restrict__ zeros,
                                                                  const __half* __restrict__ x, float* __restrict__ y,
                                                                  int N, int K, int lgBpg, int depth,
                                                                  const int* __restrict__ rowPtr,
                                                                  const int* __restrict__ colIdx,
                                                                  const __half* __restrict__ vals) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bar[kWarps + 1];  // one per warp's run, the last for scales and zeros
  __shared__ float red[kWarps][16];
  const int G = gridDim.x, tiles = N / 16;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, tw = warp / kWarpsPerTile, wi = warp % kWarpsPerTile;
  const int q = lane >> 2, t = lane & 3;
  const int nb = K / 128, ng = nb >> lgBpg, bpw = nb / kWarpsPerTile;
  const uint32_t tileBytes = 8u * uint32_t(K), run = uint32_t(bpw) * 1024u;
  const int myTile = blockIdx.x + tw * G;
  const bool active = myTile < tiles;
  const uint32_t xOff = kTilesPerCta * tileBytes, cOff = xOff + 2 * K, rsOff = cOff + kTilesPerCta * 16 * ng * 16,
                 rzOff = rsOff + kTilesPerCta * 32 * ng;
  if (tid == 0) {
#pragma unroll
    for (int i = 0; i <= kWarps; i++) barInit(&bar[i]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (tid == 0) {
    uint32_t bytes = 0;
    for (int j = 0; j < kTilesPerCta; j++)
      if (blockIdx.x + j * G < tiles) bytes += 48u * ng;
    barExpect(&bar[kWarps], bytes);
    for (int j = 0; j < kTilesPerCta && blockIdx.x + j * G < tiles; j++) {
      const size_t tile = blockIdx.x + j * G;
      bulkCopy(smem + rsOff + j * 32 * ng, scales + tile * 16 * ng, 32u * ng, &bar[kWarps]);
      bulkCopy(smem + rzOff + j * 16 * ng, zeros + tile * 16 * ng, 16u * ng, &bar[kWarps]);
    }
  }
  // the next kernel of the stream may start its own copies; x and y wait for the previous one
  asm volatile("griddepcontrol.launch_dependents;");
  if (warp >= depth) {
    const int prev = warp - depth;
    if (blockIdx.x + (prev / kWarpsPerTile) * G < tiles) barWait(&bar[prev]);
  }
  if (lane == 0 && active) {
    barExpect(&bar[warp], run);
    bulkCopy(smem + tw * tileBytes + wi * run, Bt + size_t(myTile) * tileBytes + wi * run, run, &bar[warp]);
  }
  // this warp's constants (its tile's 16 rows × the groups its blocks touch) while the copies fly
  barWait(&bar[kWarps]);
  if (active) {
    const int g0 = (wi * bpw) >> lgBpg, g1 = (((wi + 1) * bpw - 1) >> lgBpg) + 1;
    for (int i = lane; i < 16 * (g1 - g0); i += 32) {
      const int row = i & 15, grp = g0 + (i >> 4), raw = (tw * 16 + row) * ng + grp;
      const uint32_t z = smem[rzOff + raw];
      uint4 c;
      c.x = (0x6400u + z) * 0x10001u;        // 1024 + z
      c.y = (0x5400u + 16u * z) * 0x10001u;  // 64 + z
      c.z = __float_as_uint(__half2float(reinterpret_cast<const __half*>(smem + rsOff)[raw]));
      c.w = 0;
      reinterpret_cast<uint4*>(smem + cOff)[(tw * ng + grp) * 16 + row] = c;
    }
  }
  __syncwarp();
  asm volatile("griddepcontrol.wait;" ::: "memory");
  for (int i = tid; i < K / 8; i += kWarps * 32)
    reinterpret_cast<uint4*>(smem + xOff)[i] = __ldg(reinterpret_cast<const uint4*>(x) + i);
  __syncthreads();
  float yA = 0.f, yB = 0.f;
  if (active) {
    barWait(&bar[warp]);
    const uint8_t* wp = smem + tw * tileBytes + wi * run + lane * 16;
    const uint4* cA = reinterpret_cast<const uint4*>(smem + cOff) + tw * 16 * ng + q;
    const uint4* sX = reinterpret_cast<const uint4*>(smem + xOff);
    const int rot = t >> 1;
#pragma unroll 2
    for (int i = 0; i < bpw; i++) {
      const int b = wi * bpw + i, grp = b >> lgBpg;
      const uint4 wa = *reinterpret_cast<const uint4*>(wp + i * 1024);
      const uint4 wb = *reinterpret_cast<const uint4*>(wp + i * 1024 + 512);
      const uint4 ka = cA[grp * 16], kb = cA[grp * 16 + 8];
      const uint4* xp = sX + b * 16 + t * 4;
      const uint32_t wA[4] = {wa.x, wa.y, wa.z, wa.w}, wB[4] = {wb.x, wb.y, wb.z, wb.w};
      // two accumulators: two chains of dependent MMAs, half as long
      float c[4] = {0.f, 0.f, 0.f, 0.f}, d[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int k = 0; k < 4; k++) {
        uint32_t A[4], Bq[4];
        decodeExact(wA[k], ka.x, ka.y, A);
        decodeExact(wB[k], kb.x, kb.y, Bq);
        const uint4 xv = xp[(k + rot) & 3];  // the 8 columns of word slot k, as the pairs hold them
        mma16816(c, A[0], Bq[0], A[1], Bq[1], xv.x, xv.y);
        mma16816(d, A[2], Bq[2], A[3], Bq[3], xv.z, xv.w);
      }
      // c[0], d[0]: row q; c[2], d[2]: row q + 8 (every column of the product is the same dot product)
      yA = fmaf(__uint_as_float(ka.z), c[0] + d[0], yA);
      yB = fmaf(__uint_as_float(kb.z), c[2] + d[2], yB);
    }
  }
  if (t == 0) {
    red[warp][q] = yA;
    red[warp][q + 8] = yB;
  }
  __syncthreads();
  // SUB threads per row add the warps' partials and the row's outliers
  constexpr int SUB = kWarpsPerTile * 32 / 16;
  const int row = tid / SUB, sub = tid % SUB, tile = blockIdx.x + (row / 16) * G;
  if (tile >= tiles) return;
  const int r = tile * 16 + row % 16;
  float a = sub < kWarpsPerTile ? red[(row / 16) * kWarpsPerTile + sub][row % 16] : 0.f;
  if (rowPtr)
    for (int k = rowPtr[r] + sub; k < rowPtr[r + 1]; k += SUB) a = fmaf(__half2float(vals[k]), __half2float(x[colIdx[k]]), a);
#pragma unroll
  for (int o = SUB / 2; o; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o, SUB);
  if (sub == 0) y[r] = a;
#endif
}

size_t smemBytes(int K, int g) {
  const size_t ng = size_t(K) / g;
  return kTilesPerCta * (size_t(K) * 8 + ng * 16 * (16 + 3)) + size_t(K) * 2;
}

}  // namespace

const char* pacedGemv4Unfit(int N, int K, int g) {
  const DeviceFacts d = currentDeviceFacts();
  if (d.major < 9) return "bulk copies and programmatic dependent launch need sm_90";
  if (N % 16) return "rows are not a multiple of 16";
  if (N / 16 > kTilesPerCta * d.sms) return "more than two 16-row tiles per SM";
  if (K % (128 * kWarpsPerTile)) return "cols are not a multiple of 512";
  if (g % 128 || K % g || ((g / 128) & (g / 128 - 1))) return "the group size is not 128 times a power of two dividing cols";
  if (smemBytes(K, g) > kMaxSmem) return "two tiles and x do not fit in 110 KiB of shared memory (at most 4608 cols at group 128)";
  return nullptr;
}

const char* launchPacedGemv4(const uint8_t* Bt, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                             int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int depth) {
  if (const char* why = pacedGemv4Unfit(N, K, g)) return why;
  if ((reinterpret_cast<uintptr_t>(Bt) | reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(s) |
       reinterpret_cast<uintptr_t>(z)) % 16)
    return "the weights, x, scales or zero points are not 16-byte aligned";
  // per device, once: room for more than 48 KiB, and the carve-out as shared memory (else the driver
  // may size it for this kernel's CTAs alone, leaving none for the next kernel's beside them)
  static std::atomic<uint64_t> configured{0};
  int dev = 0;
  QR_CUDA(cudaGetDevice(&dev));
  if (!(configured.load() >> (dev & 63) & 1)) {
    QR_CUDA(cudaFuncSetAttribute(pacedGemv4Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kMaxSmem)));
    QR_CUDA(cudaFuncSetAttribute(pacedGemv4Kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                 cudaSharedmemCarveoutMaxShared));
    configured.fetch_or(uint64_t(1) << (dev & 63));
  }
  const uint32_t runBytes = uint32_t(K / 128 / kWarpsPerTile) * 1024u;
  if (depth <= 0) depth = int(std::max<uint32_t>(1, kInFlightBytes / runBytes));
  const int lgBpg = __builtin_ctz(unsigned(g / 128));
  launchOnStream(pacedGemv4Kernel, unsigned(currentDeviceFacts().sms), kWarps * 32, smemBytes(K, g), st, true, Bt, s, z, x, y,
                 N, K, lgBpg, depth, rp, ci, v);
  return nullptr;
}

void repackPaced4(const uint8_t* B, int N, int K, uint8_t* out) {
  if (N % 16 || K % 128) throw std::runtime_error("the paced layout needs rows % 16 and cols % 128");
  const size_t rowBytes = size_t(K) / 2;
  auto code = [&](int r, int c) { return (B[size_t(r) * rowBytes + c / 2] >> (4 * (c & 1))) & 15u; };
  for (int tile = 0; tile < N / 16; tile++)
    for (int b = 0; b < K / 128; b++)
      for (int h = 0; h < 2; h++)
        for (int lane = 0; lane < 32; lane++)
          for (int j = 0; j < 4; j++) {
            const int t = lane & 3, r = tile * 16 + (lane >> 2) + 8 * h;
            const int c0 = b * 128 + 32 * t + 8 * ((j + (t >> 1)) & 3);
            uint32_t w = 0;
            for (int i = 0; i < 8; i++) w |= code(r, c0 + i) << (4 * ((i & 1) ? 4 + i / 2 : i / 2));
            uint8_t* o = out + size_t(tile) * 8 * K + size_t(b) * 1024 + h * 512 + lane * 16 + j * 4;
            for (int k = 0; k < 4; k++) o[k] = uint8_t(w >> (8 * k));
          }
}

}  // namespace cuda
}  // namespace qr
