// Module entry: registers the algorithm calls (bindings.cc) and backendInfo().
#include <napi.h>

#include "cuda_api.h"
#include "gemm.h"
#include "job.h"
#include "parallel.h"

#ifndef QRECIPE_VERSION
#define QRECIPE_VERSION "0.0.0"
#endif

namespace qr {
Napi::Value TuneAllocator(const Napi::CallbackInfo& info);  // memory.cc

void registerBindings(Napi::Env env, Napi::Object exports);
void registerVqBindings(Napi::Env env, Napi::Object exports);  // vq_bindings.cc
namespace graph {
void registerGraphBindings(Napi::Env env, Napi::Object exports);  // graph/binding.cc
}

namespace {
Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", QRECIPE_VERSION);
  o.Set("threads", threadCount());
  o.Set("cpuKernel", gemmIsa());
  const cuda::Status& st = cuda::status();
  Napi::Object c = Napi::Object::New(env);
  c.Set("compiled", st.compiled);
  c.Set("runtimeVersion", st.runtimeVersion);
  c.Set("driverVersion", st.driverVersion);
  Napi::Array devs = Napi::Array::New(env, st.devices.size());
  for (size_t i = 0; i < st.devices.size(); i++) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", st.devices[i].name);
    d.Set("computeCapability", std::to_string(st.devices[i].major) + "." + std::to_string(st.devices[i].minor));
    d.Set("memoryGiB", st.devices[i].memoryGiB);
    d.Set("multiprocessors", st.devices[i].multiprocessors);
    devs.Set(uint32_t(i), d);
  }
  c.Set("devices", devs);
  if (!st.error.empty()) c.Set("error", st.error);
  if (!st.devices.empty()) {
    // where the CUDA GPTQ/SparseGPT factor H: on the device with cuSOLVER, else the host's float64 path
    const std::string why = cuda::factorStatus();
    c.Set("factor", why.empty() ? std::string("device") : "host (" + why + ")");
  }
  o.Set("cuda", c);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  stopThreadPoolAtCleanup(env);
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo));
  exports.Set("tuneAllocator", Napi::Function::New(env, TuneAllocator));
  registerBindings(env, exports);
  registerVqBindings(env, exports);
  graph::registerGraphBindings(env, exports);
  return exports;
}
}  // namespace
}  // namespace qr

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return qr::Init(env, exports); }
NODE_API_MODULE(qrecipe, InitModule)
