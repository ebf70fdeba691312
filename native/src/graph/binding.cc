// The Node-API side of the graph executor: the spec read from JS, the object-wrapped executor
// (create, run as an async Job, setInitializers, dispose, deviceBytes) and graphSupport(spec).
#include <napi.h>

#include <cstring>
#include <memory>

#include "../cuda_api.h"
#include "../job.h"
#include "executor.h"

namespace qr {
namespace graph {

namespace {

[[noreturn]] void bad(Napi::Env env, const std::string& m) { throw Napi::TypeError::New(env, m); }

Dims readDims(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) bad(env, what + ": dims must be an array");
  Napi::Array a = v.As<Napi::Array>();
  Dims d;
  for (uint32_t i = 0; i < a.Length(); i++) {
    const double x = a.Get(i).ToNumber().DoubleValue();
    if (!(x >= 0) || x != double(int64_t(x))) bad(env, what + ": dims must be non-negative integers");
    d.push_back(int64_t(x));
  }
  return d;
}

/** {dims, data} → its type, dims and a pointer to the typed array's elements (checked against the dims). */
const void* readTensorView(Napi::Env env, Napi::Value v, const std::string& what, DType& dt, Dims& dims, Napi::Value* arr = nullptr) {
  if (!v.IsObject()) bad(env, what + " must be {dims, data}");
  Napi::Object o = v.As<Napi::Object>();
  dims = readDims(env, o.Get("dims"), what);
  Napi::Value d = o.Get("data");
  if (!d.IsTypedArray()) bad(env, what + ": data must be a Float32Array, BigInt64Array or Uint8Array (bool)");
  Napi::TypedArray ta = d.As<Napi::TypedArray>();
  switch (ta.TypedArrayType()) {
    case napi_float32_array: dt = DType::F32; break;
    case napi_bigint64_array: dt = DType::I64; break;
    case napi_uint8_array: dt = DType::Bool; break;
    default: bad(env, what + ": data must be a Float32Array, BigInt64Array or Uint8Array (bool)");
  }
  if (int64_t(ta.ElementLength()) != numel(dims))
    throw Napi::RangeError::New(env, what + ": data holds " + std::to_string(ta.ElementLength()) + " values, dims " + dimsText(dims) +
                                         " need " + std::to_string(numel(dims)));
  if (arr) *arr = d;
  return static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
}

Tensor readTensor(Napi::Env env, Napi::Value v, const std::string& what) {
  DType dt;
  Dims dims;
  const void* p = readTensorView(env, v, what, dt, dims);
  Tensor t = hostTensor(dt, dims);
  std::memcpy(t.mem->p, p, t.bytes());
  return t;
}

std::vector<std::string> readNames(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) bad(env, what + " must be an array of names");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!a.Get(i).IsString()) bad(env, what + " must be an array of names");
    out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  }
  return out;
}

Spec readSpec(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) bad(env, "the graph spec must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Spec s;
  s.inputs = readNames(env, o.Get("inputs"), "spec.inputs");
  s.outputs = readNames(env, o.Get("outputs"), "spec.outputs");
  Napi::Value nodes = o.Get("nodes");
  if (!nodes.IsArray()) bad(env, "spec.nodes must be an array");
  Napi::Array na = nodes.As<Napi::Array>();
  for (uint32_t i = 0; i < na.Length(); i++) {
    Napi::Object no = na.Get(i).As<Napi::Object>();
    Node n;
    n.op = no.Get("op").ToString().Utf8Value();
    n.name = no.Get("name").IsString() ? no.Get("name").As<Napi::String>().Utf8Value() : "";
    n.inputs = readNames(env, no.Get("inputs"), "node '" + n.name + "' inputs");
    n.outputs = readNames(env, no.Get("outputs"), "node '" + n.name + "' outputs");
    Napi::Value av = no.Get("attrs");
    if (av.IsObject()) {
      Napi::Object ao = av.As<Napi::Object>();
      Napi::Array keys = ao.GetPropertyNames();
      for (uint32_t k = 0; k < keys.Length(); k++) {
        const std::string key = keys.Get(k).ToString().Utf8Value();
        Napi::Value x = ao.Get(key);
        Attr a;
        if (x.IsNumber()) a.kind = Attr::Num, a.num = x.As<Napi::Number>().DoubleValue();
        else if (x.IsString()) a.kind = Attr::Str, a.str = x.As<Napi::String>().Utf8Value();
        else if (x.IsArray()) {
          a.kind = Attr::Nums;
          Napi::Array xa = x.As<Napi::Array>();
          for (uint32_t j = 0; j < xa.Length(); j++) a.nums.push_back(xa.Get(j).ToNumber().DoubleValue());
        } else if (x.IsObject()) a.kind = Attr::Tens, a.tensor = readTensor(env, x, "node '" + n.name + "' attribute " + key);
        else continue;
        n.attrs[key] = std::move(a);
      }
    }
    s.nodes.push_back(std::move(n));
  }
  Napi::Value iv = o.Get("initializers");
  if (iv.IsObject()) {
    Napi::Object io = iv.As<Napi::Object>();
    Napi::Array keys = io.GetPropertyNames();
    for (uint32_t k = 0; k < keys.Length(); k++) {
      const std::string key = keys.Get(k).ToString().Utf8Value();
      s.initializers[key] = readTensor(env, io.Get(key), "initializer '" + key + "'");
    }
  }
  return s;
}

