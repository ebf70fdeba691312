// The steps of the device Hessian update (hessian.cu), for hessianUpdate and the benchmark
// (native/bench/gemm.cu), which times each kernel on its own.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace qr {
namespace cuda {

/** Which kernel accumulates the Hessian: cuBLAS SYRK (half the flops) when loadable, else our GEMM. */
enum class HessianKernel { Syrk, Gemm, Own };

/** The kernel hessianUpdate uses: QRECIPE_HESSIAN=syrk|gemm|own when set (for benchmarks), else the best loadable. */
HessianKernel pickHessianKernel();

/** dH = beta·dH + alpha·XᵀX on the device (lower triangle only for Syrk/Own; mirrored by finishHessian). */
void hessianStep(HessianKernel k, float* dH, int cols, const float* dX, int t, float alpha, float beta, cudaStream_t st);

/** Mirrors the lower triangle into the upper one (nothing to do after a full GEMM). */
void finishHessian(HessianKernel k, float* dH, int cols, cudaStream_t st);

/**
 * The graph executor's taps: folds X (tokens × cols, already in this GPU's memory) into H as
 * hessianUpdate does, on stream st. residentId > 0: H stays on the device (made from the host H on
 * first use); else H is copied up, updated and copied back before return.
 */
void hessianUpdateFromDevice(float* H, int cols, const float* dX, int64_t tokens, double n, double samples,
                             int64_t residentId, cudaStream_t st);

}  // namespace cuda
}  // namespace qr
