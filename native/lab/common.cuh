// Lab harness (not product code): chained-GEMV timing with a per-CTA timeline.
#pragma once
#include <cuda_fp16.h>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <random>
#include <algorithm>
#include <functional>
#include <string>
#include <stdexcept>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); exit(1);} } while (0)

__device__ __forceinline__ unsigned long long gtime() {
  unsigned long long t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t;
}
__device__ __forceinline__ unsigned smid() { unsigned s; asm volatile("mov.u32 %0, %%smid;" : "=r"(s)); return s; }
// timeline slots per CTA (16): 0 start, 1 after wait, 2 x ready, 3 all warps' loops done, 4 end, 5 smid, 6 clock start,
// 7 clock end, 8 data arrived (probes), 9 clock after x ready, 10 clock after loops
#define TL_MARK(tl, slot) do { if (TLON && (tl) && threadIdx.x == 0) { (tl)[blockIdx.x * 16 + (slot)] = gtime(); } } while (0)
#define TL_START(tl) do { if (TLON && (tl) && threadIdx.x == 0) { (tl)[blockIdx.x * 16 + 0] = gtime(); (tl)[blockIdx.x * 16 + 5] = smid(); (tl)[blockIdx.x * 16 + 6] = clock64(); } } while (0)
#define TL_CLOCK(tl, slot) do { if (TLON && (tl) && threadIdx.x == 0) { (tl)[blockIdx.x * 16 + (slot)] = clock64(); } } while (0)
#define TL_END(tl) do { if (TLON && (tl) && threadIdx.x == 0) { (tl)[blockIdx.x * 16 + 4] = gtime(); (tl)[blockIdx.x * 16 + 7] = clock64(); } } while (0)

__device__ __forceinline__ uint4 ldStream(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}
__device__ __forceinline__ void pdlTrigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}
__device__ __forceinline__ void pdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Arguments every lab kernel takes (layout-specific buffers come prepared by the variant's setup).
struct Args {
  const uint8_t* __restrict__ B; const __half* __restrict__ s; const uint8_t* __restrict__ z; const __half* __restrict__ x; float* __restrict__ y; int N, K, g;
  unsigned long long* tl;
};

#define KPARAMS const uint8_t* __restrict__ B_, const __half* __restrict__ s_, const uint8_t* __restrict__ z_, const __half* __restrict__ x_, float* __restrict__ y_, int N_, int K_, int g_, unsigned long long* tl_
#define KARGS const struct { const uint8_t* __restrict__ B; const __half* __restrict__ s; const uint8_t* __restrict__ z; const __half* __restrict__ x; float* __restrict__ y; int N, K, g; unsigned long long* tl; } a{B_, s_, z_, x_, y_, N_, K_, g_, tl_}
template <typename K>
void launchPdl(K kernel, unsigned grid, unsigned block, size_t smem, cudaStream_t st, const Args& a) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(grid); cfg.blockDim = dim3(block); cfg.dynamicSmemBytes = smem; cfg.stream = st;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr; cfg.numAttrs = 1;
  CK(cudaLaunchKernelEx(&cfg, kernel, a.B, a.s, a.z, a.x, a.y, a.N, a.K, a.g, a.tl));
}
