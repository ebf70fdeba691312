// The executor's run loop: placement of feeds and weights, liveness, taps, cancellation, and the
// node-level error messages; the ops themselves are in ops_*.cc.
#include "executor.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace qr {
namespace graph {

int64_t Node::i(const char* k, int64_t def) const {
  auto it = attrs.find(k);
  return it == attrs.end() || it->second.kind != Attr::Num ? def : int64_t(it->second.num);
}
float Node::f(const char* k, float def) const {
  auto it = attrs.find(k);
  return it == attrs.end() || it->second.kind != Attr::Num ? def : float(it->second.num);
}
std::string Node::s(const char* k, const std::string& def) const {
  auto it = attrs.find(k);
  return it == attrs.end() || it->second.kind != Attr::Str ? def : it->second.str;
}
std::vector<int64_t> Node::ints(const char* k) const {
  auto it = attrs.find(k);
  std::vector<int64_t> v;
  if (it == attrs.end()) return v;
  if (it->second.kind == Attr::Num) return {int64_t(it->second.num)};
  for (double d : it->second.nums) v.push_back(int64_t(d));
  return v;
}
const Tensor* Node::t(const char* k) const {
  auto it = attrs.find(k);
  return it == attrs.end() || it->second.kind != Attr::Tens ? nullptr : &it->second.tensor;
}
std::string Node::where() const { return "node '" + name + "' (" + op + ")"; }

Unsupported supports(const Spec& spec) {
  for (const Node& n : spec.nodes) {
    const OpDef* d = findOp(n.op);
    if (!d) return {n.name, n.op, "the native graph executor has no " + n.op + " operator"};
    if (d->check) {
      const std::string why = d->check(n);
      if (!why.empty()) return {n.name, n.op, why};
    }
  }
  std::set<std::string> known(spec.inputs.begin(), spec.inputs.end());
  for (const auto& kv : spec.initializers) known.insert(kv.first);
  for (const Node& n : spec.nodes) {
    for (const std::string& in : n.inputs)
      if (!in.empty() && !known.count(in))
        return {n.name, n.op, "input '" + in + "' is neither fed, an initializer nor made by an earlier node"};
    for (const std::string& out : n.outputs) known.insert(out);
  }
  for (const std::string& o : spec.outputs)
    if (!known.count(o)) return {"", "", "output '" + o + "' is not made by the part"};
  return {};
}

Executor::Executor(Spec spec, std::unique_ptr<Kernels> dev, int gpu) : spec_(std::move(spec)), dev_(std::move(dev)), gpu_(gpu) {
  const Unsupported u = supports(spec_);
  if (!u.reason.empty()) throw std::invalid_argument(u.node.empty() ? u.reason : "node '" + u.node + "' (" + u.op + "): " + u.reason);
  for (const Node& n : spec_.nodes) ops_.push_back(findOp(n.op));
  for (size_t i = 0; i < spec_.nodes.size(); i++)
    for (const std::string& in : spec_.nodes[i].inputs)
      if (!in.empty()) lastUse_[in] = int(i);
  for (auto& kv : spec_.initializers) weights_[kv.first] = place(kv.second);
  // keep only the int64 host copies (shape constants); float weights live in weights_
  for (auto it = spec_.initializers.begin(); it != spec_.initializers.end();)
    it = it->second.dt == DType::I64 ? std::next(it) : spec_.initializers.erase(it);
  if (dev_) dev_->sync();
}

Executor::~Executor() {
  weights_.clear();
  if (dev_) dev_->sync();
}

Kernels& Executor::kernels() { return dev_ ? *dev_ : hostKernels(); }
Kernels& Executor::env(const Tensor& t) { return t.dev ? *dev_ : hostKernels(); }

Tensor Executor::place(const Tensor& host) {
  if (!dev_ || host.dt == DType::I64) return host;
  Tensor t;
  t.dt = host.dt;
  t.dims = host.dims;
  t.dev = true;
  t.mem = std::make_shared<Mem>(host.bytes(), dev_.get());
  dev_->upload(t.mem->p, host.mem->p, host.bytes());
  return t;
}

void Executor::setInitializer(const std::string& name, DType dt, const Dims& dims, const void* data) {
  auto it = weights_.find(name);
  if (it == weights_.end()) throw std::invalid_argument("setInitializers: '" + name + "' is not an initializer of the part");
  Tensor& w = it->second;
  if (w.dt != dt || w.dims != dims)
    throw std::invalid_argument("setInitializers: '" + name + "' is " + dtypeName(w.dt) + " " + dimsText(w.dims) +
                                ", the new value " + dtypeName(dt) + " " + dimsText(dims));
  // (an int64 constant's host buffer is shared with spec_.initializers: one copy to update)
  env(w).upload(w.mem->p, data, w.bytes());
  env(w).sync();
}

int64_t Executor::deviceBytes() const {
  int64_t b = 0;
  for (const auto& kv : weights_)
    if (kv.second.dev || !dev_) b += int64_t(kv.second.bytes());
  return b + hostPeak_;
}

std::vector<Tensor> Executor::run(const std::vector<Feed>& feeds, std::vector<TapRequest>& taps, const Ctx& ctx) {
  Kernels& K = kernels();
  OpEnv env(K, ctx);
  std::unordered_map<std::string, Tensor> live;
  std::unordered_map<std::string, std::vector<TapRequest*>> tapsOf;
  // an accumulator tapped on several tensors folds them in the order they are made
  std::unordered_map<float*, double> counts;
  for (TapRequest& t : taps) tapsOf[t.tensor].push_back(&t), counts.emplace(t.acc.H, t.acc.count);
  std::set<std::string> keep(spec_.outputs.begin(), spec_.outputs.end());

  // bytes of the live intermediates (feeds and made tensors), for deviceBytes
  int64_t liveBytes = 0, peak = 0;
  auto count = [&](const Tensor& t, int sign) {
    if (t.dev || !dev_) liveBytes += sign * int64_t(t.bytes());
    peak = std::max(peak, liveBytes);
  };
  auto applyTaps = [&](const std::string& name, const Tensor& t) {
    auto it = tapsOf.find(name);
    if (it == tapsOf.end()) return;
    for (TapRequest* r : it->second) {
      if (t.dt != DType::F32) throw std::invalid_argument("tap '" + name + "': the tensor is " + dtypeName(t.dt) + ", not float32");
      if (t.rank() < 1 || t.dims.back() != r->acc.cols)
        throw std::invalid_argument("tap '" + name + "': its dims " + dimsText(t.dims) + " do not end in the accumulator's " +
                                    std::to_string(r->acc.cols) + " columns");
      r->acc.count = counts[r->acc.H];
      env.k(t.dev).hessianTap(r->acc, t.data<float>(), t.size() / r->acc.cols, ctx);
      counts[r->acc.H] += r->acc.samples;
    }
  };
  auto drop = [&](const std::string& name) {
    if (keep.count(name)) return;
    auto it = live.find(name);
    if (it == live.end()) return;
    count(it->second, -1);
    live.erase(it);
  };

  for (const Feed& f : feeds) {
    Tensor t;  // a copy of the caller's array where its type lives
    if (dev_ && f.dt != DType::I64) {
      t.dt = f.dt;
      t.dims = f.dims;
      t.dev = true;
      t.mem = std::make_shared<Mem>(size_t(numel(f.dims)) * dtypeSize(f.dt), dev_.get());
      dev_->upload(t.mem->p, f.data, t.bytes());
    } else {
      t = hostTensor(f.dt, f.dims);
      std::copy_n(static_cast<const uint8_t*>(f.data), t.bytes(), static_cast<uint8_t*>(t.mem->p));
    }
    count(t, 1);
    live[f.name] = t;
    applyTaps(f.name, t);
    if (!lastUse_.count(f.name)) drop(f.name);
  }

  const int total = int(spec_.nodes.size());
  for (int i = 0; i < total; i++) {
    ctx.check();
    const Node& n = spec_.nodes[i];
    std::vector<Tensor> in(n.inputs.size());
    for (size_t j = 0; j < n.inputs.size(); j++) {
      const std::string& name = n.inputs[j];
      if (name.empty()) continue;
      auto w = weights_.find(name);
      if (w != weights_.end()) in[j] = w->second;
      else {
        auto l = live.find(name);
        if (l == live.end()) throw std::runtime_error(n.where() + ": input '" + name + "' was not fed");
        in[j] = l->second;
      }
    }
    std::vector<Tensor> out(n.outputs.size());
    try {
      ops_[i]->run(n, in, out, env);
    } catch (const Cancelled&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw std::runtime_error(n.where() + ": out of memory");
    } catch (const std::exception& e) {
      throw std::runtime_error(n.where() + ": " + e.what());
    }
    in.clear();
    for (size_t j = 0; j < n.outputs.size(); j++) {
      if (n.outputs[j].empty() || !out[j].defined()) continue;
      count(out[j], 1);
      live[n.outputs[j]] = out[j];
      applyTaps(n.outputs[j], out[j]);
      if (!lastUse_.count(n.outputs[j])) drop(n.outputs[j]);
    }
    for (const std::string& name : n.inputs)
      if (!name.empty() && lastUse_[name] == i) drop(name);
    if (ctx.progress) ctx.report(i + 1, total);
  }

  std::vector<Tensor> result;
  for (const std::string& o : spec_.outputs) {
    Tensor t;
    auto w = weights_.find(o);
    if (w != weights_.end()) t = w->second;
    else {
      auto l = live.find(o);
      if (l == live.end()) throw std::runtime_error("output '" + o + "' was not made");
      t = l->second;
    }
    result.push_back(env.onHost(t));
  }
  K.sync();
  hostPeak_ = std::max(hostPeak_, peak);
  return result;
}

}  // namespace graph
}  // namespace qr
