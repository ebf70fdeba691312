// The register-tile 4-bit dequant+GEMV, whose dot products run on the tensor cores (mma.sync
// m16n8k16, fp16 inputs, fp32 accumulation; sm_80 and newer).
//
// Why: at HBM speed a 4-bit GEMV must turn two codes per byte into products faster than the CUDA
// cores can with one float FMA per code (plus its decode): the register kernel (gemv_register.cuh) spends
// about 3.3 instructions per weight and stalls at half the bandwidth on 11008×4096. Here a code
// becomes an exact fp16 (q − z) in about one instruction per weight (a LOP3 places a nibble under
// 1024's exponent, one HSUB2/HFMA2 removes 1024 + z — all exact, |q − z| ≤ 15), and the tensor core
// does the multiply-adds: products of two fp16 are exact, sums are fp32.
//
// Mapping: a warp owns 16 rows (lane l decodes rows l/4 and l/4 + 8, the rows its A fragment
// holds); a row is read in 128-column blocks, lane t = l % 4 taking the 16 bytes of columns
// [32t, 32t + 32) of the block, so each lane issues one 16-byte load per row and block. The dot
// product does not care in which order the k dimension is summed, so the k slots of the fragment
// are assigned to whatever columns a lane holds — the same assignment for x (operand B, kept in
// shared memory already permuted to match). Every B column is x, so every output column, and so
// every lane's accumulator, is the row sum. Blocks are split over the CTA's warps (split-K) and
// summed through shared memory, where the CSR outliers are added too.
//
// This header holds the kernel as a template of its shape (warps, blocks ahead, PDL, register cap),
// so the benchmark can time other shapes (native/bench/gemv_mma.cu); the product instantiates only
// the shapes it picks (gemv_mma.cu).
#pragma once
#include <cuda_fp16.h>

#include <cstdint>

#include "gemv.cuh"

