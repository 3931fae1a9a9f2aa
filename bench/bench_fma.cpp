// The cores' fused multiply-add peak, measured: every thread runs independent FMA chains on
// registers only (no memory traffic), with the widest vectors the CPU has (AVX-512, else AVX2+FMA,
// chosen at run time). It is the ceiling "share of FMA peak" figures are taken against
// (bench/compare_trial.py); a GEMM reaches some fraction of it, small models less.
// Prints "fma_peak_gflops X" and the vector width. Usage: bench_fma [threads] [seconds]
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr int kChains = 12;  // independent accumulators: enough to hide FMA latency on two pipes

// Runs `rounds` x kChains FMAs of `Lanes` floats; returns a value so the work is not removed.
__attribute__((target("avx512f"))) float fma_avx512(long rounds) {
    __m512 acc[kChains];
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(0.001f * float(c));
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
        for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    }
    alignas(64) float lanes[16];
    float total = 0.0f;
    for (int c = 0; c < kChains; ++c) {
        _mm512_store_ps(lanes, acc[c]);
        for (float lane : lanes) total += lane;
    }
    return total;
}

__attribute__((target("avx2,fma"))) float fma_avx2(long rounds) {
    __m256 acc[kChains];
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.001f * float(c));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (long r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
        for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    }
    alignas(32) float lanes[8];
    float total = 0.0f;
    for (int c = 0; c < kChains; ++c) {
        _mm256_store_ps(lanes, acc[c]);
        for (float lane : lanes) total += lane;
    }
    return total;
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
    if (threads < 1 || !(seconds > 0.0)) {
        std::fprintf(stderr, "usage: bench_fma [threads >= 1] [seconds > 0]\n");
        return 2;
    }
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        std::fprintf(stderr, "bench_fma: this CPU has neither AVX-512 nor AVX2+FMA\n");
        return 1;
    }
    const int lanes = avx512 ? 16 : 8;
    auto run = [&](long rounds) { return avx512 ? fma_avx512(rounds) : fma_avx2(rounds); };
    // Calibrate the round count to about `seconds` on one thread, then time all threads together.
    long rounds = 1 << 20;
    for (;;) {
        const auto start = std::chrono::steady_clock::now();
        volatile float sink = run(rounds);
        (void)sink;
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (took > seconds / 4) {
            rounds = long(double(rounds) * seconds / took);
            break;
        }
        rounds *= 4;
    }
    float sinks[256] = {};
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    sinks[omp_get_thread_num() % 256] = run(rounds);
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double flops = 2.0 * lanes * kChains * double(rounds) * threads;
    std::printf("vector_lanes %d\nthreads %d\nfma_peak_gflops %.1f\nsink %g\n", lanes, threads, flops / took * 1e-9,
                double(sinks[0]));
    return 0;
}
