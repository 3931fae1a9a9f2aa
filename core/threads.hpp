// Thread control. One setting drives our OpenMP loops and OpenBLAS (built with OpenMP on
// Debian's libopenblas-openmp-dev, so both share one pool and never oversubscribe the cores).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>

#include <omp.h>

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

// Carries an exception out of an OpenMP parallel region. An exception that leaves a region's
// structured block ends the process (std::terminate): a bad_alloc in one thread of a kernel
// would kill a run instead of reaching the command's error message. So the loop body runs inside
// run(), which keeps the first exception thrown (by any thread) and skips the iterations after
// it, and rethrow() throws it on the calling thread once the region has ended:
//
//   core::ExceptionCarrier carrier;
//   #pragma omp parallel for
//   for (int64_t i = 0; i < n; ++i) carrier.run([&] { work(i); });
//   carrier.rethrow();
//
// In a region with a worksharing `omp for` inside, every thread must still reach that construct:
// wrap the per-thread set-up and each iteration in run() separately, never the construct itself.
class ExceptionCarrier {
public:
    template <class Body>
    void run(Body&& body) noexcept {
        if (failed()) return;  // the region's result is lost already: do not spend time on it
        try {
            body();
        } catch (...) {
            keep(std::current_exception());
        }
    }
    // True once any thread has thrown.
    bool failed() const noexcept { return claimed_.load(std::memory_order_acquire); }
    // Throws the first exception kept, if any. Call after the region, on the thread that ran it.
    void rethrow() {
        if (failed()) std::rethrow_exception(error_);
    }

private:
    void keep(std::exception_ptr error) noexcept {
        bool expected = false;
        // Only the first thread to claim the slot writes it; the region's closing barrier makes
        // the write visible to rethrow().
        if (claimed_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) error_ = std::move(error);
    }

    std::atomic<bool> claimed_{false};
    std::exception_ptr error_;
};

// Runs task(i) for every i in [0, count) as independent tasks handed out one at a time to
// min(count, num_threads()) threads; the kernels a task calls then stay on its thread. Exceptions
// reach the caller (ExceptionCarrier). The results do not depend on the thread count as long as
// task i writes only slot i of its outputs and the caller combines the slots in order (campaign
// batches, validation batches, gradient shards). Per-thread state (a no-grad guard) goes inside.
template <class Task>
void run_tasks(int64_t count, Task&& task) {
    ExceptionCarrier carrier;
    const int threads = static_cast<int>(count < omp_get_max_threads() ? count : omp_get_max_threads());
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
    for (int64_t i = 0; i < count; ++i) carrier.run([&] { task(i); });
    carrier.rethrow();
}

// Below this many elements an element-wise loop stays on one thread: forking costs more.
constexpr int64_t kParallelGrain = int64_t(1) << 15;

// Parallel loops hand out their work dynamically, in chunks of about this many elements (whole
// rows, planes or channels where the loop runs over those): on a machine shared with another busy
// process, a static half per thread makes the whole op wait for the thread that shares its core.
// Every loop so scheduled computes each output from its own inputs alone, in a fixed order, so
// which thread takes a chunk changes no bit.
constexpr int64_t kDynamicChunk = int64_t(1) << 13;
// Chunk size in loop iterations for a loop whose iterations cover `per_iteration` elements each.
constexpr int64_t dynamic_chunk(int64_t per_iteration) {
    return per_iteration >= kDynamicChunk ? 1 : kDynamicChunk / (per_iteration > 0 ? per_iteration : 1);
}

}  // namespace proact::core
