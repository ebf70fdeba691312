// Builds without CUDA: the device benchmarks say so, like the product's calls (benchGemmCpu runs).
#ifndef QRECIPE_CUDA
#include "../src/cuda_api.h"
#include "bench_api.h"

namespace qr {
namespace cuda {

GemvBenchResult benchGemv(const GemvBenchOptions&, const Ctx&) { notCompiled(); }
GemmBenchResult benchGemm(int, int, int, const Ctx&) { notCompiled(); }
HessianBenchResult benchHessian(int, int, const Ctx&) { notCompiled(); }

}  // namespace cuda
}  // namespace qr
#endif
