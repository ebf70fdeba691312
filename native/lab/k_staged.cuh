#pragma once
// The staged kernel of commit 20d6af2 (whole tile in shared memory by bulk copies before the PDL wait).
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
template <int WT, int T, int MINB, bool TLON, bool PROBE = false>
__global__ void __launch_bounds__(WT * T * 32, MINB) stagedKernel(KPARAMS) {
  KARGS;
  const uint8_t* __restrict__ Bt = a.B; const __half* __restrict__ scales = a.s; const uint8_t* __restrict__ zeros = a.z;
  const __half* __restrict__ x = a.x; float* __restrict__ y = a.y; const int N = a.N, K = a.K, lgBpg = __ffs(a.g / 128) - 1;
  TL_START(a.tl);
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
  TL_MARK(a.tl, 1);
  for (int i = tid; i < K / 8; i += WARPS * 32)
    reinterpret_cast<uint4*>(smem + xOff)[i] = __ldg(reinterpret_cast<const uint4*>(x) + i);
  __syncthreads();
  TL_MARK(a.tl, 2);
  float accA = 0.f, accB = 0.f;
  if (tw < tiles) {
    barWait(&bar[WARPS]);
    barWait(&bar[warp]);
    TL_MARK(a.tl, 8);
    TL_CLOCK(a.tl, 9);
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
  TL_MARK(a.tl, 3);
  TL_CLOCK(a.tl, 10);
  constexpr int SUB = WT * 32 / 16;  // threads per row adding the warps' partials and the outliers
  const int row = tid / SUB, sub = tid % SUB, r = tile0 * 16 + row;
  if (row >= tiles * 16) { TL_END(a.tl); return; }
  float acc = sub < WT ? red[(row / 16) * WT + sub][row % 16] : 0.f;
#pragma unroll
  for (int o = SUB / 2; o; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (sub == 0) y[r] = acc;
  TL_END(a.tl);
#endif
}


inline void repackStaged4(const uint8_t* B, int N, int K, uint8_t* out) {
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


template <int WT, int T, int MINB>
inline int launchStagedLab(const Args& a, cudaStream_t st) {
  const int ng = a.K / a.g;
  const size_t smemBytes = size_t(T) * (size_t(a.K) * 8 + size_t(48) * ng) + size_t(a.K) * 2;
  static bool configured = false;
  if (!configured) {
    for (auto kern : {stagedKernel<WT, T, MINB, false>, stagedKernel<WT, T, MINB, true>}) {
      CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
      CK(cudaFuncSetAttribute(kern, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
    }
    configured = true;
  }
  launchPdl(a.tl ? stagedKernel<WT, T, MINB, true> : stagedKernel<WT, T, MINB, false>, (a.N / 16 + T - 1) / T, WT * T * 32, smemBytes, st, a);
  return (a.N / 16 + T - 1) / T;
}
inline std::vector<uint8_t> prepStaged(const std::vector<uint8_t>& B, int N, int K) { std::vector<uint8_t> o(B.size()); repackStaged4(B.data(), N, K, o.data()); return o; }
