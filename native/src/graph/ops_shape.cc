// Ops that move data without arithmetic, and the shape arithmetic of exported graphs: Constant,
// ConstantOfShape, Shape, Reshape, Flatten, Unsqueeze, Squeeze, Transpose, Slice, Concat, Gather,
// GatherND, Split, Expand, Range, CumSum, Trilu. Reshape-like ops alias their input (no copy).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "ops.h"

namespace qr {
namespace graph {

namespace {

Tensor alias(const Tensor& x, const Dims& dims) {
  if (numel(dims) != x.size()) throw std::invalid_argument("cannot reshape " + dimsText(x.dims) + " to " + dimsText(dims));
  Tensor o = x;
  o.dims = dims;
  return o;
}

/** A host tensor (attribute value) placed where its type lives. */
Tensor placed(const Tensor& h, OpEnv& e) { return h.dt == DType::I64 ? h : e.onDevice(h); }

std::string checkConstant(const Node& n) {
  if (n.t("value") || n.has("value_float") || n.has("value_floats") || n.has("value_int") || n.has("value_ints")) return "";
  return "Constant without a float32 or int64 value";
}

void runConstant(const Node& n, const std::vector<Tensor>&, std::vector<Tensor>& out, OpEnv& e) {
  if (const Tensor* t = n.t("value")) {
    out[0] = placed(*t, e);
    return;
  }
  const auto& a = n.has("value_float") ? n.attrs.at("value_float") : n.has("value_floats") ? n.attrs.at("value_floats")
                  : n.has("value_int") ? n.attrs.at("value_int") : n.attrs.at("value_ints");
  const bool isFloat = n.has("value_float") || n.has("value_floats");
  const bool scalar = a.kind == Attr::Num;
  const std::vector<double> v = scalar ? std::vector<double>{a.num} : a.nums;
  Tensor h = e.alloc(isFloat ? DType::F32 : DType::I64, scalar ? Dims{} : Dims{int64_t(v.size())}, false);
  for (size_t i = 0; i < v.size(); i++) {
    if (isFloat) h.data<float>()[i] = float(v[i]);
    else h.data<int64_t>()[i] = int64_t(v[i]);
  }
  out[0] = placed(h, e);
}

std::string checkConstantOfShape(const Node& n) {
  const Tensor* v = n.t("value");
  return !v || v->dt != DType::Bool ? "" : "ConstantOfShape of bool";
}

void runConstantOfShape(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Dims dims = shapeArg(in.at(0), n, "shape");
  const Tensor* v = n.t("value");
  if (v && v->dt == DType::I64) {
    Tensor o = e.alloc(DType::I64, dims, false);
    std::fill_n(o.data<int64_t>(), o.size(), v->data<int64_t>()[0]);
    out[0] = o;
    return;
  }
  Tensor o = e.alloc(DType::F32, dims, true);
  e.k(o.dev).fill(o.data<float>(), v ? v->data<float>()[0] : 0.f, o.size());
  out[0] = o;
}

void runShape(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Dims& d = in.at(0).dims;
  const int r = int(d.size());
  auto clampAxis = [r](int64_t a) { return std::min<int64_t>(r, std::max<int64_t>(0, a < 0 ? a + r : a)); };
  const int64_t s = clampAxis(n.i("start", 0)), end = n.has("end") ? clampAxis(n.i("end", r)) : r;
  Tensor o = e.alloc(DType::I64, {std::max<int64_t>(0, end - s)}, false);
  for (int64_t i = s; i < end; i++) o.data<int64_t>()[i - s] = d[i];
  out[0] = o;
}

void runReshape(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv&) {
  const Tensor& x = in.at(0);
  std::vector<int64_t> s = shapeArg(in.at(1), n, "shape");
  const bool allowZero = n.i("allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == 0 && !allowZero) {
      if (i >= x.dims.size()) throw std::invalid_argument("shape " + dimsText(s) + " copies a dim the input " + dimsText(x.dims) + " lacks");
      s[i] = x.dims[i];
    }
    if (s[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("shape " + dimsText(s) + " has two -1");
      infer = int(i);
    } else known *= s[i];
  }
  if (infer >= 0) {
    if (known == 0 || x.size() % known) throw std::invalid_argument("cannot reshape " + dimsText(x.dims) + " to " + dimsText(s));
    s[infer] = x.size() / known;
  }
  out[0] = alias(x, s);
}

void runFlatten(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv&) {
  const Tensor& x = in.at(0);
  const int r = x.rank();
  const int64_t a = n.i("axis", 1) < 0 ? n.i("axis", 1) + r : n.i("axis", 1);
  if (a < 0 || a > r) throw std::invalid_argument("axis out of range");
  int64_t lead = 1;
  for (int64_t i = 0; i < a; i++) lead *= x.dims[i];
  out[0] = alias(x, {lead, lead ? x.size() / lead : 0});
}

std::vector<int64_t> axesOf(const Node& n, const std::vector<Tensor>& in) {
  if (in.size() > 1 && in[1].defined()) return shapeArg(in[1], n, "axes");
  return n.ints("axes");
}

void runUnsqueeze(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv&) {
  const Tensor& x = in.at(0);
  std::vector<int64_t> axes = axesOf(n, in);
  const int r = x.rank() + int(axes.size());
  for (auto& a : axes) a = normAxis(a, r);
  std::sort(axes.begin(), axes.end());
  Dims d;
  size_t k = 0, j = 0;
  for (int i = 0; i < r; i++) {
    if (k < axes.size() && axes[k] == i) d.push_back(1), k++;
    else d.push_back(x.dims.at(j++));
  }
  out[0] = alias(x, d);
}

void runSqueeze(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv&) {
  const Tensor& x = in.at(0);
  std::vector<int64_t> axes = axesOf(n, in);
  for (auto& a : axes) a = normAxis(a, x.rank());
  Dims d;
  for (int i = 0; i < x.rank(); i++) {
    const bool listed = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (listed && x.dims[i] != 1) throw std::invalid_argument("cannot squeeze dim " + std::to_string(i) + " of " + dimsText(x.dims));
    if (listed || (axes.empty() && x.dims[i] == 1)) continue;
    d.push_back(x.dims[i]);
  }
  out[0] = alias(x, d);
}

/** out = x viewed through (offset, strides, dims): a strided copy on x's side. */
Tensor view(const Tensor& x, const Dims& dims, const int64_t* srcSt, int64_t srcOff, OpEnv& e) {
  Tensor o = e.alloc(x.dt, dims, x.dev);
  if (o.size() == 0) return o;
  Strided s;
  s.nd = int(dims.size());
  for (int d = 0; d < s.nd; d++) s.dims[d] = dims[d], s.st[1][d] = srcSt[d];
  contiguousStrides(dims, s.st[0]);
  s.off[1] = srcOff;
  coalesce(s, 2);
  e.k(x.dev).copy(dtypeSize(x.dt), o.mem->p, x.mem->p, s);
  return o;
}

void runTranspose(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  const int r = x.rank();
  need(r <= MAX_DIMS, n, "more than 8 dims");
  std::vector<int64_t> perm = n.ints("perm");
  if (perm.empty())
    for (int i = r - 1; i >= 0; i--) perm.push_back(i);
  need(int(perm.size()) == r, n, "perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
  int64_t st[MAX_DIMS], pst[MAX_DIMS];
  contiguousStrides(x.dims, st);
  Dims d(r);
  for (int i = 0; i < r; i++) d[i] = x.dims[normAxis(perm[i], r)], pst[i] = st[normAxis(perm[i], r)];
  out[0] = view(x, d, pst, 0, e);
}

void runSlice(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  const int r = x.rank();
  const std::vector<int64_t> starts = shapeArg(in.at(1), n, "starts"), ends = shapeArg(in.at(2), n, "ends");
  std::vector<int64_t> axes, steps;
  if (in.size() > 3 && in[3].defined()) axes = shapeArg(in[3], n, "axes");
  else for (size_t i = 0; i < starts.size(); i++) axes.push_back(int64_t(i));
  if (in.size() > 4 && in[4].defined()) steps = shapeArg(in[4], n, "steps");
  else steps.assign(starts.size(), 1);
  need(ends.size() == starts.size() && axes.size() == starts.size() && steps.size() == starts.size(), n, "starts, ends, axes and steps differ in length");
  int64_t st[MAX_DIMS], vst[MAX_DIMS];
  contiguousStrides(x.dims, st);
  Dims d = x.dims;
  int64_t off = 0;
  for (int i = 0; i < r; i++) vst[i] = st[i];
  for (size_t k = 0; k < starts.size(); k++) {
    const int a = normAxis(axes[k], r);
    const int64_t dim = x.dims[a], step = steps[k];
    need(step != 0, n, "a step is 0");
    int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k], en = ends[k] < 0 ? ends[k] + dim : ends[k];
    int64_t len;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim), en = std::clamp<int64_t>(en, 0, dim);
      len = en > s ? (en - s + step - 1) / step : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1), en = std::clamp<int64_t>(en, -1, dim - 1);
      len = s > en ? (s - en + (-step) - 1) / (-step) : 0;
    }
    d[a] = len;
    off += len ? s * st[a] : 0;
    vst[a] = st[a] * step;
  }
  out[0] = view(x, d, vst, off, e);
}

