#pragma once
// S2: one CTA per SM per call (grid = SM count; CTA c takes tiles c and c + G), each CTA's tiles,
// scales and zero points in shared memory by bulk copies before the PDL wait, per-(row, group)
// constants made before the wait too, and a cheaper decode:
//   DEC 0: exact (q − z) for all nibbles (9 instructions a word)
//   DEC 1: low nibbles exact (q − z), high nibbles as 64 + q, the 64 + z taken off per block (7)
//   DEC 2: low nibbles as 1024 + q, high as 64 + q, offsets and z taken off per block from x sums (5)
// Layout as staged (tile-major; within a word, columns c0..c7 at nibbles 0,4,1,5,2,6,3,7).

__device__ __forceinline__ uint32_t lop3v(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d; asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(b), "r"(c)); return d;
}
__device__ __forceinline__ uint32_t hsub2u(uint32_t a, uint32_t b) { return asU32(__hsub2(asHalf2(a), asHalf2(b))); }

// p0 = cols (c0,c1) [low], p1 = (c2,c3) [high], p2 = (c4,c5) [low], p3 = (c6,c7) [high]
template <int DEC>
__device__ __forceinline__ void decodeS2(uint32_t w, uint32_t loL, uint32_t loH, uint32_t (&p)[4]) {
  const uint32_t w8 = w >> 8;
  p[0] = lop3v(w, 0x000F000Fu, 0x64006400u);
  p[1] = lop3v(w, 0x00F000F0u, 0x54005400u);
  p[2] = lop3v(w8, 0x000F000Fu, 0x64006400u);
  p[3] = lop3v(w8, 0x00F000F0u, 0x54005400u);
  if (DEC <= 1) { p[0] = hsub2u(p[0], loL); p[2] = hsub2u(p[2], loL); }
  if (DEC == 0) { p[1] = hsub2u(p[1], loH); p[3] = hsub2u(p[3], loH); }
}

