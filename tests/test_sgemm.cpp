// core::sgemm against a naive double-precision product: every transpose combination, edge sizes
// around the 8 x 48 register tile, padded leading dimensions, BLAS alpha/beta semantics (beta = 0
// overwrites NaN), bit-identical results for 1, 2 and 3 threads, agreement with cblas_sgemm; each
// on every kernel this CPU supports (avx512, avx2, generic), and the run-time kernel choice.
//
// Tolerance: a float sum of K products has a worst-case error of about K * 2^-24 relative to
// sum |a*b|; we allow 1e-6 * (K + 4) * (|alpha| sum_k |a_ik b_kj| + |beta c_ij|), ~8x that bound.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "core/sgemm.hpp"

using namespace proact::core;

namespace {

// A row-major (rows, cols) matrix stored with row stride ld >= cols; the padding holds a sentinel
// that the product must not touch.
struct Matrix {
    int64_t rows, cols, ld;
    std::vector<float> data;
    Matrix(int64_t rows_, int64_t cols_, int64_t pad, Rng& rng)
        : rows(rows_), cols(cols_), ld(std::max<int64_t>(cols_, 1) + pad),
          data(static_cast<size_t>(std::max<int64_t>(rows_, 1) * ld), kSentinel) {
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) at(i, j) = rng.uniform(-1.0f, 1.0f);
    }
    float& at(int64_t i, int64_t j) { return data[static_cast<size_t>(i * ld + j)]; }
    float at(int64_t i, int64_t j) const { return data[static_cast<size_t>(i * ld + j)]; }
    static constexpr float kSentinel = 12345.0f;
};

struct Case {
    bool trans_a, trans_b;
    int64_t M, N, K;
    float alpha, beta;
    int64_t pad;  // extra columns in every leading dimension
};

// Runs `product` (sgemm or gemm_blas signature) on random data for `c` and checks every element of
// C against a double-precision reference, and that padding is untouched. Returns false on failure.
template <class Product>
bool check_case(const Case& c, uint64_t seed, Product product) {
    Rng rng(seed, "test-sgemm");
    const Matrix a = c.trans_a ? Matrix(c.K, c.M, c.pad, rng) : Matrix(c.M, c.K, c.pad, rng);
    const Matrix b = c.trans_b ? Matrix(c.N, c.K, c.pad, rng) : Matrix(c.K, c.N, c.pad, rng);
    Matrix out(c.M, c.N, c.pad, rng);
    if (c.beta == 0.0f)  // BLAS: beta == 0 must overwrite, never read, C
        for (int64_t i = 0; i < c.M; ++i)
            for (int64_t j = 0; j < c.N; ++j) out.at(i, j) = std::numeric_limits<float>::quiet_NaN();
    const Matrix before = out;
    product(c.trans_a, c.trans_b, c.M, c.N, c.K, c.alpha, a.data.data(), a.ld, b.data.data(), b.ld, c.beta,
            out.data.data(), out.ld);
    for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j) {
            double sum = 0, magnitude = 0;
            for (int64_t k = 0; k < c.K; ++k) {
                const double term = double(c.trans_a ? a.at(k, i) : a.at(i, k)) * (c.trans_b ? b.at(j, k) : b.at(k, j));
                sum += term;
                magnitude += std::fabs(term);
            }
            const double old = c.beta == 0.0f ? 0.0 : double(before.at(i, j));
            const double expected = double(c.alpha) * sum + double(c.beta) * old;
            const double scale = std::fabs(c.alpha) * magnitude + std::fabs(c.beta * old);
            const double tolerance = 1e-6 * double(c.K + 4) * scale + 1e-30;
            const double got = out.at(i, j);
            if (!(std::fabs(got - expected) <= tolerance)) {
                MESSAGE("mismatch at (", i, ", ", j, "): got ", got, " expected ", expected, " tolerance ", tolerance);
                return false;
            }
        }
    // padding columns of C (and rows beyond M, for an empty C) keep the sentinel
    for (size_t idx = 0; idx < out.data.size(); ++idx) {
        const int64_t i = static_cast<int64_t>(idx) / out.ld, j = static_cast<int64_t>(idx) % out.ld;
        if ((i >= c.M || j >= c.N) && out.data[idx] != Matrix::kSentinel) {
            MESSAGE("padding of C overwritten at (", i, ", ", j, ")");
            return false;
        }
    }
    return true;
}

