// Element-wise broadcasting, reductions, argmax, GEMM and matmul kernels against hand-computed values.
#include <doctest/doctest.h>

#include <vector>

#include <cmath>
#include <limits>

#include "core/core.hpp"

using namespace proact::core;

TEST_CASE("broadcast shapes") {
    CHECK(broadcast_shape({2, 3, 4}, {4}, "t") == Shape{2, 3, 4});
    CHECK(broadcast_shape({2, 1, 4}, {3, 1}, "t") == Shape{2, 3, 4});
    CHECK(broadcast_shape({}, {5}, "t") == Shape{5});
    CHECK_THROWS_AS(broadcast_shape({2, 3}, {4}, "t"), ShapeError);
}

TEST_CASE("binary ops with broadcasting") {
    Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor row = Tensor::from_vector({3}, {10, 20, 30});
    Tensor col = Tensor::from_vector({2, 1}, {100, 200});
    CHECK(add(a, row).to_vector() == std::vector<float>{11, 22, 33, 14, 25, 36});
    CHECK(add(a, col).to_vector() == std::vector<float>{101, 102, 103, 204, 205, 206});
    CHECK(mul(a, Tensor::scalar(2)).to_vector() == std::vector<float>{2, 4, 6, 8, 10, 12});
    CHECK(sub(row, a).to_vector() == std::vector<float>{9, 18, 27, 6, 15, 24});
    CHECK(div(a, col).at({1, 2}) == doctest::Approx(6.0 / 200));
    // outer product by broadcasting [2,1] x [3]
    CHECK(mul(col, row).shape() == Shape{2, 3});
    CHECK(mul(col, row).at({1, 2}) == 6000);
    // a per-channel threshold [C,1,1] over a batch [B,C,H,W]
    Tensor x = Tensor::ones({2, 3, 2, 2});
    Tensor per_channel = Tensor::from_vector({3, 1, 1}, {1, 2, 3});
    Tensor y = mul(x, per_channel);
    CHECK(y.at({1, 2, 1, 1}) == 3);
    CHECK(y.at({0, 1, 0, 1}) == 2);
    // non-contiguous inputs
    Tensor t = a.transpose(0, 1);  // [3,2]
    CHECK(add(t, Tensor::from_vector({2}, {0, 1})).to_vector() == std::vector<float>{1, 5, 2, 6, 3, 7});
    CHECK_THROWS_AS(add(a, Tensor::zeros({4})), ShapeError);
}

TEST_CASE("large broadcast matches a scalar loop") {
    Rng rng(3, "t");
    Tensor x = Tensor::normal({64, 16, 12, 12}, 0, 1, rng);
    Tensor b = Tensor::normal({16, 1, 1}, 0, 1, rng);
    Tensor y = add(x, b);
    float worst = 0;
    for (int64_t n = 0; n < 64; n += 7)
        for (int64_t c = 0; c < 16; ++c)
            for (int64_t h = 0; h < 12; h += 5) worst = std::max(worst, std::fabs(y.at({n, c, h, 3}) - (x.at({n, c, h, 3}) + b.at({c, 0, 0}))));
    CHECK(worst == 0.0f);
}

TEST_CASE("in-place helpers") {
    Tensor a = Tensor::ones({2, 2});
    add_(a, Tensor::from_vector({2}, {1, 2}));
    CHECK(a.to_vector() == std::vector<float>{2, 3, 2, 3});
    scale_(a, 2);
    CHECK(a.to_vector() == std::vector<float>{4, 6, 4, 6});
    axpy_(a, -1, Tensor::ones({2, 2}));
    CHECK(a.to_vector() == std::vector<float>{3, 5, 3, 5});
    CHECK_THROWS_AS(add_(a, Tensor::zeros({3})), ShapeError);
}

