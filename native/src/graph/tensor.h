// The graph executor's tensors: float32, int64 or bool, dense row-major, in host memory or in the
// memory of the executor's device (Kernels::alloc). Buffers are shared (Reshape, Squeeze and
// friends alias their input) and freed when the last tensor referring to them is dropped.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace qr {
namespace graph {

enum class DType : uint8_t { F32, I64, Bool };

inline size_t dtypeSize(DType t) { return t == DType::F32 ? 4 : t == DType::I64 ? 8 : 1; }
inline const char* dtypeName(DType t) { return t == DType::F32 ? "float32" : t == DType::I64 ? "int64" : "bool"; }

using Dims = std::vector<int64_t>;

inline int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}
std::string dimsText(const Dims& d);

class Kernels;

/** One allocation: host (owner null, malloc) or on a device (owner's alloc/free). */
struct Mem {
  void* p = nullptr;
  size_t bytes = 0;
  Kernels* owner = nullptr;
  Mem(size_t bytes, Kernels* owner);
  ~Mem();
  Mem(const Mem&) = delete;
  Mem& operator=(const Mem&) = delete;
};

struct Tensor {
  DType dt = DType::F32;
  Dims dims;
  /** True when the data is in the executor's device memory (always false on the CPU backend). */
  bool dev = false;
  std::shared_ptr<Mem> mem;

  int64_t size() const { return numel(dims); }
  int rank() const { return int(dims.size()); }
  size_t bytes() const { return size_t(size()) * dtypeSize(dt); }
  template <class T>
  T* data() const { return static_cast<T*>(mem->p); }
  bool defined() const { return mem != nullptr; }
};

/** A host tensor of the given type and dims (uninitialised). */
Tensor hostTensor(DType dt, const Dims& dims);
/** The int64 values of a host int64 tensor. */
std::vector<int64_t> int64Values(const Tensor& t);

}  // namespace graph
}  // namespace qr
