// The ops that do the arithmetic of a transformer block: MatMul (batched, broadcasting), Gemm,
// Softmax, ReduceMean/ReduceSum/ReduceMax, LayerNormalization.
#include <algorithm>
#include <stdexcept>

#include "ops.h"

namespace qr {
namespace graph {

namespace {

void runMatMul(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  Tensor a = e.onDevice(in.at(0)), b = e.onDevice(in.at(1));
  need(a.dt == DType::F32 && b.dt == DType::F32, n, "MatMul needs float32 inputs");
  need(a.rank() >= 1 && b.rank() >= 1, n, "MatMul of a scalar");
  const bool vecA = a.rank() == 1, vecB = b.rank() == 1;
  const Dims ad = vecA ? Dims{1, a.dims[0]} : a.dims, bd = vecB ? Dims{b.dims[0], 1} : b.dims;
  const int64_t M = ad[ad.size() - 2], K = ad.back(), N = bd.back();
  if (bd[bd.size() - 2] != K) throw std::invalid_argument("inner dims differ: " + dimsText(a.dims) + " · " + dimsText(b.dims));
  need(M < INT32_MAX && N < INT32_MAX && K < INT32_MAX, n, "a matrix dim exceeds 2^31");
  const Dims ab(ad.begin(), ad.end() - 2), bb(bd.begin(), bd.end() - 2);
  const Dims batch = broadcastDims(ab, bb);
  Dims od = batch;
  if (!vecA) od.push_back(M);
  if (!vecB) od.push_back(N);
  Tensor o = e.alloc(DType::F32, od, true);
  Kernels& k = e.k(o.dev);
  Gemm g;
  g.N = int(N), g.K = int(K);
  const int64_t batches = numel(batch);
  if (batches == 0 || M == 0 || N == 0) {
    out[0] = o;
    return;
  }
  if (K == 0) {
    k.fill(o.data<float>(), 0.f, o.size());
    out[0] = o;
    return;
  }
  // B shared by every batch and A not broadcast: one GEMM over all of A's rows
  if (numel(bb) == 1 && numel(ab) == batches && batches * M < INT32_MAX) {
    g.M = int(batches * M), g.A = a.data<float>(), g.B = b.data<float>(), g.C = o.data<float>();
    k.gemm(g);
    out[0] = o;
    return;
  }
  // batches: coalesce the batch dims (in matrices), then strided-batched GEMMs over the innermost one
  Strided s = broadcastSpace(batch, {&ab, &bb});
  g.M = int(M);
  const int64_t inner = s.dims[s.nd - 1], outer = s.count() / inner;
  need(inner < INT32_MAX, n, "too many batches");
  g.batch = int(inner);
  g.sC = s.st[0][s.nd - 1] * M * N, g.sA = s.st[1][s.nd - 1] * M * K, g.sB = s.st[2][s.nd - 1] * K * N;
  for (int64_t q = 0; q < outer; q++) {
    int64_t off[3] = {0, 0, 0}, r = q;
    for (int d = s.nd - 2; d >= 0; d--) {
      const int64_t c = r % s.dims[d];
      r /= s.dims[d];
      for (int t = 0; t < 3; t++) off[t] += c * s.st[t][d];
    }
    g.C = o.data<float>() + off[0] * M * N;
    g.A = a.data<float>() + off[1] * M * K;
    g.B = b.data<float>() + off[2] * K * N;
    k.gemm(g);
  }
  out[0] = o;
}

std::string checkGemm(const Node& n) {
  if (n.i("transA", 0) != 0) return "Gemm with transA";
  if (n.inputs.size() > 2 && !n.inputs[2].empty() && n.f("beta", 1.f) != 1.f) return "Gemm with beta ≠ 1";
  return "";
}

void runGemm(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor a = e.onDevice(in.at(0)), b = e.onDevice(in.at(1));
  need(a.dt == DType::F32 && b.dt == DType::F32 && a.rank() == 2 && b.rank() == 2, n, "Gemm needs 2-D float32 inputs");
  Gemm g;
  g.transB = n.i("transB", 0) != 0;
  g.alpha = n.f("alpha", 1.f);
  g.M = int(a.dims[0]), g.K = int(a.dims[1]), g.N = int(g.transB ? b.dims[0] : b.dims[1]);
  need((g.transB ? b.dims[1] : b.dims[0]) == g.K, n, "inner dims differ: " + dimsText(a.dims) + " · " + dimsText(b.dims));
  Tensor o = e.alloc(DType::F32, {g.M, g.N}, true);
  Tensor c;
  if (in.size() > 2 && in[2].defined()) {
    c = e.onDevice(in[2]);
    need(c.dt == DType::F32, n, "Gemm's C must be float32");
    if (c.size() == g.N && (c.rank() == 1 || c.dims[0] == 1)) g.bias = c.data<float>();
    else need(false, n, "Gemm's C " + dimsText(c.dims) + " is not a bias of " + std::to_string(g.N));
  }
  g.A = a.data<float>(), g.B = b.data<float>(), g.C = o.data<float>();
  if (g.M && g.N) e.k(o.dev).gemm(g);
  out[0] = o;
}

void runSoftmax(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor x = e.onDevice(in.at(0));
  need(x.dt == DType::F32, n, "Softmax needs float32");
  const int a = normAxis(n.i("axis", -1), x.rank());
  need(a == x.rank() - 1, n, "Softmax over an axis other than the last is not supported");
  Tensor o = e.alloc(DType::F32, x.dims, true);
  const int64_t cols = x.dims.back();
  if (o.size()) e.k(o.dev).softmaxRows(o.data<float>(), x.data<float>(), o.size() / cols, cols);
  out[0] = o;
}

Reduce reduceOf(const std::string& op) { return op == "ReduceMean" ? Reduce::Mean : op == "ReduceSum" ? Reduce::Sum : Reduce::Max; }

void runReduce(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  Tensor x = e.onDevice(in.at(0));
  need(x.dt == DType::F32, n, n.op + " needs float32");
  const int r = x.rank();
  std::vector<int64_t> axes = in.size() > 1 && in[1].defined() ? shapeArg(in[1], n, "axes") : n.ints("axes");
  if (axes.empty()) {
    if (n.i("noop_with_empty_axes", 0)) {
      out[0] = x;
      return;
    }
    for (int i = 0; i < r; i++) axes.push_back(i);
  }
  std::vector<bool> red(r, false);
  for (int64_t a : axes) red[normAxis(a, r)] = true;
  const bool keep = n.i("keepdims", 1) != 0;
  Dims od, perm, kept, moved;
  int64_t rows = 1, cols = 1;
  for (int i = 0; i < r; i++) {
    if (red[i]) cols *= x.dims[i], moved.push_back(i);
    else rows *= x.dims[i], kept.push_back(i);
    if (!red[i] || keep) od.push_back(red[i] ? 1 : x.dims[i]);
  }
  perm = kept;
  perm.insert(perm.end(), moved.begin(), moved.end());
  bool identity = true;
  for (int i = 0; i < r; i++) identity = identity && perm[i] == i;
  if (!identity) {  // reduced axes to the end (a strided copy)
    int64_t st[MAX_DIMS];
    contiguousStrides(x.dims, st);
    Tensor t = e.alloc(DType::F32, x.dims, true);
    Strided s;
    s.nd = r;
    Dims pd(r);
    for (int i = 0; i < r; i++) pd[i] = x.dims[perm[i]], s.dims[i] = pd[i], s.st[1][i] = st[perm[i]];
    contiguousStrides(pd, s.st[0]);
    coalesce(s, 2);
    if (t.size()) e.k(t.dev).copy(4, t.mem->p, x.mem->p, s);
    x = t;
  }
  Tensor o = e.alloc(DType::F32, od, true);
  need(cols > 0 || n.op != "ReduceMax", n, "ReduceMax over an empty axis");
  if (rows) e.k(o.dev).reduceRows(reduceOf(n.op), o.data<float>(), x.data<float>(), rows, cols);
  out[0] = o;
}

std::string checkLayerNorm(const Node& n) {
  for (size_t i = 1; i < n.outputs.size(); i++)
    if (!n.outputs[i].empty()) return "LayerNormalization's Mean and InvStdDev outputs";
  return "";
}

void runLayerNorm(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor x = e.onDevice(in.at(0)), scale = e.onDevice(in.at(1));
  const Tensor bias = in.size() > 2 && in[2].defined() ? e.onDevice(in[2]) : Tensor();
  need(x.dt == DType::F32 && scale.dt == DType::F32, n, "LayerNormalization needs float32");
  const int a = normAxis(n.i("axis", -1), x.rank());
  int64_t rows = 1, cols = 1;
  for (int i = 0; i < x.rank(); i++) (i < a ? rows : cols) *= x.dims[i];
  need(scale.size() == cols && (!bias.defined() || bias.size() == cols), n,
       "scale and bias must hold the " + std::to_string(cols) + " normalised values");
  Tensor o = e.alloc(DType::F32, x.dims, true);
  if (o.size())
    e.k(o.dev).layerNormRows(o.data<float>(), x.data<float>(), scale.data<float>(), bias.defined() ? bias.data<float>() : nullptr,
                             rows, cols, n.f("epsilon", 1e-5f));
  out[0] = o;
}

}  // namespace

void addNnOps(std::vector<std::pair<std::string, OpDef>>& t) {
  t.push_back({"MatMul", {runMatMul, nullptr}});
  t.push_back({"Gemm", {runGemm, checkGemm}});
  t.push_back({"Softmax", {runSoftmax, nullptr}});
  t.push_back({"ReduceMean", {runReduce, nullptr}});
  t.push_back({"ReduceSum", {runReduce, nullptr}});
  t.push_back({"ReduceMax", {runReduce, nullptr}});
  t.push_back({"LayerNormalization", {runLayerNorm, checkLayerNorm}});
}

}  // namespace graph
}  // namespace qr
