#pragma once
// S3: S2 (one CTA per SM per call, CF layouts) whose bulk copies are paced: warp w issues its run
// of blocks only after warp w − D's run has landed, so at most D runs of each SM are in flight and
// the x read after the wait queues behind less of the next call's weights. Constants per warp.
template <int WT, int T, int DEC, int D, bool TLON, bool PROBE = false, int UNR = 2>
__global__ void __launch_bounds__(WT * T * 32, 2) s3Kernel(KPARAMS) {
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
  const uint32_t xOff = T * tileBytes, sumOff = xOff + 2 * K, cOff = sumOff + 8 * nb, rsOff = cOff + T * 16 * ng * 16,
                 rzOff = rsOff + T * 16 * ng * 2;
  if (tid == 0) {
    for (int i = 0; i <= WARPS; i++) barInit(&bar[i]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (tid == 0) {
    uint32_t bytes = 0;
    for (int j = 0; j < T; j++) if (blockIdx.x + j * G < N / 16) bytes += 48u * ng;
    barExpect(&bar[WARPS], bytes);
    for (int j = 0; j < T; j++) {
      const int tile = blockIdx.x + j * G;
      if (tile >= N / 16) break;
      bulkCopy(smem + rsOff + j * 32 * ng, a.s + size_t(tile) * 16 * ng, 32u * ng, &bar[WARPS]);
      bulkCopy(smem + rzOff + j * 16 * ng, a.z + size_t(tile) * 16 * ng, 16u * ng, &bar[WARPS]);
    }
  }
  pdlTrigger();
  // pace: this warp's run goes out once the run D warps earlier has landed (runs are issued in warp order)
  if (warp >= D) {
    const int prev = warp - D;
    if (blockIdx.x + (prev / WT) * G < N / 16) barWait(&bar[prev]);
  }
  if (lane == 0 && active) {
    const uint32_t run = uint32_t(bpw) * 1024u;
    barExpect(&bar[warp], run);
    bulkCopy(smem + tw * tileBytes + wi * run, a.B + size_t(myTile) * tileBytes + wi * run, run, &bar[warp]);
  }
  // this warp's constants: its tile's 16 rows × the groups of its blocks, [tile][group][row]
  barWait(&bar[WARPS]);
  if (active) {
    const int g0 = (wi * bpw) >> lgBpg, g1 = ((wi + 1) * bpw - 1 >> lgBpg) + 1;
    for (int i = lane; i < 16 * (g1 - g0); i += 32) {
      const int row = i & 15, grp = g0 + (i >> 4), raw = (tw * 16 + row) * ng + grp;
      const float s = __half2float(reinterpret_cast<const __half*>(smem + rsOff)[raw]);
      const uint32_t z = smem[rzOff + raw];
      uint4 c;
      c.x = (0x6400u + z) * 0x10001u;
      c.y = (0x5400u + z * 16u) * 0x10001u;
      c.z = __float_as_uint(s);
      c.w = __float_as_uint(DEC == 2 ? s * float(z) : DEC == 1 ? s * (64.f + float(z)) : 0.f);
      reinterpret_cast<uint4*>(smem + cOff)[(tw * ng + grp) * 16 + row] = c;
    }
  }
  __syncwarp();
  pdlWait();
  TL_MARK(a.tl, 1);
  {
    const int n8 = K / 8, lim = (n8 + 31) & ~31;
    for (int i = tid; i < lim; i += NT) {
      float L = 0.f, H = 0.f;
      if (i < n8) {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(a.x) + i);
        reinterpret_cast<uint4*>(smem + xOff)[i] = v;
        if (DEC > 0) {
          const float2 f0 = __half22float2(asHalf2(v.x)), f1 = __half22float2(asHalf2(v.y)), f2 = __half22float2(asHalf2(v.z)),
                       f3 = __half22float2(asHalf2(v.w));
          L = (f0.x + f0.y) + (f2.x + f2.y);
          H = (f1.x + f1.y) + (f3.x + f3.y);
        }
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
    const uint4* cA = reinterpret_cast<const uint4*>(smem + cOff) + tw * 16 * ng + q;
    const uint4* cB = cA + 8;
    const int rot = t >> 1;
    const uint4* sX = reinterpret_cast<const uint4*>(smem + xOff);
    const float2* sums = reinterpret_cast<const float2*>(smem + sumOff);
    if (PROBE) yA = float(wp[warp]) + __uint_as_float(cA[0].z);
    else {
#pragma unroll UNR
      for (int i = 0; i < bpw; i++) {
        const int b = wi * bpw + i, grp = b >> lgBpg;
        const uint4 wa = *reinterpret_cast<const uint4*>(wp + i * 1024);
        const uint4 wb = *reinterpret_cast<const uint4*>(wp + i * 1024 + 512);
        const uint4 ka = cA[grp * 16], kb = cB[grp * 16];
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

template <int WT, int T, int DEC, int D, bool PROBE = false, int UNR = 2>
inline int launchS3(const Args& a, cudaStream_t st) {
  static int sms = 0;
  const int ng = a.K / a.g;
  const size_t smemBytes = size_t(T) * (size_t(a.K) * 8 + size_t(16 * ng) * (16 + 3)) + size_t(a.K) * 2 + 8 * (a.K / 128);
  if (!sms) {
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    for (auto kern : {s3Kernel<WT, T, DEC, D, false, PROBE, UNR>, s3Kernel<WT, T, DEC, D, true, PROBE, UNR>}) {
      CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, 110 * 1024));
      CK(cudaFuncSetAttribute(kern, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
    }
  }
  if (a.N / 16 > T * sms) { printf("S3: %d tiles > %d x %d SMs\n", a.N / 16, T, sms); exit(1); }
  launchPdl(a.tl ? s3Kernel<WT, T, DEC, D, true, PROBE, UNR> : s3Kernel<WT, T, DEC, D, false, PROBE, UNR>, sms, WT * T * 32, smemBytes, st, a);
  return sms;
}
