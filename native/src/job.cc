#include "job.h"

#include <omp.h>

#include "cuda_api.h"

namespace qr {

namespace {
struct ProgressMsg {
  int64_t done, total;
};
}  // namespace

void stopThreadPoolAtCleanup(Napi::Env env) {
  // the addon may be initialised more than once in one environment, and Node wants each hook's
  // (function, argument) pair unique: every registration gets its own token
  napi_add_env_cleanup_hook(
      env,
      [](void* token) {
        omp_pause_resource_all(omp_pause_hard);
        delete static_cast<char*>(token);
      },
      new char);
}

const char* typedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_int8_array: return "Int8Array";
    default: return "typed array";
  }
}

Job::Job(Napi::Env env, Napi::Object opts)
    : Napi::AsyncWorker(env, "qrecipe"), opts_(opts), deferred_(Napi::Promise::Deferred::New(env)) {
  optsRef_ = Napi::Persistent(opts);
  ctx_.cancelFlag = array<int32_t>("cancel", napi_int32_array, 1, true);
  requestedGpu_ = integer("gpu", -1);
  if (requestedGpu_ < -1) throw Napi::RangeError::New(env, "gpu must be a GPU index ≥ 0 (or −1 for the least busy)");
  Napi::Value cb = opts.Get("onProgress");
  if (cb.IsFunction()) {
    tsfn_ = Napi::ThreadSafeFunction::New(env, cb.As<Napi::Function>(), "qrecipe-progress", 0, 1);
    hasProgress_ = true;
    ctx_.progress = [this](int64_t done, int64_t total) {
      auto* msg = new ProgressMsg{done, total};
      napi_status st = tsfn_.NonBlockingCall(msg, [](Napi::Env env, Napi::Function fn, ProgressMsg* m) {
        if (env != nullptr && fn != nullptr) {
          Napi::Object p = Napi::Object::New(env);
          p.Set("done", double(m->done));
          p.Set("total", double(m->total));
          // a throwing progress callback must not take the process down: ignore its error
          try { fn.Call({p}); } catch (const Napi::Error&) {}
        }
        delete m;
      });
      if (st != napi_ok) delete msg;
    };
  }
}

Job::~Job() {
  if (hasProgress_) tsfn_.Release();
}

void Job::Execute() {
  // a CUDA call holds its GPU (counted as busy, current on this thread) until it ends
  struct GpuHold {
    int gpu = -1;
    ~GpuHold() { cuda::releaseGpu(gpu); }
  } hold;
  try {
    if (device_ == "cuda") hold.gpu = ctx_.gpu = cuda::acquireGpu(requestedGpu_);
    Run(ctx_);
  } catch (const Cancelled& e) {
    cancelled_ = true;
    SetError(e.what());
  } catch (const std::bad_alloc&) {
    SetError("out of memory");
  } catch (const std::exception& e) {
    SetError(e.what());
  }
}

void Job::OnOK() {
  Napi::Env env = Env();
  Napi::Object res = Napi::Object::New(env);
  try {
    Fill(env, res);
    res.Set("device", device_);
    if (device_ == "cuda" && ctx_.gpu >= 0) res.Set("gpu", ctx_.gpu);
    deferred_.Resolve(res);
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void Job::OnError(const Napi::Error& e) {
  Napi::Object err = e.Value();
  if (cancelled_) err.Set("name", "CancelledError");
  deferred_.Reject(err);
}

int64_t Job::arrayLength(const char* key) {
  Napi::Value v = opts_.Get(key);
  return v.IsTypedArray() ? int64_t(v.As<Napi::TypedArray>().ElementLength()) : -1;
}

bool Job::has(const char* key) const {
  Napi::Value v = opts_.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

double Job::number(const char* key, double def, bool required) const {
  Napi::Value v = opts_.Get(key);
  if (v.IsUndefined()) {
    if (required) throw Napi::TypeError::New(Env(), std::string("missing number '") + key + "'");
    return def;
  }
  if (!v.IsNumber()) throw Napi::TypeError::New(Env(), std::string("'") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int Job::integer(const char* key, int def, bool required) const {
  const double d = number(key, def, required);
  if (d != double(int(d))) throw Napi::RangeError::New(Env(), std::string("'") + key + "' must be an integer");
  return int(d);
}

bool Job::flag(const char* key, bool def) const {
  Napi::Value v = opts_.Get(key);
  if (v.IsUndefined()) return def;
  return v.ToBoolean().Value();
}

std::string Job::text(const char* key, const std::string& def) const {
  Napi::Value v = opts_.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsString()) throw Napi::TypeError::New(Env(), std::string("'") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace qr
