// 4-bit dequant+GEMV on the tensor cores whose CTA brings its whole weight tile into shared memory by
// bulk copies (cp.async.bulk, sm_90) before it waits for the previous kernel of the stream.
//
// Why: in a chain of layers the register kernel (gemv_mma.cu) can hold only half of its tile before
// the programmatic-dependent-launch wait — the registers it would need are the room the next
// kernel's CTAs start in — so half of every call's weights are fetched after the previous call
// has ended, while the memory system idles (docs/native.md, "Where the 4096×4096 time goes"). Shared
// memory holds a whole 16-row tile (32 KiB at 4096 columns) for this kernel's CTAs and the next
// kernel's at once, and a bulk copy costs one instruction per warp instead of one per 16 bytes.
//
// The copy moves bytes as they lie, so the weights come in a tile-major layout (repackStaged4,
// done once, as Marlin-style kernels do): per 16-row tile, per 128-column block, two 512-byte
// halves (rows q and q + 8 of the MMA fragment), lane l's 16 bytes at l·16 — conflict-free 16-byte
// shared loads. Within a lane's 16 bytes, word k holds columns 32t + 8k .. + 7 of the block with
// their nibbles ordered so that decode8's pairs are consecutive columns: x is used as it lies.
// Scales and zero points keep the row-major layout (a tile's rows are contiguous there too).
#include <cuda_fp16.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>

#include "gemv.cuh"

namespace qr {
namespace cuda {

namespace {

__device__ __forceinline__ uint32_t smemAddr(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void barInit(uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smemAddr(bar)));
#endif
}

/** Arms bar for bytes and copies them from global src to shared dst; bar completes when they land. */
__device__ __forceinline__ void bulkCopy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smemAddr(dst)),
      "l"(src), "r"(bytes), "r"(smemAddr(bar))
      : "memory");
#endif
}

__device__ __forceinline__ void barExpect(uint64_t* bar, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smemAddr(bar)), "r"(bytes) : "memory");
#endif
}

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
 * T consecutive 16-row tiles per CTA, WT warps per tile splitting its 128-column blocks into
 * contiguous runs (warp w: tile w / WT, blocks [(w % WT)·bpw, + bpw)), each run one bulk copy on its
 * own mbarrier. Dynamic shared memory: the tiles' weights (T·8·K bytes), x (2·K), the tiles' scales
 * (T·32·ng) and zero points (T·16·ng). lgBpg = log2(group size / 128).
 */
