// The Node-API side of every call: one AsyncWorker per call resolving a Promise, typed-array inputs
// used in place (referenced until the work ends), progress through a thread-safe function, abort
// through an Int32Array flag the JS side sets, errors and cancellation as rejected Promises.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace qr {

class Job : public Napi::AsyncWorker {
 public:
  /** opts: the call's option object: { cancel?: Int32Array(1), onProgress?: fn, device?: string, gpu?: number }. */
  Job(Napi::Env env, Napi::Object opts);
  ~Job() override;
  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  /** Worker thread: the algorithm. Throw to fail; ctx.check() throws Cancelled. */
  virtual void Run(const Ctx& ctx) = 0;
  /** Main thread: add result fields (arrays are already filled in place). */
  virtual void Fill(Napi::Env, Napi::Object) {}

  /** Typed array `key` of opts with exactly `len` elements (len < 0: any), kept alive for the call. */
  template <class T>
  T* array(const char* key, napi_typedarray_type type, int64_t len, bool optional = false);
  int64_t arrayLength(const char* key);
  bool has(const char* key) const;
  double number(const char* key, double def, bool required = false) const;
  int integer(const char* key, int def, bool required = false) const;
  bool flag(const char* key, bool def) const;
  std::string text(const char* key, const std::string& def) const;

  Napi::Object opts_;
  std::string device_ = "cpu";
  int requestedGpu_ = -1;  // opts.gpu: the GPU index to run on when device_ is "cuda" (−1: least busy)

 private:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference optsRef_;
  std::vector<Napi::ObjectReference> refs_;
  Napi::ThreadSafeFunction tsfn_;
  bool hasProgress_ = false;
  bool cancelled_ = false;
  Ctx ctx_;
};

const char* typedArrayName(napi_typedarray_type t);

/** Starts a Job of type J for the call's option object (info[0]) and returns its Promise. */
template <class J, class... A>
Napi::Value startJob(const Napi::CallbackInfo& info, A... extra) {
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "expected an options object");
  auto* job = new J(info.Env(), info[0].As<Napi::Object>(), extra...);
  job->Queue();
  return job->promise();
}

/**
 * Ends OpenMP's worker threads while the environment tears down (an addon's init calls it once).
 * Left alive, libgomp's idle workers outlive the unloading of the addon at process exit, which was
 * seen to crash a finished run in _dl_fini (exit code 139). A later parallel region (another
 * environment) starts a new pool.
 */
void stopThreadPoolAtCleanup(Napi::Env env);

template <class T>
T* Job::array(const char* key, napi_typedarray_type type, int64_t len, bool optional) {
  Napi::Value v = opts_.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (optional) return nullptr;
    throw Napi::TypeError::New(Env(), std::string("missing array '") + key + "'");
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(Env(), std::string("'") + key + "' must be a " + typedArrayName(type));
  auto ta = v.As<Napi::TypedArray>();
  if (len >= 0 && int64_t(ta.ElementLength()) != len)
    throw Napi::RangeError::New(Env(), std::string("'") + key + "' has " + std::to_string(ta.ElementLength()) +
                                           " elements, expected " + std::to_string(len));
  refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
  return reinterpret_cast<T*>(base + ta.ByteOffset());
}

}  // namespace qr
