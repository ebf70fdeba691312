#pragma once
#include "common.cuh"
#include "../src/cuda/gemv_mma.cu"  // the product kernel itself, as built

struct Variant {
  std::string name;
  std::function<int(const Args&, cudaStream_t)> launch;  // returns CTAs launched
  std::function<std::vector<uint8_t>(const std::vector<uint8_t>&, int, int)> prepB;
  std::function<std::vector<uint16_t>(const std::vector<uint16_t>&, int, int, int)> prepS;
  std::function<std::vector<uint8_t>(const std::vector<uint8_t>&, int, int, int)> prepZ;
  bool isProbe = false;
};

__device__ __forceinline__ uint32_t lop3AndOr(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d; asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(b), "r"(c)); return d;
}
__device__ __forceinline__ __half2 asHalf2(uint32_t v) { return *reinterpret_cast<__half2*>(&v); }
__device__ __forceinline__ uint32_t asU32(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }
__device__ __forceinline__ void decode8(uint32_t w, uint32_t lo, __half2 hi, uint32_t (&p)[4]) {
  const __half2 sixteenth = __float2half2_rn(0.0625f);
  const uint32_t w8 = w >> 8;
  p[0] = asU32(__hsub2(asHalf2(lop3AndOr(w, 0x000F000Fu, 0x64006400u)), asHalf2(lo)));
  p[1] = asU32(__hfma2(asHalf2(lop3AndOr(w, 0x00F000F0u, 0x64006400u)), sixteenth, hi));
  p[2] = asU32(__hsub2(asHalf2(lop3AndOr(w8, 0x000F000Fu, 0x64006400u)), asHalf2(lo)));
  p[3] = asU32(__hfma2(asHalf2(lop3AndOr(w8, 0x00F000F0u, 0x64006400u)), sixteenth, hi));
}
__device__ __forceinline__ void mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void permuteX(const __half* x, uint4* xs, int K, int tid, int nthreads) {
  for (int i = tid; i < K / 8; i += nthreads) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(x) + i);
    uint4 p;
    p.x = __byte_perm(v.x, v.z, 0x5410); p.y = __byte_perm(v.x, v.z, 0x7632);
    p.z = __byte_perm(v.y, v.w, 0x5410); p.w = __byte_perm(v.y, v.w, 0x7632);
    xs[i] = p;
  }
}

#include "k_v30.cuh"
#include "k_staged.cuh"
#include "k_s2.cuh"
#include "k_s3.cuh"
#include "k_ideas.cuh"

inline std::vector<Variant> variants() {
  std::vector<Variant> v;
  v.push_back({"empty", [](const Args& a, cudaStream_t st) { launchPdl(a.tl ? emptyKernel<true> : emptyKernel<false>, a.N / 16, 256, 0, st, a); return a.N / 16; }, {}, {}, {}, true});
  v.push_back({"ceil33", [](const Args& a, cudaStream_t st) { launchPdl(a.tl ? ceilKernel<true> : ceilKernel<false>, a.N / 16, 256, a.K * 2, st, a); return a.N / 16; }, {}, {}, {}, true});
  v.push_back({"v30", [](const Args& a, cudaStream_t st) { launchPdl(a.tl ? v30Kernel<8, 2, 3, true> : v30Kernel<8, 2, 3, false>, a.N / 16, 256, a.K * 2, st, a); return a.N / 16; }});
  v.push_back({"v30-early1", [](const Args& a, cudaStream_t st) { launchPdl(a.tl ? v30Kernel<8, 2, 3, true, 1> : v30Kernel<8, 2, 3, false, 1>, a.N / 16, 256, a.K * 2, st, a); return a.N / 16; }});
  v.push_back({"v30-early2", [](const Args& a, cudaStream_t st) { launchPdl(a.tl ? v30Kernel<8, 2, 3, true, 2> : v30Kernel<8, 2, 3, false, 2>, a.N / 16, 256, a.K * 2, st, a); return a.N / 16; }});
  v.push_back({"v30-arrive", [](const Args& a, cudaStream_t st) { launchPdl(a.tl ? v30Kernel<8, 2, 3, true, 3> : v30Kernel<8, 2, 3, false, 3>, a.N / 16, 256, a.K * 2, st, a); return a.N / 16; }, {}, {}, {}, true});
  v.push_back({"prod30", [](const Args& a, cudaStream_t st) { const char* why = qr::cuda::launchMmaGemv4(a.B, a.s, a.z, a.x, a.y, a.N, a.K, a.g, nullptr, nullptr, nullptr, st, 8, 2, true, true); if (why) { printf("%s\n", why); exit(1); } return a.N / 16; }});
  v.push_back({"staged108", launchStagedLab<8, 1, 4>, prepStaged});
  v.push_back({"staged208", launchStagedLab<8, 2, 2>, prepStaged});
  v.push_back({"staged104", launchStagedLab<4, 1, 5>, prepStaged});
  v.push_back({"s2-8x2-d0", launchS2<8, 2, 0, false, 1>, prepStaged});
  v.push_back({"s2-8x2-d1", launchS2<8, 2, 1, false, 1>, prepStaged});
  v.push_back({"s2-8x2-d2", launchS2<8, 2, 2, false, 1>, prepStaged});
  v.push_back({"s2-8x2-d2u2", launchS2<8, 2, 2>, prepStaged});
  v.push_back({"s2-4x2-d1", launchS2<4, 2, 1>, prepStaged});
  v.push_back({"s2-4x2-d0", launchS2<4, 2, 0>, prepStaged});
  v.push_back({"s2-4x2-d2", launchS2<4, 2, 2>, prepStaged});
  v.push_back({"s2-8x2-probe", launchS2<8, 2, 2, true>, prepStaged, {}, {}, true});
  v.push_back({"s2cf-8x2-d0", launchS2<8, 2, 0, false, 1, true>, prepStagedRot});
  v.push_back({"s2cf-8x2-d2", launchS2<8, 2, 2, false, 1, true>, prepStagedRot});
  v.push_back({"s2cf-4x2-d0", launchS2<4, 2, 0, false, 2, true>, prepStagedRot});
  v.push_back({"s2cf-4x2-d2", launchS2<4, 2, 2, false, 2, true>, prepStagedRot});
  v.push_back({"s3-4x2-d2-D1", launchS3<4, 2, 2, 1>, prepStagedRot});
  v.push_back({"s3-4x2-d2-D2", launchS3<4, 2, 2, 2>, prepStagedRot});
  v.push_back({"s3-4x2-d2-D3", launchS3<4, 2, 2, 3>, prepStagedRot});
  v.push_back({"s3-4x2-d2-D8", launchS3<4, 2, 2, 8>, prepStagedRot});
  v.push_back({"s3-4x2-d0-D2", launchS3<4, 2, 0, 2>, prepStagedRot});
  v.push_back({"s3-4x2-d0-D3", launchS3<4, 2, 0, 3>, prepStagedRot});
  v.push_back({"s3-8x2-d2-D4", launchS3<8, 2, 2, 4, false, 1>, prepStagedRot});
  v.push_back({"s3-8x2-d2-D6", launchS3<8, 2, 2, 6, false, 1>, prepStagedRot});
  v.push_back({"s3-4x2-probe-D2", launchS3<4, 2, 2, 2, true>, prepStagedRot, {}, {}, true});
  addIdeas(v);
  return v;
}
