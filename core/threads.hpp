// Thread control. One setting drives our OpenMP loops and OpenBLAS (built with OpenMP on
// Debian's libopenblas-openmp-dev, so both share one pool and never oversubscribe the cores).
#pragma once

#include <cstdint>

namespace proact::core {

// Sets the number of threads for OpenMP loops and BLAS. threads <= 0 means "all cores".
void set_num_threads(int threads);
int num_threads();

// Makes GCC's OpenMP threads sleep at once when they wait instead of spinning, by starting the
// program again with OMP_WAIT_POLICY=passive (libgomp reads its settings once, when it is loaded,
// so setting them later has no effect). Call first thing in main with main's argv; it returns
// without doing anything when OMP_WAIT_POLICY or GOMP_SPINCOUNT is already set (the user's choice
// wins) or when the program cannot be started again. Why: with one other busy process on a 2-core
// machine, a LeNet-5 training epoch took 47.6 s with libgomp's default spinning and 7.2 s passive
// (12.0 s with OMP_WAIT_POLICY=active); on an idle machine passive costs little (see README).
void prefer_passive_openmp_wait(char** argv);

// Below this many elements an element-wise loop stays on one thread: forking costs more.
constexpr int64_t kParallelGrain = int64_t(1) << 15;

}  // namespace proact::core
