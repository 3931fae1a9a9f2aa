// GEMM: our core::sgemm against cblas_sgemm (OpenBLAS) called directly, on the same preallocated
// buffers: square sizes 256..2048 and the shapes the models run (conv via im2col with the batch
// folded into N, its weight and input gradients, linear layers). Prints GFLOP/s and ours / BLAS
// for each thread count, for each of our kernels the CPU supports (or only the one named by
// PROACT_GEMM_KERNEL). Best of several timings, ours and BLAS interleaved so that load from other
// processes on the machine affects both alike. The ratio is BLAS time / our first kernel's time.
// Usage: bench_gemm [squares | size=N] [threads...]   (default: 1 2; squares: the square sizes only;
//        size=N: the N^3 square only, e.g. size=1024, the denominator of compare_zoo.py's GEMM share)
//   e.g. OPENBLAS_CORETYPE=Haswell PROACT_GEMM_KERNEL=avx2 bench_gemm squares   (AVX2 against AVX2)
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "core/sgemm.hpp"

using namespace proact::core;

namespace {

struct GemmShape {
    const char* name;
    bool trans_a, trans_b;
    int64_t M, N, K;
};

// LeNet-5 at batch 64 (28x28 input padded to 32x32 -> conv1 28x28 out, conv2 10x10 out), ResNet-20 at
// batch 128 on 32x32 (stage 1: 16 channels at 32x32, stage 3: 64 channels at 8x8).
const GemmShape kShapes[] = {
    {"square", false, false, 256, 256, 256},
    {"square", false, false, 512, 512, 512},
    {"square", false, false, 1024, 1024, 1024},
    {"square", false, false, 2048, 2048, 2048},
    {"lenet.conv1.fwd", false, false, 6, 50176, 25},     // W (6,25) x cols (25, B*28*28)
    {"lenet.conv2.fwd", false, false, 16, 6400, 150},    // W (16,150) x cols (150, B*10*10)
    {"lenet.conv1.dW", false, true, 6, 25, 50176},       // dout (6, B*28*28) x cols^T
    {"lenet.conv2.dW", false, true, 16, 150, 6400},      // dout (16, B*10*10) x cols^T
    {"lenet.conv1.dcols", true, false, 25, 50176, 6},    // W^T (25,6) x dout (6, B*28*28)
    {"lenet.conv2.dcols", true, false, 150, 6400, 16},   // W^T (150,16) x dout (16, B*10*10)
    {"lenet.fc1.fwd", false, true, 64, 120, 400},        // x (64,400) x W (120,400)^T
    {"lenet.fc1.dW", true, false, 120, 400, 64},         // dout^T (120,64) x x (64,400)
    {"resnet.s1.fwd", false, false, 16, 131072, 144},    // W (16,16*3*3) x cols (144, B*32*32)
    {"resnet.s3.fwd", false, false, 64, 8192, 576},      // W (64,64*3*3) x cols (576, B*8*8)
    {"resnet.s1.dW", false, true, 16, 144, 131072},      // dout (16, B*32*32) x cols^T
    {"resnet.s3.dcols", true, false, 576, 8192, 64},     // W^T (576,64) x dout (64, B*8*8)
};

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
    std::vector<int> thread_counts;
    bool squares_only = false;
    int64_t only_size = 0;  // size=N: the N^3 square only
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "squares") == 0)
            squares_only = true;
        else if (std::strncmp(argv[i], "size=", 5) == 0)
            only_size = std::atoll(argv[i] + 5), squares_only = true;
        else
            thread_counts.push_back(std::atoi(argv[i]));
    }
    if (thread_counts.empty()) thread_counts = {1, 2};
    const char* forced = std::getenv("PROACT_GEMM_KERNEL");
    const std::vector<GemmKernel> kernels =
        forced != nullptr && *forced != '\0' ? std::vector<GemmKernel>{gemm_kernel()} : supported_gemm_kernels();
    std::string names;
    for (GemmKernel kernel : kernels) names += std::string(names.empty() ? "" : ", ") + gemm_kernel_name(kernel);
    std::printf("# GEMM GFLOP/s: core::sgemm (kernels %s) vs cblas_sgemm (OpenBLAS core %s), best of N runs\n",
                names.c_str(), openblas_get_corename());
    std::printf("%-18s %2s %6s %7s %7s %3s", "shape", "op", "M", "N", "K", "thr");
    for (GemmKernel kernel : kernels) std::printf(" %9s", gemm_kernel_name(kernel));
    std::printf(" %9s %7s\n", "blas", "ratio");
    for (const GemmShape& s : kShapes) {
        if (squares_only && std::strcmp(s.name, "square") != 0) continue;
        if (only_size > 0 && s.M != only_size) continue;
        Rng rng(0, "bench-gemm", static_cast<uint64_t>(s.M * 31 + s.N * 7 + s.K));
        std::vector<float> a(static_cast<size_t>(s.M * s.K)), b(static_cast<size_t>(s.K * s.N)),
            c(static_cast<size_t>(s.M * s.N));
        for (float& x : a) x = rng.uniform(-1.0f, 1.0f);
        for (float& x : b) x = rng.uniform(-1.0f, 1.0f);
        const int64_t lda = s.trans_a ? s.M : s.K, ldb = s.trans_b ? s.K : s.N;
        const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
        // ~0.1 s of work per timing round at ~100 GFLOP/s, at least 3 runs
        const int repeats = std::max(3, static_cast<int>(1e10 / flops));
        for (int threads : thread_counts) {
            set_num_threads(threads);  // OpenMP and OpenBLAS alike
            std::vector<double> ours(kernels.size(), 1e30);
            double blas = 1e30;
            for (int round = 0; round < 3; ++round) {
                for (size_t k = 0; k < kernels.size(); ++k) {
                    const GemmKernelScope scope(kernels[k]);
                    ours[k] = std::min(ours[k], best_seconds(repeats, [&] {
                                           sgemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, a.data(), lda, b.data(),
                                                 ldb, 0.0f, c.data(), s.N, GemmSums::by_shape);
                                       }));
                }
                blas = std::min(blas, best_seconds(repeats, [&] {
                                    cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                                                s.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(s.M),
                                                static_cast<int>(s.N), static_cast<int>(s.K), 1.0f, a.data(),
                                                static_cast<int>(lda), b.data(), static_cast<int>(ldb), 0.0f, c.data(),
                                                static_cast<int>(s.N));
                                }));
            }
            std::printf("%-18s %c%c %6lld %7lld %7lld %3d", s.name, s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N',
                        static_cast<long long>(s.M), static_cast<long long>(s.N), static_cast<long long>(s.K),
                        threads);
            for (double seconds : ours) std::printf(" %9.1f", flops / seconds * 1e-9);
            std::printf(" %9.1f %6.2fx\n", flops / blas * 1e-9, blas / ours.front());
            std::fflush(stdout);
        }
    }
    return 0;
}
