// The graph executor's GEMM on the device (graph_gemm.cu), for the executor's kernels
// (graph_kernels.cu) and the benchmark.
#pragma once
#include <cuda_runtime.h>

#include "../graph/kernels.h"

namespace qr {
namespace cuda {

/** g on stream s: cuBLAS SgemmStridedBatched when loadable (QRECIPE_GRAPH_GEMM=own forces ours), else ours. FP32, no TF32. */
void graphGemm(const graph::Gemm& g, cudaStream_t s);
/** Our register-tiled NN / NT kernel (128×128 tiles, 8×8 outputs per thread), batched over blockIdx.z. */
void graphGemmOwn(const graph::Gemm& g, cudaStream_t s);
/** cuBLAS; false when it is not loadable. */
bool graphGemmCublas(const graph::Gemm& g, cudaStream_t s);

}  // namespace cuda
}  // namespace qr
