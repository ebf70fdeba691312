// Allocator tuning for long runs. glibc raises its mmap threshold each time a large mmapped block is
// freed, so later large blocks (a block's weights, activations, Hessians) come from the heap and stay
// resident after they are freed: a run that builds and drops block-sized buffers grows by about one
// block per block. A fixed threshold keeps large blocks mmapped, returned to the system when freed.
#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace qr {

Napi::Value TuneAllocator(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
#if defined(__GLIBC__)
  const int threshold = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : (1 << 20);
  return Napi::Boolean::New(env, threshold > 0 && mallopt(M_MMAP_THRESHOLD, threshold) == 1);
#else
  return Napi::Boolean::New(env, false);
#endif
}

}  // namespace qr
