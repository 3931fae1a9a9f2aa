// GEMM: core::matmul (our wrapper, allocation of the result included) against cblas_sgemm called
// directly on preallocated buffers, square sizes 256..2048. Prints GFLOP/s and the overhead ratio.
// Usage: bench_gemm [threads]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/core.hpp"

using namespace proact::core;

namespace {

// Best of `repeats` timings of fn(), in seconds, after one warm-up call.
template <class Fn>
double best_seconds(int repeats, Fn fn) {
    fn();
    double best = 1e30;
    for (int i = 0; i < repeats; ++i) {
        const auto start = std::chrono::steady_clock::now();
        fn();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    set_num_threads(threads);
    std::printf("# GEMM, %d threads: core::matmul vs cblas_sgemm (best of N runs)\n", threads);
    std::printf("%-6s %12s %12s %12s %12s %10s\n", "size", "ours_ms", "cblas_ms", "ours_GF/s", "cblas_GF/s",
                "overhead");
    for (int64_t n : {256, 512, 1024, 2048}) {
        Rng rng(0, "bench-gemm", static_cast<uint64_t>(n));
        const Tensor a = Tensor::uniform({n, n}, -1, 1, rng), b = Tensor::uniform({n, n}, -1, 1, rng);
        std::vector<float> c(static_cast<size_t>(n * n));
        const int repeats = n <= 512 ? 50 : (n <= 1024 ? 10 : 4);
        const int N = static_cast<int>(n);
        // interleave the two measurements so drift affects both alike
        double ours = 1e30, direct = 1e30;
        for (int round = 0; round < 3; ++round) {
            ours = std::min(ours, best_seconds(repeats, [&] { volatile float sink = matmul(a, b).data()[0]; (void)sink; }));
            direct = std::min(direct, best_seconds(repeats, [&] {
                                  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a.data(), N,
                                              b.data(), N, 0.0f, c.data(), N);
                              }));
        }
        const double flops = 2.0 * double(n) * double(n) * double(n);
        std::printf("%-6lld %12.3f %12.3f %12.1f %12.1f %9.2f%%\n", static_cast<long long>(n), ours * 1e3,
                    direct * 1e3, flops / ours * 1e-9, flops / direct * 1e-9, (ours / direct - 1.0) * 100.0);
    }
    return 0;
}
