// The op table and the helpers every op family shares: placement (OpEnv), broadcasting, axes.
#include "ops.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

namespace qr {
namespace graph {

void need(bool ok, const Node& n, const std::string& what) {
  (void)n;
  if (!ok) throw std::invalid_argument(what);
}

Tensor OpEnv::alloc(DType dt, const Dims& dims, bool onDev) {
  for (int64_t d : dims)
    if (d < 0) throw std::invalid_argument("negative dimension in " + dimsText(dims));
  Tensor t;
  t.dt = dt;
  t.dims = dims;
  t.dev = onDev && gpu();
  t.mem = std::make_shared<Mem>(size_t(numel(dims)) * dtypeSize(dt), t.dev ? &dev_ : nullptr);
  return t;
}

Tensor OpEnv::onHost(const Tensor& t) {
  if (!t.dev) return t;
  Tensor h = alloc(t.dt, t.dims, false);
  dev_.download(h.mem->p, t.mem->p, t.bytes());
  dev_.sync();
  return h;
}

Tensor OpEnv::onDevice(const Tensor& t) {
  if (t.dev || !gpu()) return t;
  Tensor d = alloc(t.dt, t.dims, true);
  dev_.upload(d.mem->p, t.mem->p, t.bytes());
  return d;
}

Dims broadcastDims(const Dims& a, const Dims& b) {
  const size_t r = std::max(a.size(), b.size());
  Dims o(r);
  for (size_t i = 0; i < r; i++) {
    const int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (x != y && x != 1 && y != 1)
      throw std::invalid_argument("shapes " + dimsText(a) + " and " + dimsText(b) + " do not broadcast");
    o[i] = x == 1 ? y : x;
  }
  return o;
}

void contiguousStrides(const Dims& dims, int64_t* st) {
  int64_t s = 1;
  for (int d = int(dims.size()) - 1; d >= 0; d--) {
    st[d] = s;
    s *= dims[d];
  }
}

void broadcastStrides(const Dims& dims, const Dims& out, int64_t* st) {
  int64_t own[MAX_DIMS];
  contiguousStrides(dims, own);
  const size_t lead = out.size() - dims.size();
  for (size_t d = 0; d < out.size(); d++) st[d] = d < lead || dims[d - lead] == 1 ? 0 : own[d - lead];
}

int normAxis(int64_t axis, int rank) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw std::invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return int(a);
}

Strided broadcastSpace(const Dims& out, const std::vector<const Dims*>& operands) {
  if (out.size() > size_t(MAX_DIMS)) throw std::invalid_argument("more than 8 dimensions: " + dimsText(out));
  Strided s;
  s.nd = int(out.size());
  for (int d = 0; d < s.nd; d++) s.dims[d] = out[d];
  contiguousStrides(out, s.st[0]);
  for (size_t k = 0; k < operands.size(); k++) {
    if (operands[k]->size() > out.size()) throw std::invalid_argument("an operand has more dims than the output");
    broadcastStrides(*operands[k], out, s.st[k + 1]);
  }
  coalesce(s, int(operands.size()) + 1);
  return s;
}

std::vector<int64_t> shapeArg(const Tensor& t, const Node& n, const char* what) {
  (void)n;
  if (!t.defined()) throw std::invalid_argument(std::string("missing ") + what);
  if (t.dt != DType::I64) throw std::invalid_argument(std::string(what) + " must be int64, got " + dtypeName(t.dt));
  return int64Values(t);
}

const OpDef* findOp(const std::string& op) {
  static const std::unordered_map<std::string, OpDef> table = [] {
    std::vector<std::pair<std::string, OpDef>> t;
    addElementwiseOps(t);
    addShapeOps(t);
    addNnOps(t);
    return std::unordered_map<std::string, OpDef>(t.begin(), t.end());
  }();
  auto it = table.find(op);
  return it == table.end() ? nullptr : &it->second;
}

}  // namespace graph
}  // namespace qr