void runConcat(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  need(!in.empty(), n, "no inputs");
  const Tensor& first = in[0];
  const int r = first.rank();
  const int a = normAxis(n.i("axis", 0), r);
  Dims d = first.dims;
  d[a] = 0;
  bool dev = false;
  for (const Tensor& t : in) {
    need(t.dt == first.dt && t.rank() == r, n, "inputs differ in type or rank");
    for (int i = 0; i < r; i++) need(i == a || t.dims[i] == first.dims[i], n, "input dims " + dimsText(t.dims) + " and " + dimsText(first.dims) + " differ off the axis");
    d[a] += t.dims[a];
    dev = dev || t.dev;
  }
  Tensor o = e.alloc(first.dt, d, dev);
  int64_t ost[MAX_DIMS];
  contiguousStrides(d, ost);
  int64_t at = 0;
  for (const Tensor& t0 : in) {
    if (t0.size() == 0) continue;
    const Tensor t = dev ? e.onDevice(t0) : t0;
    Strided s;
    s.nd = r;
    for (int i = 0; i < r; i++) s.dims[i] = t.dims[i], s.st[0][i] = ost[i];
    contiguousStrides(t.dims, s.st[1]);
    s.off[0] = at * ost[a];
    coalesce(s, 2);
    e.k(dev).copy(dtypeSize(t.dt), o.mem->p, t.mem->p, s);
    at += t.dims[a];
  }
  out[0] = o;
}