Napi::Value toJs(Napi::Env env, const Tensor& t) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array dims = Napi::Array::New(env, t.dims.size());
  for (size_t i = 0; i < t.dims.size(); i++) dims.Set(uint32_t(i), double(t.dims[i]));
  o.Set("dims", dims);
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, t.bytes());
  std::memcpy(buf.Data(), t.mem->p, t.bytes());
  const size_t n = size_t(t.size());
  if (t.dt == DType::F32) o.Set("data", Napi::Float32Array::New(env, n, buf, 0));
  else if (t.dt == DType::I64) o.Set("data", Napi::TypedArrayOf<int64_t>::New(env, n, buf, 0, napi_bigint64_array));
  else o.Set("data", Napi::Uint8Array::New(env, n, buf, 0));
  return o;
}

/** Makes `gpu` current on the calling thread for a scope (the executor's GPU for uploads and frees). */
struct OnGpu {
  int gpu;
  explicit OnGpu(int g) : gpu(g >= 0 ? cuda::acquireGpu(g) : -1) {}
  ~OnGpu() {
    if (gpu >= 0) cuda::releaseGpu(gpu);
  }
};

class RunJob : public Job {
 public:
  RunJob(Napi::Env env, Napi::Object o, std::shared_ptr<Executor> ex) : Job(env, o), ex_(std::move(ex)) {
    device_ = ex_->onDevice() ? "cuda" : "cpu";
    requestedGpu_ = ex_->gpu();
    Napi::Value fv = o.Get("feeds");
    if (!fv.IsObject()) bad(env, "run: feeds must be an object");
    Napi::Object fo = fv.As<Napi::Object>();
    for (const std::string& name : ex_->spec().inputs) {
      if (!fo.Has(name)) throw Napi::Error::New(env, "run: input '" + name + "' is not fed");
      Feed f;
      f.name = name;
      Napi::Value arr;
      f.data = readTensorView(env, fo.Get(name), "feed '" + name + "'", f.dt, f.dims, &arr);
      keep_.push_back(Napi::Persistent(arr.As<Napi::Object>()));
      feeds_.push_back(std::move(f));
    }
    Napi::Value tv = o.Get("taps");
    if (tv.IsArray()) {
      Napi::Array ta = tv.As<Napi::Array>();
      for (uint32_t i = 0; i < ta.Length(); i++) {
        Napi::Object t = ta.Get(i).As<Napi::Object>();
        TapRequest r;
        r.tensor = t.Get("tensor").ToString().Utf8Value();
        Napi::Value h = t.Get("H");
        if (!h.IsTypedArray() || h.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) bad(env, "tap '" + r.tensor + "': H must be a Float32Array");
        r.acc.cols = t.Get("cols").ToNumber().Int32Value();
        if (r.acc.cols <= 0 || h.As<Napi::Float32Array>().ElementLength() != size_t(r.acc.cols) * r.acc.cols)
          throw Napi::RangeError::New(env, "tap '" + r.tensor + "': H must hold cols×cols values");
        r.acc.H = h.As<Napi::Float32Array>().Data();
        r.acc.count = t.Get("count").ToNumber().DoubleValue();
        r.acc.samples = t.Get("samples").ToNumber().DoubleValue();
        r.acc.resident = t.Get("resident").ToNumber().Int64Value();
        keep_.push_back(Napi::Persistent(h.As<Napi::Object>()));
        taps_.push_back(r);
      }
    }
  }
  void Run(const Ctx& ctx) override {
    std::lock_guard<std::mutex> lock(ex_->mu);
    out_ = ex_->run(feeds_, taps_, ctx);
  }
  void Fill(Napi::Env env, Napi::Object r) override {
    Napi::Object outs = Napi::Object::New(env);
    for (size_t i = 0; i < out_.size(); i++) outs.Set(ex_->spec().outputs[i], toJs(env, out_[i]));
    r.Set("outputs", outs);
    out_.clear();
  }

