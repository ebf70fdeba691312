// Thread count of the CPU path: OpenMP, all cores unless OMP_NUM_THREADS says otherwise.
#pragma once
#include <omp.h>

namespace qr {
inline int threadCount() { return omp_get_max_threads(); }
}  // namespace qr