void runGather(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  const Tensor idxT = e.onHost(in.at(1));
  need(idxT.dt == DType::I64, n, "indices must be int64");
  const int a = normAxis(n.i("axis", 0), x.rank());
  std::vector<int64_t> idx = int64Values(idxT);
  const int64_t len = x.dims[a];
  for (auto& v : idx) {
    if (v < -len || v >= len) throw std::invalid_argument("index " + std::to_string(v) + " is out of range for dim " + std::to_string(len));
    if (v < 0) v += len;
  }
  Dims d(x.dims.begin(), x.dims.begin() + a);
  d.insert(d.end(), idxT.dims.begin(), idxT.dims.end());
  d.insert(d.end(), x.dims.begin() + a + 1, x.dims.end());
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; i++) outer *= x.dims[i];
  for (int i = a + 1; i < x.rank(); i++) inner *= x.dims[i];
  Tensor o = e.alloc(x.dt, d, x.dev);
  if (o.size()) e.k(x.dev).gather(dtypeSize(x.dt), o.mem->p, x.mem->p, idx.data(), outer, len, int64_t(idx.size()), inner);
  out[0] = o;
}

void runSplit(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  const int a = normAxis(n.i("axis", 0), x.rank());
  std::vector<int64_t> sizes = in.size() > 1 && in[1].defined() ? shapeArg(in[1], n, "split") : n.ints("split");
  const int64_t parts = int64_t(out.size());
  if (sizes.empty()) {
    const int64_t each = (x.dims[a] + parts - 1) / parts;  // opset 18's num_outputs: the last part may be shorter
    for (int64_t k = 0, left = x.dims[a]; k < parts; k++, left -= each) sizes.push_back(std::min(each, left));
  }
  need(int64_t(sizes.size()) == parts, n, "split sizes do not match the outputs");
  int64_t st[MAX_DIMS];
  contiguousStrides(x.dims, st);
  int64_t at = 0;
  for (int64_t k = 0; k < parts; k++) {
    Dims d = x.dims;
    d[a] = sizes[k];
    need(sizes[k] >= 0 && at + sizes[k] <= x.dims[a], n, "split sizes exceed the axis");
    out[k] = view(x, d, st, at * st[a], e);
    at += sizes[k];
  }
}