// sgemm in each way of summing (GemmSums), with gemm_blas's signature.
void sgemm_by_shape(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, GemmSums::by_shape);
}
void sgemm_row_invariant(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, GemmSums::row_invariant);
}

std::string describe(const Case& c) {
    return std::string("trans_a=") + (c.trans_a ? "1" : "0") + " trans_b=" + (c.trans_b ? "1" : "0") +
           " M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
           " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) + " pad=" + std::to_string(c.pad);
}

// sgemm with `threads` OpenMP threads, C (M,N) returned densely.
std::vector<float> run_with_threads(int threads, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                                    const std::vector<float>& a, const std::vector<float>& b, float beta,
                                    GemmSums sums = GemmSums::by_shape) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> c(static_cast<size_t>(M * N), 0.5f);
    sgemm(trans_a, trans_b, M, N, K, 0.75f, a.data(), trans_a ? M : K, b.data(), trans_b ? K : N, beta, c.data(), N,
          sums);
    omp_set_num_threads(saved);
    return c;
}

std::vector<float> random_vector(int64_t size, uint64_t index) {
    Rng rng(7, "test-sgemm-threads", index);
    std::vector<float> v(static_cast<size_t>(size));
    for (float& x : v) x = rng.uniform(-1.0f, 1.0f);
    return v;
}

}  // namespace

// Shapes checked against the reference with the kernel in use that fail: every size combination
// once, alpha/beta/padding cycling so that each combination meets many shapes.
int64_t edge_size_failures() {
    const int64_t sizes[] = {1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 64, 100, 257};
    const float alphas[] = {1.0f, 0.5f};
    const float betas[] = {0.0f, 1.0f, -2.0f};
    int64_t index = 0, failures = 0;
    for (int t = 0; t < 4; ++t)
        for (int64_t M : sizes)
            for (int64_t N : sizes)
                for (int64_t K : sizes) {
                    const Case c{(t & 1) != 0, (t & 2) != 0, M, N, K, alphas[index % 2], betas[(index / 2) % 3],
                                 (index % 5 == 0) ? 0 : 1 + index % 13};
                    if (!check_case(c, static_cast<uint64_t>(index), sgemm_by_shape) ||
                        !check_case(c, static_cast<uint64_t>(index), sgemm_row_invariant)) {
                        ++failures;
                        MESSAGE("failed: ", describe(c));
                    }
                    ++index;
                }
    return failures;
}

TEST_CASE("sgemm matches a double-precision reference on edge sizes, all transposes") {
    for (GemmKernel kernel : supported_gemm_kernels()) {
        const GemmKernelScope scope(kernel);
        INFO("kernel ", gemm_kernel_name(kernel));
        CHECK(edge_size_failures() == 0);
    }
}

TEST_CASE("sgemm: every alpha/beta combination on shapes straddling the tiles and the K slices") {
    // K = 600 takes three K slices, N = 100 ends in a partial vector, M = 17 in a partial row tile;
    // K = 5000 on a small C takes the K-split path.
    const Case shapes[] = {{false, false, 17, 100, 600, 1, 0, 3}, {true, true, 17, 100, 600, 1, 0, 3},
                           {false, true, 6, 25, 5000, 1, 0, 2},   {true, false, 9, 50, 4500, 1, 0, 0},
                           {false, false, 300, 97, 33, 1, 0, 5}};
    for (Case c : shapes)
        for (float alpha : {1.0f, 0.5f, -3.0f})
            for (float beta : {0.0f, 1.0f, -2.0f})
                for (GemmKernel kernel : supported_gemm_kernels()) {
                    c.alpha = alpha;
                    c.beta = beta;
                    const GemmKernelScope scope(kernel);
                    INFO(gemm_kernel_name(kernel), " ", describe(c));
                    CHECK(check_case(c, 99, sgemm_by_shape));
                    CHECK(check_case(c, 99, sgemm_row_invariant));
                }
}

