#include "core/threads.hpp"

#include <omp.h>
#include <unistd.h>

#include <cstdlib>
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

void prefer_passive_openmp_wait(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 0) != 0) return;
    execv("/proc/self/exe", argv);
    // Only reached when exec failed: run on with the default policy (this process's libgomp has
    // already read its settings), and do not leave a setting behind that did not take effect.
    unsetenv("OMP_WAIT_POLICY");
}

}  // namespace proact::core