void runExpand(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  const Dims d = broadcastDims(x.dims, shapeArg(in.at(1), n, "shape"));
  int64_t st[MAX_DIMS];
  need(d.size() <= size_t(MAX_DIMS), n, "more than 8 dims");
  broadcastStrides(x.dims, d, st);
  out[0] = view(x, d, st, 0, e);
}

void runRange(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor s = e.onHost(in.at(0)), l = e.onHost(in.at(1)), dl = e.onHost(in.at(2));
  need(s.dt == l.dt && s.dt == dl.dt && s.dt != DType::Bool, n, "start, limit and delta must share a numeric type");
  auto val = [](const Tensor& t) { return t.dt == DType::I64 ? double(t.data<int64_t>()[0]) : double(t.data<float>()[0]); };
  const double a = val(s), b = val(l), c = val(dl);
  need(c != 0, n, "delta is 0");
  const int64_t cnt = std::max<int64_t>(0, int64_t(std::ceil((b - a) / c)));
  Tensor o = e.alloc(s.dt, {cnt}, false);
  for (int64_t i = 0; i < cnt; i++) {
    if (s.dt == DType::I64) o.data<int64_t>()[i] = s.data<int64_t>()[0] + i * dl.data<int64_t>()[0];
    else o.data<float>()[i] = float(a + double(i) * c);
  }
  out[0] = placed(o, e);
}

void runCumSum(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor x = e.onHost(in.at(0));
  need(x.dt != DType::Bool, n, "CumSum of bool");
  const int a = normAxis(shapeArg(in.at(1), n, "axis").at(0), x.rank());
  const bool excl = n.i("exclusive", 0) != 0, rev = n.i("reverse", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; i++) outer *= x.dims[i];
  for (int i = a + 1; i < x.rank(); i++) inner *= x.dims[i];
  const int64_t len = x.dims[a];
  Tensor o = e.alloc(x.dt, x.dims, false);
  for (int64_t p = 0; p < outer; p++)
    for (int64_t q = 0; q < inner; q++) {
      double acc = 0;
      for (int64_t j0 = 0; j0 < len; j0++) {
        const int64_t j = rev ? len - 1 - j0 : j0;
        const int64_t at = (p * len + j) * inner + q;
        const double v = x.dt == DType::I64 ? double(x.data<int64_t>()[at]) : double(x.data<float>()[at]);
        if (!excl) acc += v;
        if (x.dt == DType::I64) o.data<int64_t>()[at] = int64_t(acc);
        else o.data<float>()[at] = float(acc);
        if (excl) acc += v;
      }
    }
  out[0] = placed(o, e);
}

