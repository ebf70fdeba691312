#pragma once
// Copies of the product kernel (variant 30) and the chain baselines, with timeline marks.
template <bool TLON>
__global__ void __launch_bounds__(256) emptyKernel(KPARAMS) {
  KARGS;
  TL_START(a.tl);
  pdlTrigger(); pdlWait();
  TL_MARK(a.tl, 1); TL_MARK(a.tl, 2);
  __syncthreads();
  TL_MARK(a.tl, 3);
  if (threadIdx.x < 16) a.y[blockIdx.x * 16 + threadIdx.x] = 0.f;
  TL_END(a.tl);
}

template <bool TLON>
__global__ void __launch_bounds__(256) ceilKernel(KPARAMS) {
  KARGS;
  TL_START(a.tl);
  pdlTrigger();
  extern __shared__ uint4 xs[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, q = lane >> 2, t = lane & 3;
  const size_t rowBytes = size_t(a.K) / 2;
  const uint8_t* pa = a.B + (size_t(blockIdx.x) * 16 + q) * rowBytes + t * 16;
  uint32_t acc = 0;
#pragma unroll 4
  for (int b = warp; b < a.K / 128; b += 8) {
    const uint4 u = ldStream(pa + size_t(b) * 64), w = ldStream(pa + 8 * rowBytes + size_t(b) * 64);
    acc ^= u.x ^ u.y ^ u.z ^ u.w ^ w.x ^ w.y ^ w.z ^ w.w;
  }
  pdlWait();
  TL_MARK(a.tl, 1);
  for (int i = tid; i < a.K / 8; i += 256) xs[i] = __ldg(reinterpret_cast<const uint4*>(a.x) + i);
  __syncthreads();
  TL_MARK(a.tl, 2);
  acc ^= xs[(tid * 7) % (a.K / 8)].x;
  __syncthreads();
  TL_MARK(a.tl, 3);
  if (acc == 0x9E3779B9u) a.y[blockIdx.x * 16 + (tid & 15)] = 1.f;
  TL_END(a.tl);
}

template <int PREF>
struct Blocks { uint4 wa[PREF], wb[PREF]; float sa[PREF], sb[PREF]; int za[PREF], zb[PREF]; };

template <int WARPS, int PREF, int MINB, bool TLON, int EARLY = 0>
__global__ void __launch_bounds__(WARPS * 32, MINB) v30Kernel(KPARAMS) {
  KARGS;
  TL_START(a.tl);
  extern __shared__ uint4 xs[];
  __shared__ float red[WARPS][16];
  const int N = a.N, K = a.K, g = a.g;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int q = lane >> 2, t = lane & 3;
  const int r0 = blockIdx.x * 16, ra = r0 + q, rb = ra + 8;
  const int nb = K / 128, ng = K / g, bpg = g / 128;
  const size_t rowBytes = size_t(K) / 2;
  const uint8_t* pa = a.B + size_t(ra) * rowBytes + t * 16;
  const uint8_t* pb = a.B + size_t(rb) * rowBytes + t * 16;
  constexpr int STEP = WARPS * PREF;
  auto load = [&](Blocks<PREF>& L, int b0) {
#pragma unroll
    for (int p = 0; p < PREF; p++) {
      const int b = b0 + p * WARPS;
      if (b < nb) {
        L.wa[p] = ldStream(pa + size_t(b) * 64); L.wb[p] = ldStream(pb + size_t(b) * 64);
        const int grp = b / bpg;
        L.sa[p] = __half2float(a.s[size_t(ra) * ng + grp]); L.sb[p] = __half2float(a.s[size_t(rb) * ng + grp]);
        L.za[p] = a.z[size_t(ra) * ng + grp]; L.zb[p] = a.z[size_t(rb) * ng + grp];
      } else {
        L.wa[p] = L.wb[p] = make_uint4(0, 0, 0, 0); L.sa[p] = L.sb[p] = 0.f; L.za[p] = L.zb[p] = 0;
      }
    }
  };
  float accA = 0.f, accB = 0.f;
  auto compute = [&](const Blocks<PREF>& L, int b0) {
#pragma unroll
    for (int p = 0; p < PREF; p++) {
      const int b = b0 + p * WARPS;
      const uint4* xp = xs + size_t(b < nb ? b : 0) * 16 + t * 4;
      const uint32_t loA = (0x6400u + uint32_t(L.za[p])) * 0x10001u, loB = (0x6400u + uint32_t(L.zb[p])) * 0x10001u;
      const __half2 hiA = __float2half2_rn(-64.f - float(L.za[p])), hiB = __float2half2_rn(-64.f - float(L.zb[p]));
      const uint32_t wA[4] = {L.wa[p].x, L.wa[p].y, L.wa[p].z, L.wa[p].w};
      const uint32_t wB[4] = {L.wb[p].x, L.wb[p].y, L.wb[p].z, L.wb[p].w};
      float c[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int k = 0; k < 4; k++) {
        uint32_t A[4], Bq[4];
        decode8(wA[k], loA, hiA, A); decode8(wB[k], loB, hiB, Bq);
        const uint4 xv = xp[k];
        mma16816(c, A[0], Bq[0], A[1], Bq[1], xv.x, xv.y);
        mma16816(c, A[2], Bq[2], A[3], Bq[3], xv.z, xv.w);
      }
      accA = fmaf(L.sa[p], c[0], accA); accB = fmaf(L.sb[p], c[2], accB);
    }
  };
  Blocks<PREF> cur, nxt;
  load(cur, warp);
  bool pending = false;
  if (EARLY >= 2 && warp + STEP < nb) { load(nxt, warp + STEP); pending = true; }
  if (EARLY == 3) {  // probe: wait for this CTA's loads before the PDL wait, so the loop times pure compute
    uint32_t h = cur.wa[0].x ^ cur.wa[1].y ^ cur.wb[0].z ^ cur.wb[1].w ^ nxt.wa[0].x ^ nxt.wa[1].y ^ nxt.wb[0].z ^ nxt.wb[1].w;
    h ^= cur.wa[0].w ^ cur.wa[1].z ^ cur.wb[0].y ^ cur.wb[1].x ^ nxt.wa[0].w ^ nxt.wa[1].z ^ nxt.wb[0].y ^ nxt.wb[1].x;
    h ^= __float_as_uint(cur.sa[1] + nxt.sb[1]) ^ cur.za[1] ^ nxt.zb[1];
    if (h == 0x9E3779B9u) a.y[0] = 1.f;
    __syncthreads();
    TL_MARK(a.tl, 8);
  }
  pdlTrigger(); pdlWait();
  TL_MARK(a.tl, 1);
  if (EARLY == 1 && warp + STEP < nb) { load(nxt, warp + STEP); pending = true; }
  permuteX(a.x, xs, K, tid, WARPS * 32);
  __syncthreads();
  TL_MARK(a.tl, 2);
  TL_CLOCK(a.tl, 9);
  for (int b0 = warp;; b0 += STEP) {
    const bool more = b0 + STEP < nb;
    if (more && !pending) load(nxt, b0 + STEP);
    pending = false;
    compute(cur, b0);
    if (!more) break;
    cur = nxt;
  }
  if (t == 0) { red[warp][q] = accA; red[warp][q + 8] = accB; }
  __syncthreads();
  TL_MARK(a.tl, 3);
  TL_CLOCK(a.tl, 10);
  constexpr int SUB = WARPS * 32 / 16;
  const int row = tid / SUB, sub = tid % SUB, r = r0 + row;
  float acc = sub < WARPS ? red[sub][row] : 0.f;
#pragma unroll
  for (int o = SUB / 2; o; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (sub == 0) a.y[r] = acc;
  TL_END(a.tl);
}
