// Element-wise ops: unary math, IsNaN/Not, broadcasting binary arithmetic, comparisons and logic,
// Where, Cast. Float tensors run on the executor's device, int64 on the host, bool where its inputs are.
#include <cmath>
#include <stdexcept>

#include "ops.h"

namespace qr {
namespace graph {

namespace {

const std::pair<const char*, Unary> UNARY[] = {
    {"Neg", Unary::Neg},   {"Sqrt", Unary::Sqrt}, {"Reciprocal", Unary::Reciprocal}, {"Sigmoid", Unary::Sigmoid},
    {"Tanh", Unary::Tanh}, {"Cos", Unary::Cos},   {"Sin", Unary::Sin},               {"Exp", Unary::Exp},
    {"Abs", Unary::Abs},   {"Relu", Unary::Relu}, {"Erf", Unary::Erf},               {"Identity", Unary::Identity},
};
const std::pair<const char*, Binary> BINARY[] = {
    {"Add", Binary::Add},     {"Sub", Binary::Sub},     {"Mul", Binary::Mul},           {"Div", Binary::Div},
    {"Pow", Binary::Pow},     {"Max", Binary::Max},     {"Min", Binary::Min},           {"Equal", Binary::Equal},
    {"Less", Binary::Less},   {"LessOrEqual", Binary::LessOrEqual}, {"Greater", Binary::Greater},
    {"GreaterOrEqual", Binary::GreaterOrEqual}, {"And", Binary::And}, {"Or", Binary::Or},
};

Unary unaryOf(const std::string& op) {
  for (const auto& u : UNARY)
    if (op == u.first) return u.second;
  throw std::logic_error("not a unary op: " + op);
}
Binary binaryOf(const std::string& op) {
  for (const auto& b : BINARY)
    if (op == b.first) return b.second;
  throw std::logic_error("not a binary op: " + op);
}

void runUnary(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  const Unary op = unaryOf(n.op);
  if (op == Unary::Identity) {
    out[0] = x;
    return;
  }
  if (x.dt == DType::I64) {
    if (op != Unary::Neg && op != Unary::Abs) throw std::invalid_argument(n.op + " of an int64 tensor is not supported");
    Tensor o = e.alloc(DType::I64, x.dims, false);
    const int64_t* a = x.data<int64_t>();
    int64_t* b = o.data<int64_t>();
    for (int64_t i = 0; i < x.size(); i++) b[i] = op == Unary::Neg ? -a[i] : (a[i] < 0 ? -a[i] : a[i]);
    out[0] = o;
    return;
  }
  need(x.dt == DType::F32, n, n.op + " needs a float32 input, got " + dtypeName(x.dt));
  const Tensor xd = e.onDevice(x);
  Tensor o = e.alloc(DType::F32, x.dims, true);
  e.k(o.dev).unary(op, o.data<float>(), xd.data<float>(), x.size());
  out[0] = o;
}

void runIsNaN(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  need(in.at(0).dt == DType::F32, n, "IsNaN needs a float32 input");
  const Tensor x = e.onDevice(in[0]);
  Tensor o = e.alloc(DType::Bool, x.dims, x.dev);
  e.k(o.dev).isnan(o.data<uint8_t>(), x.data<float>(), x.size());
  out[0] = o;
}

void runNot(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  need(x.dt == DType::Bool, n, "Not needs a bool input");
  Tensor o = e.alloc(DType::Bool, x.dims, x.dev);
  e.k(o.dev).logicalNot(o.data<uint8_t>(), x.data<uint8_t>(), x.size());
  out[0] = o;
}

Tensor binary(Binary op, Tensor a, Tensor b, OpEnv& e) {
  // Pow's exponent may be another type: an int64 exponent of a float base becomes float
  if (op == Binary::Pow && a.dt == DType::F32 && b.dt == DType::I64) {
    Tensor f = e.alloc(DType::F32, b.dims, false);
    for (int64_t i = 0; i < b.size(); i++) f.data<float>()[i] = float(b.data<int64_t>()[i]);
    b = f;
  }
  if (a.dt != b.dt) throw std::invalid_argument(std::string("input types differ: ") + dtypeName(a.dt) + " and " + dtypeName(b.dt));
  if ((op == Binary::And || op == Binary::Or) != (a.dt == DType::Bool) && !(op == Binary::Equal && a.dt == DType::Bool))
    throw std::invalid_argument(std::string("inputs of type ") + dtypeName(a.dt) + " are not supported");
  const Dims od = broadcastDims(a.dims, b.dims);
  const bool outBool = isCompare(op) || a.dt == DType::Bool;
  const DType odt = outBool ? DType::Bool : a.dt;
  const Strided s = broadcastSpace(od, {&a.dims, &b.dims});
  if (a.dt == DType::I64) {
    Tensor o = e.alloc(odt, od, false);
    if (op == Binary::Div)
      for (int64_t i = 0, nb = b.size(); i < nb; i++)
        if (b.data<int64_t>()[i] == 0) throw std::invalid_argument("integer division by zero");
    hostBinaryInt64(op, o.mem->p, a.data<int64_t>(), b.data<int64_t>(), s);
    return o;
  }
  const bool dev = a.dt == DType::F32 ? true : (a.dev || b.dev);
  if (dev) {
    a = e.onDevice(a);
    b = e.onDevice(b);
  }
  Tensor o = e.alloc(odt, od, dev);
  e.k(o.dev).binary(op, a.dt, o.mem->p, a.mem->p, b.mem->p, s);
  return o;
}

void runBinary(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Binary op = binaryOf(n.op);
  need(in.size() >= 2 || ((op == Binary::Max || op == Binary::Min) && in.size() == 1), n, n.op + " needs two inputs");
  if (in.size() == 1) {
    out[0] = in[0];
    return;
  }
  Tensor acc = binary(op, in[0], in[1], e);
  for (size_t k = 2; k < in.size(); k++) acc = binary(op, acc, in[k], e);  // variadic Max / Min
  out[0] = acc;
}

void runWhere(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  Tensor c = in.at(0), a = in.at(1), b = in.at(2);
  need(c.dt == DType::Bool, n, "Where's condition must be bool");
  need(a.dt == b.dt, n, "Where's values differ in type");
  const Dims od = broadcastDims(c.dims, broadcastDims(a.dims, b.dims));
  const Strided s = broadcastSpace(od, {&c.dims, &a.dims, &b.dims});
  const bool dev = a.dt == DType::F32 || (a.dt == DType::Bool && (a.dev || b.dev || c.dev));
  if (dev) {
    c = e.onDevice(c), a = e.onDevice(a), b = e.onDevice(b);
  } else {
    c = e.onHost(c);
  }
  Tensor o = e.alloc(a.dt, od, dev);
  e.k(o.dev).where(dtypeSize(a.dt), o.mem->p, c.data<uint8_t>(), a.mem->p, b.mem->p, s);
  out[0] = o;
}

DType castTarget(int64_t to) { return to == 1 ? DType::F32 : to == 7 ? DType::I64 : DType::Bool; }
std::string checkCast(const Node& n) {
  const int64_t to = n.i("to", 0);
  return to == 1 || to == 7 || to == 9 ? "" : "Cast to ONNX type " + std::to_string(to) + " (only float32, int64 and bool)";
}

void runCast(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, OpEnv& e) {
  const Tensor& x = in.at(0);
  const DType to = castTarget(n.i("to", 0));
  if (x.dt == to) {
    out[0] = x;
    return;
  }
  if ((x.dt == DType::F32 && to == DType::Bool) || (x.dt == DType::Bool && to == DType::F32)) {
    const Tensor xd = e.onDevice(x);
    Tensor o = e.alloc(to, x.dims, xd.dev);
    e.k(o.dev).castFloatBool(o.mem->p, xd.mem->p, x.size(), to == DType::Bool);
    out[0] = o;
    return;
  }
  // with int64 on either side: on the host (shape-sized tensors), then where the type lives
  const Tensor h = e.onHost(x);
  Tensor o = e.alloc(to, x.dims, false);
  const int64_t cnt = x.size();
  for (int64_t i = 0; i < cnt; i++) {
    double v = h.dt == DType::F32 ? double(h.data<float>()[i]) : h.dt == DType::I64 ? double(h.data<int64_t>()[i]) : double(h.data<uint8_t>()[i]);
    if (to == DType::I64) o.data<int64_t>()[i] = h.dt == DType::I64 ? h.data<int64_t>()[i] : int64_t(std::trunc(v));
    else if (to == DType::F32) o.data<float>()[i] = float(v);
    else o.data<uint8_t>()[i] = v != 0;
  }
  out[0] = to == DType::F32 ? e.onDevice(o) : o;
}

}  // namespace

void addElementwiseOps(std::vector<std::pair<std::string, OpDef>>& t) {
  for (const auto& u : UNARY) t.push_back({u.first, {runUnary, nullptr}});
  for (const auto& b : BINARY) t.push_back({b.first, {runBinary, nullptr}});
  t.push_back({"IsNaN", {runIsNaN, nullptr}});
  t.push_back({"Not", {runNot, nullptr}});
  t.push_back({"Where", {runWhere, nullptr}});
  t.push_back({"Cast", {runCast, checkCast}});
}

}  // namespace graph
}  // namespace qr