TEST_CASE("sum, mean, max, min over axes") {
    Tensor x = Tensor::arange(0, 24).reshape({2, 3, 4});
    CHECK(sum(x).item() == 276);
    CHECK(sum(x, {0}).shape() == Shape{3, 4});
    CHECK(sum(x, {0}).at({2, 3}) == 11 + 23);
    CHECK(sum(x, {1}).at({1, 0}) == 12 + 16 + 20);
    CHECK(sum(x, {-1}, true).shape() == Shape{2, 3, 1});
    CHECK(sum(x, {-1}, true).at({0, 1, 0}) == 4 + 5 + 6 + 7);
    CHECK(sum(x, {0, 2}).to_vector() == std::vector<float>{0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19,
                                                         8 + 9 + 10 + 11 + 20 + 21 + 22 + 23});
    CHECK(mean(x, {2}).at({1, 2}) == doctest::Approx((20 + 21 + 22 + 23) / 4.0));
    CHECK(max(x, {1}).at({1, 3}) == 23);
    CHECK(min(x, {0, 1}).to_vector() == std::vector<float>{0, 1, 2, 3});
    CHECK(max(x).item() == 23);
    // non-contiguous input
    CHECK(sum(x.transpose(0, 2), {0}).at({2, 1}) == sum(x, {2}).at({1, 2}));
    CHECK_THROWS_AS(sum(x, {3}), IndexError);
    CHECK_THROWS_AS(sum(x, {1, 1}), ValueError);
}

TEST_CASE("reductions over an empty axis") {
    Tensor e = Tensor::zeros({3, 0});
    CHECK(sum(e, {1}).to_vector() == std::vector<float>{0, 0, 0});
    CHECK(std::isnan(mean(e, {1}).at({0})));
    CHECK_THROWS_AS(max(e, {1}), ValueError);
    CHECK(sum(e, {0}).shape() == Shape{0});
}

TEST_CASE("argmax takes the first maximum") {
    Tensor x = Tensor::from_vector({2, 4}, {1, 5, 5, 2, 9, 0, 9, 9});
    CHECK(argmax(x, 1) == std::vector<int64_t>{1, 0});
    CHECK(argmax(x, 0) == std::vector<int64_t>{1, 0, 1, 1});
}

TEST_CASE("sum_to reverses broadcasting") {
    Tensor g = Tensor::ones({4, 3, 2, 2});
    CHECK(sum_to(g, {3, 1, 1}).to_vector() == std::vector<float>{16, 16, 16});
    CHECK(sum_to(g, {}).item() == 48);
    CHECK(sum_to(g, {2, 2}).at({1, 1}) == 12);
    CHECK_THROWS_AS(sum_to(g, {5}), ShapeError);
}

TEST_CASE("gemm with transposes against a naive product") {
    Rng rng(9, "gemm");
    const int64_t M = 7, N = 5, K = 3;
    Tensor a = Tensor::normal({M, K}, 0, 1, rng), b = Tensor::normal({K, N}, 0, 1, rng);
    Tensor expected = Tensor::zeros({M, N});
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += a.at({i, k}) * b.at({k, j});
            expected.at({i, j}) = float(s);
        }
    CHECK(max_abs_diff(matmul(a, b), expected) < 1e-5f);
    Tensor at = a.transpose(0, 1).contiguous(), bt = b.transpose(0, 1).contiguous();
    CHECK(max_abs_diff(matmul(at, b, true, false), expected) < 1e-5f);
    CHECK(max_abs_diff(matmul(a, bt, false, true), expected) < 1e-5f);
    CHECK(max_abs_diff(matmul(at, bt, true, true), expected) < 1e-5f);
    // transposed views go to BLAS without a copy and give the same result
    CHECK(max_abs_diff(matmul(at.transpose(0, 1), b), expected) < 1e-5f);
    CHECK_THROWS_AS(matmul(a, a), ShapeError);
}