TEST_CASE("sgemm: degenerate sizes and alpha = 0 follow BLAS") {
    Rng rng(3, "degenerate");
    // K = 0: C = beta * C, A and B not read (null)
    std::vector<float> c = {1, 2, 3, 4, 5, 6};
    sgemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, -2.0f, c.data(), 3);
    CHECK(c == std::vector<float>{-2, -4, -6, -8, -10, -12});
    std::vector<float> nan_c(6, std::numeric_limits<float>::quiet_NaN());
    sgemm(true, true, 2, 3, 0, 1.0f, nullptr, 2, nullptr, 1, 0.0f, nan_c.data(), 3);
    CHECK(nan_c == std::vector<float>(6, 0.0f));
    // alpha = 0: A and B not read, even if they hold NaN
    std::vector<float> nan_ab(6, std::numeric_limits<float>::quiet_NaN());
    c = {1, 2, 3, 4, 5, 6};
    sgemm(false, false, 2, 3, 2, 0.0f, nan_ab.data(), 2, nan_ab.data(), 3, 0.5f, c.data(), 3);
    CHECK(c == std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3});
    // M = 0 or N = 0: nothing touched
    sgemm(false, false, 0, 3, 2, 1.0f, nullptr, 2, nullptr, 3, 0.0f, nullptr, 3);
    sgemm(false, false, 2, 0, 2, 1.0f, nullptr, 2, nullptr, 1, 0.0f, nullptr, 1);
    // core::gemm checks its arguments
    CHECK_THROWS_AS(gemm(false, false, -1, 2, 2, 1.0f, c.data(), 2, c.data(), 2, 0.0f, c.data(), 2), ValueError);
    CHECK_THROWS_AS(gemm(false, false, 2, 3, 2, 1.0f, c.data(), 1, c.data(), 3, 0.0f, c.data(), 3), ValueError);
    CHECK_THROWS_AS(gemm(false, true, 2, 3, 2, 1.0f, c.data(), 2, c.data(), 1, 0.0f, c.data(), 3), ValueError);
    CHECK_THROWS_AS(gemm(false, false, 2, 3, 2, 1.0f, c.data(), 2, c.data(), 3, 0.0f, c.data(), 2), ValueError);
}