 private:
  std::shared_ptr<Executor> ex_;
  std::vector<Feed> feeds_;
  std::vector<TapRequest> taps_;
  std::vector<Tensor> out_;
  std::vector<Napi::ObjectReference> keep_;
};

class ExecutorWrap : public Napi::ObjectWrap<ExecutorWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "GraphExecutor",
                       {InstanceMethod("run", &ExecutorWrap::Run), InstanceMethod("setInitializers", &ExecutorWrap::SetInitializers),
                        InstanceMethod("dispose", &ExecutorWrap::Dispose), InstanceMethod("deviceBytes", &ExecutorWrap::DeviceBytes),
                        InstanceMethod("device", &ExecutorWrap::Device)});
  }
  // new GraphExecutor(spec, { device: 'cpu' | 'cuda' | 'auto', gpu? })
  explicit ExecutorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutorWrap>(info) {
    Napi::Env env = info.Env();
    Spec spec = readSpec(env, info[0]);
    std::string dev = "auto";
    int gpu = -1;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Get("device").IsString()) dev = o.Get("device").As<Napi::String>().Utf8Value();
      if (o.Get("gpu").IsNumber()) gpu = o.Get("gpu").As<Napi::Number>().Int32Value();
    }
    if (dev != "auto" && dev != "cpu" && dev != "cuda") throw Napi::RangeError::New(env, "device must be 'auto', 'cpu' or 'cuda', got '" + dev + "'");
    if (dev == "cuda" && !cuda::usable()) throw Napi::Error::New(env, "device 'cuda' asked for but no usable GPU: " + cuda::status().error);
    const bool onGpu = dev == "cuda" || (dev == "auto" && cuda::usable());
    try {
      if (onGpu) {
        OnGpu g(gpu);
        ex_ = std::make_shared<Executor>(std::move(spec), cuda::graphKernels(g.gpu), g.gpu);
      } else {
        ex_ = std::make_shared<Executor>(std::move(spec), nullptr, -1);
      }
    } catch (const std::bad_alloc&) {
      throw Napi::Error::New(env, "out of memory uploading the part's weights");
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

 private:
  std::shared_ptr<Executor> live(Napi::Env env) {
    if (!ex_) throw Napi::Error::New(env, "the graph executor was disposed");
    return ex_;
  }
  Napi::Value Run(const Napi::CallbackInfo& info) {
    auto ex = live(info.Env());
    return startJob<RunJob>(info, ex);
  }
  Napi::Value SetInitializers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto ex = live(env);
    if (info.Length() < 1 || !info[0].IsObject()) bad(env, "setInitializers expects {name: {dims, data}}");
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Array keys = o.GetPropertyNames();
    std::lock_guard<std::mutex> lock(ex->mu);
    OnGpu g(ex->gpu());
    for (uint32_t k = 0; k < keys.Length(); k++) {
      const std::string key = keys.Get(k).ToString().Utf8Value();
      DType dt;
      Dims dims;
      const void* p = readTensorView(env, o.Get(key), "initializer '" + key + "'", dt, dims);
      try {
        ex->setInitializer(key, dt, dims, p);
      } catch (const std::exception& e) {
        throw Napi::Error::New(env, e.what());
      }
    }
    return env.Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (ex_) {
      OnGpu g(ex_->gpu());
      ex_.reset();  // a run in flight holds its own reference: the memory goes when it ends
    }
    return info.Env().Undefined();
  }
  Napi::Value DeviceBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ex_ ? double(ex_->deviceBytes()) : 0.0); }
  Napi::Value Device(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), ex_ && ex_->onDevice() ? "cuda" : "cpu");
  }
  std::shared_ptr<Executor> ex_;
};

// graphSupport(spec) → null when the executor can run it, else { node?, op?, reason }
Napi::Value GraphSupport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Unsupported u = supports(readSpec(env, info[0]));
  if (u.reason.empty()) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  if (!u.node.empty() || !u.op.empty()) o.Set("node", u.node), o.Set("op", u.op);
  o.Set("reason", u.reason);
  return o;
}

}  // namespace

void registerGraphBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("GraphExecutor", ExecutorWrap::define(env));
  exports.Set("graphSupport", Napi::Function::New(env, GraphSupport));
}

}  // namespace graph
}  // namespace qr
