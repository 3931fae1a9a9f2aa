// Thread control. One setting drives our OpenMP loops and OpenBLAS (built with OpenMP on
// Debian's libopenblas-openmp-dev, so both share one pool and never oversubscribe the cores).
#pragma once

#include <cstdint>

namespace proact::core {

// Sets the number of threads for OpenMP loops and BLAS. threads <= 0 means "all cores".
void set_num_threads(int threads);
int num_threads();

// Below this many elements an element-wise loop stays on one thread: forking costs more.
constexpr int64_t kParallelGrain = int64_t(1) << 15;

}  // namespace proact::core