// With the kernel in use: 1, 2 and 3 threads give the same bits.
void check_thread_invariance() {
    struct Shape3 {
        bool trans_a, trans_b;
        int64_t M, N, K;
    };
    // large square-ish (multi-block, both splits), conv forward (small M, long N; B read in place,
    // then B over 16 MB and packed), conv dW (K split), conv dcols (A transposed), linear
    const Shape3 shapes[] = {{false, false, 301, 517, 700}, {true, true, 301, 517, 700}, {false, false, 6, 20000, 25},
                             {false, false, 16, 40000, 120},
                             {false, true, 6, 25, 20000},    {false, true, 16, 150, 9000}, {true, false, 150, 3000, 16},
                             {false, true, 64, 120, 400}};
    uint64_t index = 0;
    for (const Shape3& s : shapes) {
        INFO(sgemm_kernel_name(), " trans_a=", s.trans_a, " trans_b=", s.trans_b, " M=", s.M, " N=", s.N,
             " K=", s.K);
        REQUIRE(2.0 * double(s.M) * double(s.N) * double(s.K) > kSgemmParallelFlops);  // else threads unused
        const std::vector<float> a = random_vector(s.M * s.K, index++), b = random_vector(s.K * s.N, index++);
        for (float beta : {0.0f, 1.0f})
            for (GemmSums sums : {GemmSums::by_shape, GemmSums::row_invariant}) {
            const std::vector<float> one = run_with_threads(1, s.trans_a, s.trans_b, s.M, s.N, s.K, a, b, beta, sums);
            const std::vector<float> two = run_with_threads(2, s.trans_a, s.trans_b, s.M, s.N, s.K, a, b, beta, sums);
            const std::vector<float> three = run_with_threads(3, s.trans_a, s.trans_b, s.M, s.N, s.K, a, b, beta, sums);
            CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
            CHECK(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("sgemm results are bit-identical for 1, 2 and 3 threads") {
    for (GemmKernel kernel : supported_gemm_kernels()) {
        const GemmKernelScope scope(kernel);
        check_thread_invariance();
    }
}

TEST_CASE("sgemm called from inside a parallel region runs on one thread, same bits") {
    // e.g. a per-sample loop that is already parallel: no nested team, identical results
    const int64_t M = 40, N = 300, K = 200, items = 4;
    const std::vector<float> a = random_vector(M * K, 11), b = random_vector(K * N, 12);
    const std::vector<float> serial = run_with_threads(2, false, false, M, N, K, a, b, 0.0f);
    std::vector<std::vector<float>> nested(items, std::vector<float>(static_cast<size_t>(M * N)));
#pragma omp parallel for num_threads(2)
    for (int64_t item = 0; item < items; ++item)
        sgemm(false, false, M, N, K, 0.75f, a.data(), K, b.data(), N, 0.0f, nested[static_cast<size_t>(item)].data(), N);
    for (const std::vector<float>& c : nested) CHECK(std::memcmp(c.data(), serial.data(), c.size() * sizeof(float)) == 0);
}

TEST_CASE("sgemm agrees with cblas_sgemm (gemm_blas) and core::gemm routes to it") {
    const Case shapes[] = {{false, false, 64, 64, 64, 1, 0, 0},    {false, true, 64, 120, 400, 1, 0, 0},
                           {true, false, 150, 200, 16, 0.5f, 1, 4}, {true, true, 33, 257, 100, 1, -2, 1},
                           {false, false, 16, 6400, 150, 1, 0, 0},  {false, true, 6, 25, 8192, 1, 0, 0}};
    for (const Case& c : shapes) {
        INFO(describe(c));
        CHECK(check_case(c, 5, gemm_blas));
        for (GemmKernel kernel : supported_gemm_kernels()) {
            const GemmKernelScope scope(kernel);
            INFO(gemm_kernel_name(kernel));
            CHECK(check_case(c, 5, sgemm_by_shape));
            CHECK(check_case(c, 5, sgemm_row_invariant));
        }
    }
    // core::gemm is sgemm unless the environment asks for BLAS
    const char* choice = std::getenv("PROACT_GEMM");
    if (choice == nullptr || std::string(choice) != "blas") {
        const std::vector<float> a = random_vector(37 * 53, 1), b = random_vector(53 * 29, 2);
        std::vector<float> via_gemm(37 * 29), via_sgemm(37 * 29);
        gemm(false, false, 37, 29, 53, 1.0f, a.data(), 53, b.data(), 29, 0.0f, via_gemm.data(), 29);
        sgemm(false, false, 37, 29, 53, 1.0f, a.data(), 53, b.data(), 29, 0.0f, via_sgemm.data(), 29);
        CHECK(via_gemm == via_sgemm);
    }
    MESSAGE("sgemm kernel: ", std::string(sgemm_kernel_name()));
}

TEST_CASE("sgemm kernel choice: names, the supported list, forcing one, refusing an unknown one") {
    const std::vector<GemmKernel> kernels = supported_gemm_kernels();
    REQUIRE(!kernels.empty());
    CHECK(kernels.back() == GemmKernel::generic);
    for (GemmKernel kernel : {GemmKernel::avx512, GemmKernel::avx2, GemmKernel::generic})
        CHECK(parse_gemm_kernel(gemm_kernel_name(kernel)) == kernel);
    CHECK_THROWS_AS(parse_gemm_kernel("sse3"), ValueError);
    // without PROACT_GEMM_KERNEL the best supported kernel is the default
    const char* forced = std::getenv("PROACT_GEMM_KERNEL");
    if (forced == nullptr || *forced == '\0') CHECK(gemm_kernel() == kernels.front());
    for (GemmKernel kernel : kernels) {
        const GemmKernelScope scope(kernel);
        CHECK(gemm_kernel() == kernel);
        CHECK(std::string(sgemm_kernel_name()) == gemm_kernel_name(kernel));
    }
    for (GemmKernel kernel : {GemmKernel::avx512, GemmKernel::avx2})
        if (!gemm_kernel_supported(kernel)) CHECK_THROWS_AS(set_gemm_kernel(kernel), ValueError);
    std::string names;
    for (GemmKernel kernel : kernels) names += std::string(" ") + gemm_kernel_name(kernel);
    MESSAGE("kernels this CPU supports:", names);
}

TEST_CASE("sgemm: the avx512 and avx2 kernels give the same bits (one FMA per k, same order)") {
    if (!gemm_kernel_supported(GemmKernel::avx512)) return;
    struct Shape3 {
        bool trans_a, trans_b;
        int64_t M, N, K;
    };
    // tile edges, several K slices, B read in place and packed, the K split (small C, long K);
    // the dot-product path (A x B^T, M <= 16, N <= 256, K >= 256): every kernel's rows of A and
    // B (M 1..16 against 6 / 2, N against 4 / 3), K tails of 1..15 lanes, K blocks and chunks
    const Shape3 shapes[] = {{false, false, 17, 100, 600}, {true, true, 33, 257, 1000}, {false, false, 6, 20000, 25},
                             {true, false, 150, 3000, 16}, {false, false, 9, 50, 4500}, {false, true, 64, 120, 400},
                             {false, false, 301, 517, 700}, {false, true, 16, 144, 50176}, {false, true, 6, 25, 1401},
                             {false, true, 13, 11, 257},   {false, true, 1, 1, 300},     {false, true, 7, 256, 4111},
                             {false, true, 5, 2, 271}};
    uint64_t index = 100;
    for (const Shape3& s : shapes) {
        INFO("trans_a=", s.trans_a, " trans_b=", s.trans_b, " M=", s.M, " N=", s.N, " K=", s.K);
        const std::vector<float> a = random_vector(s.M * s.K, index++), b = random_vector(s.K * s.N, index++);
        for (float beta : {0.0f, 1.0f})
            for (GemmSums sums : {GemmSums::by_shape, GemmSums::row_invariant}) {
            std::vector<float> wide, narrow;
            {
                const GemmKernelScope scope(GemmKernel::avx512);
                wide = run_with_threads(2, s.trans_a, s.trans_b, s.M, s.N, s.K, a, b, beta, sums);
            }
            {
                const GemmKernelScope scope(GemmKernel::avx2);
                narrow = run_with_threads(2, s.trans_a, s.trans_b, s.M, s.N, s.K, a, b, beta, sums);
            }
            CHECK(std::memcmp(wide.data(), narrow.data(), wide.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("sgemm, row-invariant sums: a row of C has the same bits in a product of any number of rows") {
    // Rows of A are a batch's samples (a linear layer: x (M, K) x W^T). The shapes are those where
    // by_shape sums otherwise for small M: the dot path (N <= 256, K >= 256) and the K split (small
    // C, K >= 4096); the check that by_shape does differ there shows the test can fail.
    struct Shape2 {
        bool trans_b;
        int64_t N, K;
    };
    const Shape2 shapes[] = {{true, 120, 400}, {true, 10, 5000}, {false, 10, 5000}, {true, 256, 256}};
    const int64_t full = 40;
    for (GemmKernel kernel : supported_gemm_kernels()) {
        const GemmKernelScope scope(kernel);
        uint64_t index = 500;
        for (const Shape2& s : shapes) {
            INFO(gemm_kernel_name(kernel), " trans_b=", s.trans_b, " N=", s.N, " K=", s.K);
            const std::vector<float> a = random_vector(full * s.K, index++), b = random_vector(s.K * s.N, index++);
            const std::vector<float> all = run_with_threads(2, false, s.trans_b, full, s.N, s.K, a, b, 1.0f,
                                                            GemmSums::row_invariant);
            bool by_shape_differs = false;
            for (int64_t M : {1, 2, 7, 8, 9, 15, 16, 17, 33}) {
                CAPTURE(M);
                const std::vector<float> part = run_with_threads(2, false, s.trans_b, M, s.N, s.K, a, b, 1.0f,
                                                                 GemmSums::row_invariant);
                CHECK(std::memcmp(part.data(), all.data(), part.size() * sizeof(float)) == 0);
                const std::vector<float> shaped = run_with_threads(2, false, s.trans_b, M, s.N, s.K, a, b, 1.0f,
                                                                   GemmSums::by_shape);
                by_shape_differs |= std::memcmp(shaped.data(), all.data(), shaped.size() * sizeof(float)) != 0;
            }
            // The dot path exists on avx512 / avx2, the K split on every kernel.
            if (kernel != GemmKernel::generic || s.K >= 4096) CHECK(by_shape_differs);
        }
    }
}