void runGatherND(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  const Tensor idxT = e.onHost(in.at(1));
  need(idxT.dt == DType::I64 && idxT.rank() >= 1, n, "indices must be int64 of rank ≥ 1");
  const int b = int(n.i("batch_dims", 0));
  const int64_t q = idxT.dims.back();
  need(b >= 0 && b < idxT.rank() && b + q <= x.rank(), n, "batch_dims and the index depth do not fit the data " + dimsText(x.dims));
  for (int i = 0; i < b; i++) need(idxT.dims[i] == x.dims[i], n, "the batch dims of data and indices differ");
  int64_t batches = 1, inner = 1, len = 1;
  for (int i = 0; i < b; i++) batches *= x.dims[i];
  for (int64_t i = b; i < b + q; i++) len *= x.dims[i];
  for (int64_t i = b + q; i < x.rank(); i++) inner *= x.dims[i];
  const int64_t perBatch = idxT.size() / q / batches;
  Dims d(idxT.dims.begin(), idxT.dims.end() - 1);
  d.insert(d.end(), x.dims.begin() + b + q, x.dims.end());
  Tensor o = e.alloc(x.dt, d, x.dev);
  const int64_t* iv = idxT.data<int64_t>();
  const size_t elem = dtypeSize(x.dt);
  std::vector<int64_t> flat(perBatch);
  for (int64_t bi = 0; bi < batches; bi++) {
    for (int64_t j = 0; j < perBatch; j++) {
      int64_t at = 0;
      for (int64_t k = 0; k < q; k++) {
        const int64_t dim = x.dims[b + k];
        int64_t v = iv[(bi * perBatch + j) * q + k];
        if (v < -dim || v >= dim) throw std::invalid_argument("index " + std::to_string(v) + " is out of range for dim " + std::to_string(dim));
        at = at * dim + (v < 0 ? v + dim : v);
      }
      flat[j] = at;
    }
    if (perBatch && inner)
      e.k(x.dev).gather(elem, static_cast<uint8_t*>(o.mem->p) + size_t(bi * perBatch * inner) * elem,
                        static_cast<const uint8_t*>(x.mem->p) + size_t(bi * len * inner) * elem, flat.data(), 1, len, perBatch, inner);
  }
  out[0] = o;
}

void runTrilu(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  // Where(mask, X, 0) with the triangle's mask made on the host
  const Tensor& x = in.at(0);
  need(x.rank() >= 2 && x.dt != DType::Bool, n, "Trilu needs a float32 or int64 tensor of rank ≥ 2");
  const int64_t k = in.size() > 1 && in[1].defined() ? shapeArg(in[1], n, "k").at(0) : 0;
  const bool upper = n.i("upper", 1) != 0;
  const int64_t R = x.dims[x.rank() - 2], C = x.dims.back();
  Tensor mask = e.alloc(DType::Bool, {R, C}, false);
  for (int64_t i = 0; i < R; i++)
    for (int64_t j = 0; j < C; j++) mask.data<uint8_t>()[i * C + j] = upper ? j - i >= k : j - i <= k;
  Tensor zero = e.alloc(x.dt, {}, false);
  std::memset(zero.mem->p, 0, dtypeSize(x.dt));
  const Strided s = broadcastSpace(x.dims, {&mask.dims, &x.dims, &zero.dims});
  Tensor c = x.dev ? e.onDevice(mask) : mask, z = x.dev ? e.onDevice(zero) : zero;
  Tensor o = e.alloc(x.dt, x.dims, x.dev);
  if (o.size()) e.k(x.dev).where(dtypeSize(x.dt), o.mem->p, c.data<uint8_t>(), x.mem->p, z.mem->p, s);
  out[0] = o;
}

}  // namespace

void addShapeOps(std::vector<std::pair<std::string, OpDef>>& t) {
  t.push_back({"Constant", {runConstant, checkConstant}});
  t.push_back({"ConstantOfShape", {runConstantOfShape, checkConstantOfShape}});
  t.push_back({"Shape", {runShape, nullptr}});
  t.push_back({"Reshape", {runReshape, nullptr}});
  t.push_back({"Flatten", {runFlatten, nullptr}});
  t.push_back({"Unsqueeze", {runUnsqueeze, nullptr}});
  t.push_back({"Squeeze", {runSqueeze, nullptr}});
  t.push_back({"Transpose", {runTranspose, nullptr}});
  t.push_back({"Slice", {runSlice, nullptr}});
  t.push_back({"Concat", {runConcat, nullptr}});
  t.push_back({"Gather", {runGather, nullptr}});
  t.push_back({"Split", {runSplit, nullptr}});
  t.push_back({"Expand", {runExpand, nullptr}});
  t.push_back({"Range", {runRange, nullptr}});
  t.push_back({"CumSum", {runCumSum, nullptr}});
  t.push_back({"GatherND", {runGatherND, nullptr}});
  t.push_back({"Trilu", {runTrilu, nullptr}});
}

}  // namespace graph
}  // namespace qr
