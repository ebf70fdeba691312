// The ONNX operators of the graph executor, by name: each op reads its inputs (where they live),
// computes shapes and strides on the host, and runs the primitives of kernels.h on the side that
// holds its tensors: int64 on the host, float on the executor's device, bool where its inputs are.
#pragma once
#include <string>
#include <vector>

#include "kernels.h"
#include "spec.h"

namespace qr {
namespace graph {

/** What an op sees of the executor during a run. */
class OpEnv {
 public:
  OpEnv(Kernels& dev, const Ctx& ctx) : dev_(dev), ctx_(ctx) {}
  /** The kernels of the side a tensor lives on. */
  Kernels& k(bool onDev) { return onDev ? dev_ : hostKernels(); }
  /** Whether float tensors live on a device other than the host. */
  bool gpu() const { return dev_.device(); }
  Tensor alloc(DType dt, const Dims& dims, bool onDev);
  /** The tensor in host memory (a copy when it lives on the device). */
  Tensor onHost(const Tensor& t);
  /** The tensor where float tensors live (a copy when it is on the host and the backend is a device). */
  Tensor onDevice(const Tensor& t);
  const Ctx& ctx() const { return ctx_; }

 private:
  Kernels& dev_;
  const Ctx& ctx_;
};

using OpFn = void (*)(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e);
/** A static check of a node's attributes: "" when supported, else why not. */
using OpCheck = std::string (*)(const Node& n);

struct OpDef {
  OpFn run = nullptr;
  OpCheck check = nullptr;
};

/** The op named `op` (default ONNX domain), or null. */
const OpDef* findOp(const std::string& op);

// registration of each family (ops_elementwise.cc, ops_shape.cc, ops_nn.cc)
void addElementwiseOps(std::vector<std::pair<std::string, OpDef>>& t);
void addShapeOps(std::vector<std::pair<std::string, OpDef>>& t);
void addNnOps(std::vector<std::pair<std::string, OpDef>>& t);

// shared helpers
/** Numpy broadcasting of dims (throws naming both shapes when they do not broadcast). */
Dims broadcastDims(const Dims& a, const Dims& b);
/** Strides (elements) of a contiguous tensor of `dims` seen as `out` dims (right-aligned; 0 where broadcast). */
void broadcastStrides(const Dims& dims, const Dims& out, int64_t* st);
/** Contiguous row-major strides. */
void contiguousStrides(const Dims& dims, int64_t* st);
/** Axis in [0, rank) from a possibly negative one (throws when out of range). */
int normAxis(int64_t axis, int rank);
/** A strided space over `out` with each operand broadcast to it, coalesced. */
Strided broadcastSpace(const Dims& out, const std::vector<const Dims*>& operands);
/** The int64 values of an input tensor that must be a host int64 (shape arguments). */
std::vector<int64_t> shapeArg(const Tensor& t, const Node& n, const char* what);
void need(bool ok, const Node& n, const std::string& what);

}  // namespace graph
}  // namespace qr