template <int WT, int T, int MINB, bool PROBE = false>
__global__ void __launch_bounds__(WT * T * 32, MINB) stagedGemv4Kernel(const uint8_t* __restrict__ Bt,
                                                                      const __half* __restrict__ scales,
                                                                      const uint8_t* __restrict__ zeros,
                                                                      const __half* __restrict__ x, float* __restrict__ y,
                                                                      int N, int K, int lgBpg, const int* __restrict__ rowPtr,
                                                                      const int* __restrict__ colIdx,
                                                                      const __half* __restrict__ vals) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int WARPS = WT * T;
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bar[WARPS + 1];  // one per warp's run of blocks, the last for scales and zeros
  __shared__ float red[WARPS][16];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, tw = warp / WT, wi = warp % WT;
  const int q = lane >> 2, t = lane & 3;
  const int nb = K / 128, ng = (nb >> lgBpg), bpw = nb / WT;
  const int tile0 = blockIdx.x * T, tiles = min(T, N / 16 - tile0);
  const uint32_t tileBytes = 8u * uint32_t(K);
  const uint32_t xOff = T * tileBytes, sOff = xOff + 2 * K, zOff = sOff + T * 32 * ng;
  if (tid == 0) {
#pragma unroll
    for (int i = 0; i <= WARPS; i++) barInit(&bar[i]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (lane == 0 && tw < tiles) {
    const uint32_t run = uint32_t(bpw) * 1024u;
    barExpect(&bar[warp], run);
    bulkCopy(smem + tw * tileBytes + wi * run, Bt + size_t(tile0 + tw) * tileBytes + wi * run, run, &bar[warp]);
    if (warp == WARPS - 1) {
      barExpect(&bar[WARPS], 48u * ng * tiles);
      bulkCopy(smem + sOff, scales + size_t(tile0) * 16 * ng, 32u * ng * tiles, &bar[WARPS]);
      bulkCopy(smem + zOff, zeros + size_t(tile0) * 16 * ng, 16u * ng * tiles, &bar[WARPS]);
    }
  }
  // the next kernel may start its own copies; x and y belong to the previous kernel until it ends
  asm volatile("griddepcontrol.launch_dependents;");
  asm volatile("griddepcontrol.wait;" ::: "memory");
  for (int i = tid; i < K / 8; i += WARPS * 32)
    reinterpret_cast<uint4*>(smem + xOff)[i] = __ldg(reinterpret_cast<const uint4*>(x) + i);
  __syncthreads();
  float accA = 0.f, accB = 0.f;
  if (tw < tiles) {
    barWait(&bar[WARPS]);
    barWait(&bar[warp]);
    const uint8_t* wp = smem + tw * tileBytes + wi * bpw * 1024 + lane * 16;
    const __half* sS = reinterpret_cast<const __half*>(smem + sOff) + tw * 16 * ng;
    const uint8_t* sZ = smem + zOff + tw * 16 * ng;
    const uint4* sX = reinterpret_cast<const uint4*>(smem + xOff);
    if (PROBE) accA = float(wp[warp]);
    else {
#pragma unroll 2
      for (int i = 0; i < bpw; i++) {
        const int b = wi * bpw + i, grp = b >> lgBpg;
        const uint4 wa = *reinterpret_cast<const uint4*>(wp + i * 1024);
        const uint4 wb = *reinterpret_cast<const uint4*>(wp + i * 1024 + 512);
        const int za = sZ[q * ng + grp], zb = sZ[(q + 8) * ng + grp];
        const float sa = __half2float(sS[q * ng + grp]), sb = __half2float(sS[(q + 8) * ng + grp]);
        const uint32_t loA = (0x6400u + uint32_t(za)) * 0x10001u, loB = (0x6400u + uint32_t(zb)) * 0x10001u;
        const __half2 hiA = __float2half2_rn(-64.f - float(za)), hiB = __float2half2_rn(-64.f - float(zb));
        const uint32_t wA[4] = {wa.x, wa.y, wa.z, wa.w}, wB[4] = {wb.x, wb.y, wb.z, wb.w};
        const uint4* xp = sX + b * 16 + t * 4;
        // two accumulators: two chains of dependent MMAs, half as long
        float c[4] = {0.f, 0.f, 0.f, 0.f}, d[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int k = 0; k < 4; k++) {
          uint32_t A[4], Bq[4];
          decode8(wA[k], loA, hiA, A);
          decode8(wB[k], loB, hiB, Bq);
          const uint4 xv = xp[k];  // columns 32t + 8k .. + 7 of the block, as decode8's pairs hold them
          mma16816(c, A[0], Bq[0], A[1], Bq[1], xv.x, xv.y);
          mma16816(d, A[2], Bq[2], A[3], Bq[3], xv.z, xv.w);
        }
        accA = fmaf(sa, c[0] + d[0], accA);
        accB = fmaf(sb, c[2] + d[2], accB);
      }
    }
  }
  if (t == 0) {
    red[warp][q] = accA;
    red[warp][q + 8] = accB;
  }
  __syncthreads();
  constexpr int SUB = WT * 32 / 16;  // threads per row adding the warps' partials and the outliers
  const int row = tid / SUB, sub = tid % SUB, r = tile0 * 16 + row;
  if (row >= tiles * 16) return;
  float a = sub < WT ? red[(row / 16) * WT + sub][row % 16] : 0.f;
  if (rowPtr)
    for (int k = rowPtr[r] + sub; k < rowPtr[r + 1]; k += SUB) a = fmaf(__half2float(vals[k]), __half2float(x[colIdx[k]]), a);
#pragma unroll
  for (int o = SUB / 2; o; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
  if (sub == 0) y[r] = a;
#endif
}

/**
 * Two 16-row tiles per CTA whose warps each take the same run of blocks in both tiles, so one x
 * fragment feeds two tiles' MMAs; x stored swizzled (no bank conflicts between lanes t and t + 2);
 * per (group, row) constants (lo, hi, scale) made before the PDL wait into conflict-free arrays.
 */
template <int WARPS>
__global__ void __launch_bounds__(WARPS * 32, 2) pairGemv4Kernel(const uint8_t* __restrict__ Bt,
                                                                const __half* __restrict__ scales,
                                                                const uint8_t* __restrict__ zeros,
                                                                const __half* __restrict__ x, float* __restrict__ y, int N,
                                                                int K, int lgBpg) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bar[WARPS + 1];
  __shared__ float red[WARPS][32];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int q = lane >> 2, t = lane & 3, xsw = (t >> 1) << 1;
  const int nb = K / 128, ng = nb >> lgBpg, bpw = nb / WARPS;
  const int tile0 = blockIdx.x * 2;
  const uint32_t tileBytes = 8u * uint32_t(K);
  const uint32_t xOff = 2 * tileBytes, cOff = xOff + 2 * K, sOff = cOff + 2 * 16 * ng * 12, zOff = sOff + 2 * 32 * ng;
  uint32_t* cLo = reinterpret_cast<uint32_t*>(smem + cOff);  // [grp][32 rows]
  uint32_t* cHi = cLo + 32 * ng;
  float* cS = reinterpret_cast<float*>(cHi + 32 * ng);
  if (tid == 0) {
#pragma unroll
    for (int i = 0; i <= WARPS; i++) barInit(&bar[i]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (lane == 0) {
    const uint32_t run = uint32_t(bpw) * 1024u;
    barExpect(&bar[warp], 2 * run);
    bulkCopy(smem + warp * run, Bt + size_t(tile0) * tileBytes + warp * run, run, &bar[warp]);
    bulkCopy(smem + tileBytes + warp * run, Bt + size_t(tile0 + 1) * tileBytes + warp * run, run, &bar[warp]);
    if (warp == WARPS - 1) {
      barExpect(&bar[WARPS], 96u * ng);
      bulkCopy(smem + sOff, scales + size_t(tile0) * 16 * ng, 64u * ng, &bar[WARPS]);
      bulkCopy(smem + zOff, zeros + size_t(tile0) * 16 * ng, 32u * ng, &bar[WARPS]);
    }
  }
  asm volatile("griddepcontrol.launch_dependents;");
  // before the wait (time this CTA would spend waiting anyway): the per-(group, row) constants
  barWait(&bar[WARPS]);
  for (int i = tid; i < 32 * ng; i += WARPS * 32) {
    const int row = i / ng, grp = i % ng;  // raw arrays are row-major [32 rows][ng]
    const uint32_t z = smem[zOff + i];
    cLo[grp * 32 + row] = (0x6400u + z) * 0x10001u;
    cHi[grp * 32 + row] = (0xD400u + 16u * z) * 0x10001u;  // −(64 + z) in fp16, exact for z ≤ 15
    cS[grp * 32 + row] = __half2float(reinterpret_cast<const __half*>(smem + sOff)[i]);
  }
  asm volatile("griddepcontrol.wait;" ::: "memory");
  for (int i = tid; i < K / 8; i += WARPS * 32)
    reinterpret_cast<uint4*>(smem + xOff)[i ^ ((i >> 2) & 2)] = __ldg(reinterpret_cast<const uint4*>(x) + i);
  __syncthreads();
  barWait(&bar[warp]);
  float acc[4] = {0.f, 0.f, 0.f, 0.f};  // tile 0 rows q, q + 8, tile 1 rows q, q + 8
  const uint8_t* wp = smem + size_t(warp) * bpw * 1024 + lane * 16;
  const uint4* sX = reinterpret_cast<const uint4*>(smem + xOff);
#pragma unroll 1
  for (int i = 0; i < bpw; i++) {
    const int b = warp * bpw + i, grp = b >> lgBpg;
    const uint4* xp = sX + b * 16 + t * 4;
    uint4 xv[4];
#pragma unroll
    for (int k = 0; k < 4; k++) xv[k] = xp[k ^ xsw];
#pragma unroll
    for (int tl = 0; tl < 2; tl++) {
      const uint4 wa = *reinterpret_cast<const uint4*>(wp + tl * tileBytes + i * 1024);
      const uint4 wb = *reinterpret_cast<const uint4*>(wp + tl * tileBytes + i * 1024 + 512);
      const int ci = grp * 32 + tl * 16 + q;
      const uint32_t loA = cLo[ci], loB = cLo[ci + 8];
      const __half2 hiA = asHalf2(cHi[ci]), hiB = asHalf2(cHi[ci + 8]);
      const uint32_t wA[4] = {wa.x, wa.y, wa.z, wa.w}, wB[4] = {wb.x, wb.y, wb.z, wb.w};
      float c[4] = {0.f, 0.f, 0.f, 0.f}, d[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int k = 0; k < 4; k++) {
        uint32_t A[4], Bq[4];
        decode8(wA[k], loA, hiA, A);
        decode8(wB[k], loB, hiB, Bq);
        mma16816(c, A[0], Bq[0], A[1], Bq[1], xv[k].x, xv[k].y);
        mma16816(d, A[2], Bq[2], A[3], Bq[3], xv[k].z, xv[k].w);
      }
      acc[2 * tl] = fmaf(cS[ci], c[0] + d[0], acc[2 * tl]);
      acc[2 * tl + 1] = fmaf(cS[ci + 8], c[2] + d[2], acc[2 * tl + 1]);
    }
  }
  if (t == 0) {
    red[warp][q] = acc[0];
    red[warp][q + 8] = acc[1];
    red[warp][16 + q] = acc[2];
    red[warp][24 + q] = acc[3];
  }
  __syncthreads();
  constexpr int SUB = WARPS * 32 / 32;
  const int row = tid / SUB, sub = tid % SUB;
  float a = sub < WARPS ? red[sub][row] : 0.f;
#pragma unroll
  for (int o = SUB / 2; o; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
  if (sub == 0) y[tile0 * 16 + row] = a;
#endif
}

template <int WT, int T, int MINB, bool PROBE = false>
void launchStaged(const uint8_t* Bt, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K,
                  int lgBpg, const int* rp, const int* ci, const __half* v, cudaStream_t st, size_t smemBytes) {
  auto kernel = stagedGemv4Kernel<WT, T, MINB, PROBE>;
  // per device, once: the most shared memory the SM can have (else the driver may size the
  // carve-out for this kernel's CTAs alone, leaving no room for the next kernel's beside them)
  static std::atomic<uint64_t> configured{0};
  int dev = 0;
  QR_CUDA(cudaGetDevice(&dev));
  if (!(configured.load() >> (dev & 63) & 1)) {
    QR_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
    QR_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
    configured.fetch_or(uint64_t(1) << (dev & 63));
  }
  launchOnStream(kernel, (N / 16 + T - 1) / T, WT * T * 32, smemBytes, st, true, Bt, s, z, x, y, N, K, lgBpg, rp, ci, v);
}

}  // namespace

void repackStaged4(const uint8_t* B, int N, int K, uint8_t* out) {
  if (N % 16 || K % 128) throw std::runtime_error("the staged layout needs rows % 16 and cols % 128");
  const size_t rowBytes = size_t(K) / 2;
  auto code = [&](int r, int c) { return (B[size_t(r) * rowBytes + c / 2] >> (4 * (c & 1))) & 15u; };
  for (int tile = 0; tile < N / 16; tile++)
    for (int b = 0; b < K / 128; b++)
      for (int h = 0; h < 2; h++)
        for (int lane = 0; lane < 32; lane++)
          for (int k = 0; k < 4; k++) {
            const int r = tile * 16 + (lane >> 2) + 8 * h, c0 = b * 128 + 32 * (lane & 3) + 8 * k;
            uint32_t w = 0;
            // column j's nibble at j / 2 (even j) or 4 + j / 2 (odd j): decode8 pairs (j, j + 1)
            for (int j = 0; j < 8; j++) w |= code(r, c0 + j) << (4 * ((j & 1) ? 4 + j / 2 : j / 2));
            uint8_t* o = out + size_t(tile) * 8 * K + size_t(b) * 1024 + h * 512 + lane * 16 + k * 4;
            for (int i = 0; i < 4; i++) o[i] = uint8_t(w >> (8 * i));
          }
}

const char* launchStagedGemv4(const uint8_t* Bt, const __half* s, const uint8_t* z, const __half* x, float* y, int N,
                              int K, int g, const int* rp, const int* ci, const __half* v, cudaStream_t st, int shape) {
  int dev = 0, major = 0;
  QR_CUDA(cudaGetDevice(&dev));
  QR_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  const int wt = shape % 100, tilesPerCta = shape / 100 % 10;
  if (major < 9) return "bulk copies and programmatic dependent launch need sm_90";
  if (N % 16) return "rows are not a multiple of 16";
  if (K % 128 || g % 128 || K % g) return "cols and the group size are not multiples of 128";
  const int bpg = g / 128, lgBpg = __builtin_ctz(unsigned(bpg));
  if (bpg & (bpg - 1)) return "the group size is not 128 times a power of two";
  if ((K / 128) % wt) return "the column blocks do not split evenly over the warps";
  if ((reinterpret_cast<uintptr_t>(Bt) | reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(s) |
       reinterpret_cast<uintptr_t>(z)) % 16)
    return "the weights, x, scales or zero points are not 16-byte aligned";
  const int ng = K / g;
  const size_t smemBytes = size_t(tilesPerCta) * (size_t(K) * 8 + size_t(48) * ng) + size_t(K) * 2;
  if (smemBytes > 200 * 1024) return "the tiles and x do not fit in 200 KiB of shared memory";
  switch (shape) {
    case 104: launchStaged<4, 1, 5>(Bt, s, z, x, y, N, K, lgBpg, rp, ci, v, st, smemBytes); break;
    case 108: launchStaged<8, 1, 4>(Bt, s, z, x, y, N, K, lgBpg, rp, ci, v, st, smemBytes); break;
    case 102: launchStaged<2, 1, 8>(Bt, s, z, x, y, N, K, lgBpg, rp, ci, v, st, smemBytes); break;
    case 1104: launchStaged<4, 1, 5, true>(Bt, s, z, x, y, N, K, lgBpg, rp, ci, v, st, smemBytes); break;
    case 1108: launchStaged<8, 1, 4, true>(Bt, s, z, x, y, N, K, lgBpg, rp, ci, v, st, smemBytes); break;
    case 208: launchStaged<8, 2, 2>(Bt, s, z, x, y, N, K, lgBpg, rp, ci, v, st, smemBytes); break;
    case 204: launchStaged<4, 2, 2>(Bt, s, z, x, y, N, K, lgBpg, rp, ci, v, st, smemBytes); break;
    case 1208: launchStaged<8, 2, 2, true>(Bt, s, z, x, y, N, K, lgBpg, rp, ci, v, st, smemBytes); break;
    case 2216:
    case 2208: {
      if (N % 32 || rp) return "the pair kernel takes rows % 32 and no outliers";
      const size_t pb = size_t(K) * 18 + size_t(ng) * (2 * 16 * 12 + 96);
      auto kernel = shape == 2208 ? pairGemv4Kernel<8> : pairGemv4Kernel<16>;
      QR_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
      QR_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
      launchOnStream(kernel, N / 32, shape == 2208 ? 256 : 512, pb, st, true, Bt, s, z, x, y, N, K, lgBpg);
      break;
    }
    default: return "unknown staged kernel shape";
  }
  return nullptr;
}

}  // namespace cuda
}  // namespace qr