template <int WT, int T, int DEC, bool TLON, bool PROBE = false, int UNR = 2, bool CF = false>
__global__ void __launch_bounds__(WT * T * 32, 2) s2Kernel(KPARAMS) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  KARGS;
  TL_START(a.tl);
  constexpr int WARPS = WT * T, NT = WARPS * 32;
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bar[WARPS + 1];
  __shared__ float red[WARPS][16];
  const int K = a.K, N = a.N, G = gridDim.x;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, tw = warp / WT, wi = warp % WT;
  const int q = lane >> 2, t = lane & 3;
  const int nb = K / 128, ng = K / a.g, lgBpg = __ffs(a.g / 128) - 1, bpw = nb / WT;
  const uint32_t tileBytes = 8u * uint32_t(K);
  const int myTile = blockIdx.x + tw * G;
  const bool active = myTile < N / 16;
  // shared memory: T tiles | x (2K) | x sums (nb float2) | consts (T*16*ng uint4) | raw scales (T*16*ng*2) | raw zeros (T*16*ng)
  const uint32_t xOff = T * tileBytes, sumOff = xOff + 2 * K, cOff = sumOff + 8 * nb, rsOff = cOff + T * 16 * ng * 16,
                 rzOff = rsOff + T * 16 * ng * 2;
  if (tid == 0) {
    for (int i = 0; i <= WARPS; i++) barInit(&bar[i]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (lane == 0 && active) {
    const uint32_t run = uint32_t(bpw) * 1024u;
    barExpect(&bar[warp], run);
    bulkCopy(smem + tw * tileBytes + wi * run, a.B + size_t(myTile) * tileBytes + wi * run, run, &bar[warp]);
  }
  if (tid == 0) {
    uint32_t bytes = 0;
    for (int j = 0; j < T; j++) if (blockIdx.x + j * G < N / 16) bytes += 48u * ng;
    barExpect(&bar[WARPS], bytes);  // the one arrival, with the bytes the copies below complete
    for (int j = 0; j < T; j++) {
      const int tile = blockIdx.x + j * G;
      if (tile >= N / 16) break;
      bulkCopy(smem + rsOff + j * 32 * ng, a.s + size_t(tile) * 16 * ng, 32u * ng, &bar[WARPS]);
      bulkCopy(smem + rzOff + j * 16 * ng, a.z + size_t(tile) * 16 * ng, 16u * ng, &bar[WARPS]);
    }
  }
  pdlTrigger();
  // constants per (tile, row, group), before the wait: they do not depend on x
  barWait(&bar[WARPS]);
  for (int i = tid; i < T * 16 * ng; i += NT) {
    const float s = __half2float(reinterpret_cast<const __half*>(smem + rsOff)[i]);
    const uint32_t z = smem[rzOff + i];
    uint4 c;
    c.x = (0x6400u + z) * 0x10001u;  // 1024 + z
    c.y = (0x5400u + z * 16u) * 0x10001u;  // 64 + z (ulp 1/16 at 64)
    c.z = __float_as_uint(s);
    c.w = __float_as_uint(DEC == 2 ? s * float(z) : DEC == 1 ? s * (64.f + float(z)) : 0.f);
    if (CF) {  // [tile][group][row]: a warp's 8 rows of one group are 128 contiguous bytes
      const int j = i / (16 * ng), rem = i % (16 * ng), row = rem / ng, grp = rem % ng;
      reinterpret_cast<uint4*>(smem + cOff)[(j * ng + grp) * 16 + row] = c;
    } else reinterpret_cast<uint4*>(smem + cOff)[i] = c;
  }
  __syncthreads();
  pdlWait();
  TL_MARK(a.tl, 1);
  {
    // x as it lies, plus per-block sums: M = 1024·ΣL + 64·ΣH, X = Σx (DEC 2) or X = ΣH (DEC 1)
    const int n8 = K / 8, lim = (n8 + 31) & ~31;
    for (int i = tid; i < lim; i += NT) {
      float L = 0.f, H = 0.f;
      if (i < n8) {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(a.x) + i);
        reinterpret_cast<uint4*>(smem + xOff)[i] = v;
        const float2 f0 = __half22float2(asHalf2(v.x)), f1 = __half22float2(asHalf2(v.y)), f2 = __half22float2(asHalf2(v.z)),
                     f3 = __half22float2(asHalf2(v.w));
        L = (f0.x + f0.y) + (f2.x + f2.y);
        H = (f1.x + f1.y) + (f3.x + f3.y);
      }
      if (DEC > 0) {
#pragma unroll
        for (int o = 1; o < 16; o <<= 1) {
          L += __shfl_xor_sync(0xffffffffu, L, o);
          H += __shfl_xor_sync(0xffffffffu, H, o);
        }
        if ((lane & 15) == 0 && i < n8)
          reinterpret_cast<float2*>(smem + sumOff)[i >> 4] = DEC == 2 ? make_float2(1024.f * L + 64.f * H, L + H) : make_float2(0.f, H);
      }
    }
  }
  __syncthreads();
  TL_MARK(a.tl, 2);
  float yA = 0.f, yB = 0.f;
  if (active) {
    barWait(&bar[warp]);
    TL_MARK(a.tl, 8);
    TL_CLOCK(a.tl, 9);
    const uint8_t* wp = smem + tw * tileBytes + wi * bpw * 1024 + lane * 16;
    const uint4* cA = reinterpret_cast<const uint4*>(smem + cOff) + (CF ? tw * 16 * ng + q : (tw * 16 + q) * ng);
    const uint4* cB = cA + (CF ? 8 : 8 * ng);
    const int rot = CF ? (t >> 1) : 0;
    const uint4* sX = reinterpret_cast<const uint4*>(smem + xOff);
    const float2* sums = reinterpret_cast<const float2*>(smem + sumOff);
    if (PROBE) yA = float(wp[warp]) + __uint_as_float(cA[0].z);
    else {
#pragma unroll UNR
      for (int i = 0; i < bpw; i++) {
        const int b = wi * bpw + i, grp = b >> lgBpg;
        const uint4 wa = *reinterpret_cast<const uint4*>(wp + i * 1024);
        const uint4 wb = *reinterpret_cast<const uint4*>(wp + i * 1024 + 512);
        const uint4 ka = cA[CF ? grp * 16 : grp], kb = cB[CF ? grp * 16 : grp];
        const uint4* xp = sX + b * 16 + t * 4;
        const uint32_t wA[4] = {wa.x, wa.y, wa.z, wa.w}, wB[4] = {wb.x, wb.y, wb.z, wb.w};
        float c[4] = {0.f, 0.f, 0.f, 0.f}, d[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int k = 0; k < 4; k++) {
          uint32_t A[4], Bq[4];
          decodeS2<DEC>(wA[k], ka.x, ka.y, A);
          decodeS2<DEC>(wB[k], kb.x, kb.y, Bq);
          const uint4 xv = xp[(k + rot) & 3];
          mma16816(c, A[0], Bq[0], A[1], Bq[1], xv.x, xv.y);
          mma16816(d, A[2], Bq[2], A[3], Bq[3], xv.z, xv.w);
        }
        float accA = c[0] + d[0], accB = c[2] + d[2];
        if (DEC == 2) {
          const float2 m = sums[b];
          accA -= m.x; accB -= m.x;
          yA = fmaf(__uint_as_float(ka.z), accA, fmaf(-__uint_as_float(ka.w), m.y, yA));
          yB = fmaf(__uint_as_float(kb.z), accB, fmaf(-__uint_as_float(kb.w), m.y, yB));
        } else if (DEC == 1) {
          const float h = sums[b].y;
          yA = fmaf(__uint_as_float(ka.z), accA, fmaf(-__uint_as_float(ka.w), h, yA));
          yB = fmaf(__uint_as_float(kb.z), accB, fmaf(-__uint_as_float(kb.w), h, yB));
        } else {
          yA = fmaf(__uint_as_float(ka.z), accA, yA);
          yB = fmaf(__uint_as_float(kb.z), accB, yB);
        }
      }
    }
  }
  if (t == 0) { red[warp][q] = yA; red[warp][q + 8] = yB; }
  __syncthreads();
  TL_MARK(a.tl, 3);
  TL_CLOCK(a.tl, 10);
  constexpr int SUB = WT * 32 / 16;
  const int row = tid / SUB, sub = tid % SUB, tile = blockIdx.x + (row / 16) * G;
  if (tile < N / 16) {
    float acc = sub < WT ? red[(row / 16) * WT + sub][row % 16] : 0.f;
#pragma unroll
    for (int o = SUB / 2; o; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (sub == 0) a.y[tile * 16 + row % 16] = acc;
  }
  TL_END(a.tl);
#endif
}

template <int WT, int T, int DEC, bool PROBE = false, int UNR = 2, bool CF = false>
inline int launchS2(const Args& a, cudaStream_t st) {
  static int sms = 0;
  const int ng = a.K / a.g;
  const size_t smemBytes = size_t(T) * (size_t(a.K) * 8 + size_t(16 * ng) * (16 + 3)) + size_t(a.K) * 2 + 8 * (a.K / 128);
  if (!sms) {
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    for (auto kern : {s2Kernel<WT, T, DEC, false, PROBE, UNR, CF>, s2Kernel<WT, T, DEC, true, PROBE, UNR, CF>}) {
      CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, 110 * 1024));
      CK(cudaFuncSetAttribute(kern, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
    }
  }
  const int tiles = a.N / 16, grid = sms;
  if (tiles > T * sms) { printf("S2: %d tiles > %d x %d SMs\n", tiles, T, sms); exit(1); }
  launchPdl(a.tl ? s2Kernel<WT, T, DEC, true, PROBE, UNR, CF> : s2Kernel<WT, T, DEC, false, PROBE, UNR, CF>, grid, WT * T * 32, smemBytes, st, a);
  return grid;
}

// the staged layout with lane (q, t)'s word slot j holding chunk (j + t / 2) % 4 of its 32 columns,
// so that the 4 lanes t read x without a bank conflict
inline std::vector<uint8_t> prepStagedRot(const std::vector<uint8_t>& B, int N, int K) {
  std::vector<uint8_t> o(B.size());
  repackStaged4(B.data(), N, K, o.data());
  std::vector<uint8_t> r(o.size());
  for (size_t base = 0; base < o.size(); base += 512)
    for (int lane = 0; lane < 32; lane++) {
      const int t = lane & 3;
      for (int j = 0; j < 4; j++) {
        const int k = (j + (t >> 1)) & 3;
        memcpy(&r[base + lane * 16 + j * 4], &o[base + lane * 16 + k * 4], 4);
      }
    }
  return r;
}