TEST_CASE("batched matmul") {
    Rng rng(10, "bmm");
    Tensor a = Tensor::normal({2, 3, 4, 5}, 0, 1, rng), b = Tensor::normal({2, 3, 5, 2}, 0, 1, rng);
    Tensor c = matmul(a, b);
    CHECK(c.shape() == Shape{2, 3, 4, 2});
    Tensor c12 = matmul(a.select(1).select(2), b.select(1).select(2));
    CHECK(max_abs_diff(c.select(1).select(2), c12) < 1e-5f);
    Tensor shared = Tensor::normal({5, 6}, 0, 1, rng);
    Tensor d = matmul(a, shared);
    CHECK(d.shape() == Shape{2, 3, 4, 6});
    CHECK(max_abs_diff(d.select(0).select(1), matmul(a.select(0).select(1), shared)) < 1e-5f);
    CHECK_THROWS_AS(matmul(a, Tensor::zeros({3, 5, 2})), ShapeError);
}

TEST_CASE("Rng streams are independent of order and differ by purpose and index") {
    Rng a(5, "faults", 17), b(5, "faults", 17), c(5, "faults", 18), d(5, "init", 17);
    const uint32_t first = a.next_u32();
    CHECK(first == b.next_u32());
    CHECK(first != c.next_u32());
    CHECK(first != d.next_u32());
    Rng u(1, "below");
    std::vector<int> counts(6, 0);
    for (int i = 0; i < 6000; ++i) ++counts[u.below(6)];
    for (int count : counts) CHECK(std::abs(count - 1000) < 150);
    Rng n(2, "normal");
    double total = 0, total_sq = 0;
    for (int i = 0; i < 20000; ++i) {
        const double v = n.normal();
        total += v;
        total_sq += v * v;
    }
    CHECK(std::fabs(total / 20000) < 0.03);
    CHECK(std::fabs(total_sq / 20000 - 1) < 0.05);
}

TEST_CASE("buffer pool reuses freed storage") {
    buffer_pool_clear();
    const auto before = buffer_pool_stats();
    { Tensor t = Tensor::empty({12345}); }
    { Tensor t = Tensor::empty({12345}); }
    const auto after = buffer_pool_stats();
#if defined(PROACT_SANITIZE)
    CHECK(after.hits == before.hits);
#else
    CHECK(after.hits == before.hits + 1);
#endif
}

TEST_CASE("buffer pool serves nearby sizes from one size class") {
#if !defined(PROACT_SANITIZE)
    // 100,000 and 104,000 floats (400 and 416 KB) fall in one class of eight per doubling; a
    // size twice as large does not
    buffer_pool_clear();
    { Tensor t = Tensor::empty({100000}); }
    const auto before = buffer_pool_stats();
    { Tensor t = Tensor::empty({104000}); }
    CHECK(buffer_pool_stats().hits == before.hits + 1);
    { Tensor t = Tensor::empty({200000}); }
    CHECK(buffer_pool_stats().misses == before.misses + 1);
    buffer_pool_clear();
#endif
}

TEST_CASE("buffer pool makes room for new sizes by releasing the buffers cached longest ago") {
#if !defined(PROACT_SANITIZE)
    // Eight buffers of 60 MB and then one of 40 MB do not fit under the pool's 512 MB together:
    // caching the last releases one of the first (none is written, so no memory is touched).
    buffer_pool_clear();
    const int64_t floats = int64_t(15) << 20;
    {
        std::vector<Tensor> eight;
        for (int i = 0; i < 8; ++i) eight.push_back(Tensor::empty({floats}));
    }
    const auto after_eight = buffer_pool_stats();
    CHECK(after_eight.cached_bytes >= 8 * floats * 4);
    CHECK(after_eight.released == 0);
    { Tensor other = Tensor::empty({floats * 2 / 3}); }  // 40 MB, another class: 520 MB in all
    const auto after_other = buffer_pool_stats();
    CHECK(after_other.released == 1);  // one of the eight went
    { Tensor again = Tensor::empty({floats * 2 / 3}); }  // the newest is still there
    CHECK(buffer_pool_stats().hits == after_other.hits + 1);
    // a buffer larger than the whole pool goes straight back to the system (600 MB)
    const auto before_huge = buffer_pool_stats();
    { Tensor huge = Tensor::empty({int64_t(150) << 20}); }
    CHECK(buffer_pool_stats().cached_bytes == before_huge.cached_bytes);
    buffer_pool_clear();
    CHECK(buffer_pool_stats().cached_bytes == 0);
#endif
}
