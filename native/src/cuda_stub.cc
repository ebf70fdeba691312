// CPU-only builds: the CUDA backend reports that it was not compiled.
#ifndef QRECIPE_CUDA
#include <stdexcept>

#include "cuda_api.h"
#include "graph/kernels.h"

namespace qr {
namespace cuda {

void notCompiled() {
  throw std::runtime_error("this qrecipe addon was built without CUDA (nvcc was not found or QRECIPE_NO_CUDA=1)");
}

const Status& status() {
  static const Status s = [] {
    Status st;
    st.error = "built without CUDA";
    return st;
  }();
  return s;
}
bool supports(const QuantSpec&, bool, int, int) { return false; }
int acquireGpu(int) { notCompiled(); }
void releaseGpu(int) {}
int currentGpu() { return -1; }
void hessianUpdate(float*, int, const float*, int, double, double, const Ctx&, int64_t) { notCompiled(); }
bool hessianFetch(int64_t, float*, int, bool) { return false; }
void rtn(const float*, int, int, const QuantSpec&, float*, float*, uint8_t*, float*, const Ctx&) { notCompiled(); }
void gptq(const float*, const float*, int, int, const GptqOptions&, GptqOutputs&, const Ctx&) { notCompiled(); }
void sparsegpt(const float*, const float*, int, int, const SparseGptOptions&, SparseGptOutputs&, const Ctx&) {
  notCompiled();
}
void vqRowsTimesH(const double*, const double*, int, int, double*, const Ctx&) { notCompiled(); }
void vqNearest(const double*, int64_t, int, const double*, int, int32_t*, double*, const Ctx&) { notCompiled(); }
int64_t vqCodes(const VqShape&, const double*, const double*, const double*, int32_t*, double*, double*, const Ctx&) {
  notCompiled();
}
std::string factorStatus() { return "built without CUDA"; }
std::unique_ptr<graph::Kernels> graphKernels(int) { notCompiled(); }

}  // namespace cuda
}  // namespace qr
#endif
