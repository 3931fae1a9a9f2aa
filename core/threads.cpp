#include "core/threads.hpp"

#include <omp.h>

#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace proact::core {

void set_num_threads(int threads) {
    if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
    if (threads <= 0) threads = 1;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace proact::core
