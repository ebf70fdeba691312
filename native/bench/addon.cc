// Entry of the benchmark addon (qrecipe_bench.node): registers the benchmark calls (jobs.cc). The
// product addon (qrecipe.node) holds none of them.
#include <napi.h>

#include "../src/job.h"

namespace qr {
void registerBenchBindings(Napi::Env env, Napi::Object exports);
}  // namespace qr

static Napi::Object initBench(Napi::Env env, Napi::Object exports) {
  qr::stopThreadPoolAtCleanup(env);
  qr::registerBenchBindings(env, exports);
  return exports;
}
NODE_API_MODULE(qrecipe_bench, initBench)