namespace qr {
namespace cuda {

namespace {  // each file that launches it has its own instances

/**
 * The 8 codes of word w (columns c0..c7, low nibble first) as exact fp16 (q − z), paired for the
 * fragment: p[0] = (c0, c4), p[1] = (c1, c5), p[2] = (c2, c6), p[3] = (c3, c7).
 * lo = 1024 + z in both halves; hi = −(64 + z): a nibble at bits 4..7 reads as 1024 + 16q.
 */
__device__ __forceinline__ void decode8(uint32_t w, uint32_t lo, __half2 hi, uint32_t (&p)[4]) {
  const __half2 sixteenth = __float2half2_rn(0.0625f);
  const uint32_t w8 = w >> 8;
  p[0] = asU32(__hsub2(asHalf2(lop3AndOr(w, 0x000F000Fu, 0x64006400u)), asHalf2(lo)));
  p[1] = asU32(__hfma2(asHalf2(lop3AndOr(w, 0x00F000F0u, 0x64006400u)), sixteenth, hi));
  p[2] = asU32(__hsub2(asHalf2(lop3AndOr(w8, 0x000F000Fu, 0x64006400u)), asHalf2(lo)));
  p[3] = asU32(__hfma2(asHalf2(lop3AndOr(w8, 0x00F000F0u, 0x64006400u)), sixteenth, hi));
}

/** One lane's loads for PREF blocks: both rows' packed words, scales and zero points. */
template <int PREF>
struct Blocks {
  uint4 wa[PREF], wb[PREF];
  float sa[PREF], sb[PREF];
  int za[PREF], zb[PREF];
};

/**
 * WARPS warps split one 16-row tile's 128-column blocks (warp w: blocks w, w + WARPS, ...); each
 * lane has the loads of the next PREF blocks in flight while it computes the current PREF. PDL
 * (sm_90): the weights are loaded before waiting for the previous kernel of the stream (only x and
 * y depend on it), so back-to-back layers overlap one's start with the other's end. MINB: CTAs per
 * SM the registers must allow (> 1 caps them at about 80 a thread, room for the next kernel's CTAs).
 */
template <int WARPS, int PREF, bool PDL, int MINB>
__global__ void __launch_bounds__(WARPS * 32, MINB) mmaGemv4Kernel(const uint8_t* __restrict__ B,
                                                             const __half* __restrict__ scales,
                                                             const uint8_t* __restrict__ zeros,
                                                             const __half* __restrict__ x, float* __restrict__ y, int N,
                                                             int K, int g, const int* __restrict__ rowPtr,
                                                             const int* __restrict__ colIdx,
                                                             const __half* __restrict__ vals) {
  extern __shared__ uint4 xs[];  // K / 8 entries: x permuted like decode8's pairs
  __shared__ float red[WARPS][16];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int q = lane >> 2, t = lane & 3;
  const int r0 = blockIdx.x * 16, ra = r0 + q, rb = ra + 8;
  const int nb = K / 128, ng = K / g, bpg = g / 128;
  const size_t rowBytes = size_t(K) / 2;
  const uint8_t* pa = B + size_t(ra) * rowBytes + t * 16;
  const uint8_t* pb = B + size_t(rb) * rowBytes + t * 16;
  constexpr int STEP = WARPS * PREF;  // blocks a CTA covers per step

  auto load = [&](Blocks<PREF>& L, int b0) {
#pragma unroll
    for (int p = 0; p < PREF; p++) {
      const int b = b0 + p * WARPS;
      if (b < nb) {
        L.wa[p] = ldStream(pa + size_t(b) * 64);
        L.wb[p] = ldStream(pb + size_t(b) * 64);
        const int grp = b / bpg;
        L.sa[p] = __half2float(scales[size_t(ra) * ng + grp]);
        L.sb[p] = __half2float(scales[size_t(rb) * ng + grp]);
        L.za[p] = zeros[size_t(ra) * ng + grp];
        L.zb[p] = zeros[size_t(rb) * ng + grp];
      } else {
        // a block past the end contributes 0 · (whatever the decode of 0 gives)
        L.wa[p] = L.wb[p] = make_uint4(0, 0, 0, 0);
        L.sa[p] = L.sb[p] = 0.f;
        L.za[p] = L.zb[p] = 0;
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
        decode8(wA[k], loA, hiA, A);
        decode8(wB[k], loB, hiB, Bq);
        const uint4 xv = xp[k];
        // fragment: a0 (row q, slots 2t..) a1 (row q+8, slots 2t..) a2 (row q, slots 2t+8..) a3 (row q+8, ...)
        mma16816(c, A[0], Bq[0], A[1], Bq[1], xv.x, xv.y);
        mma16816(c, A[2], Bq[2], A[3], Bq[3], xv.z, xv.w);
      }
      // c[0]: row q, c[2]: row q + 8 (every column of the product is the same dot product)
      accA = fmaf(L.sa[p], c[0], accA);
      accB = fmaf(L.sb[p], c[2], accB);
    }
  };

  Blocks<PREF> cur, nxt;
  load(cur, warp);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (PDL) {
    // let the stream's next kernel start its own weight loads; x and y wait for the previous one
    asm volatile("griddepcontrol.launch_dependents;");
    asm volatile("griddepcontrol.wait;" ::: "memory");
  }
#endif
  for (int i = tid; i < K / 8; i += WARPS * 32) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(x) + i);  // (c0 c1) (c2 c3) (c4 c5) (c6 c7)
    uint4 p;
    p.x = __byte_perm(v.x, v.z, 0x5410);  // (c0, c4)
    p.y = __byte_perm(v.x, v.z, 0x7632);  // (c1, c5)
    p.z = __byte_perm(v.y, v.w, 0x5410);  // (c2, c6)
    p.w = __byte_perm(v.y, v.w, 0x7632);  // (c3, c7)
    xs[i] = p;
  }
  __syncthreads();
  for (int b0 = warp;; b0 += STEP) {
    const bool more = b0 + STEP < nb;
    if (more) load(nxt, b0 + STEP);
    compute(cur, b0);
    if (!more) break;
    cur = nxt;
  }
  if (t == 0) {
    red[warp][q] = accA;
    red[warp][q + 8] = accB;
  }
  __syncthreads();
  // SUB threads per row add the warps' partials and the row's outliers
  constexpr int SUB = WARPS * 32 / 16;
  const int row = tid / SUB, sub = tid % SUB, r = r0 + row;
  float a = sub < WARPS ? red[sub][row] : 0.f;
  if (rowPtr)
    for (int k = rowPtr[r] + sub; k < rowPtr[r + 1]; k += SUB) a = fmaf(__half2float(vals[k]), __half2float(x[colIdx[k]]), a);
#pragma unroll
  for (int o = SUB / 2; o; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
  if (sub == 0) y[r] = a;
}

template <int WARPS, int PREF, bool PDL, int MINB = 1>
void launchMma(const uint8_t* B, const __half* s, const uint8_t* z, const __half* x, float* y, int N, int K, int g,
            const int* rp, const int* ci, const __half* v, cudaStream_t st) {
  launchOnStream(mmaGemv4Kernel<WARPS, PREF, PDL, MINB>, N / 16, WARPS * 32, size_t(K) * 2, st, PDL, B, s, z, x, y, N, K, g,
                 rp, ci, v);
}

/**
 * Why the register-tile kernel cannot take this call (device before sm_80, or before sm_90 with
 * pdl, rows not a multiple of 16, cols or group size not multiples of 128, cols > 24576, unaligned
 * arrays), or null if it can.
 */
inline const char* mmaGemv4Unfit(const uint8_t* B, const __half* x, int N, int K, int g, bool pdl) {
  const int major = currentDeviceFacts().major;
  if (major < 8) return "the device is older than sm_80 (no m16n8k16 tensor-core MMA)";
  if (N % 16) return "rows are not a multiple of 16";
  if (K % 128 || g % 128 || K % g) return "cols and the group size are not multiples of 128";
  if (size_t(K) * 2 > 48 * 1024) return "x does not fit in 48 KiB of shared memory (cols > 24576)";
  if ((reinterpret_cast<uintptr_t>(B) | reinterpret_cast<uintptr_t>(x)) % 16) return "B or x is not 16-byte aligned";
  if (pdl && major < 9) return "programmatic dependent launch needs sm_90";
  return nullptr;
}

}  // namespace

}  // namespace cuda
}  // namespace qr
