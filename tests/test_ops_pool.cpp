// max_pool2d, avg_pool2d and global_avg_pool: hand-computed values, a direct reference, gradients
// (routing to the first maximum, count_include_pad averaging, gradcheck), NaN propagation, thread-count
// independence and errors (padding at most half the kernel, as in PyTorch).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;

namespace {

Tensor random_tensor(const Shape& shape, uint64_t index) {
    core::Rng rng(11, "test_ops_pool", index);
    return Tensor::normal(shape, 0.0f, 1.0f, rng);
}

// A random permutation of 0.05 * [0, n) - shifted to straddle zero: all values distinct and 0.05
// apart, so a gradcheck step of 1e-3 never changes which element is the maximum.
Tensor distinct_tensor(const Shape& shape, uint64_t index) {
    core::Rng rng(13, "test_ops_pool_distinct", index);
    const int64_t n = core::numel_of(shape);
    std::vector<float> values(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = 0.05f * static_cast<float>(i - n / 2);
    for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
        const int64_t j = static_cast<int64_t>(rng.next_u32() % static_cast<uint32_t>(i + 1));
        std::swap(values[static_cast<size_t>(i)], values[static_cast<size_t>(j)]);
    }
    return Tensor::from_vector(shape, values);
}

// x[0][0] = [[1 2 3 4] [5 6 7 8] [9 10 11 12] [13 14 15 16]] times `sign`
Tensor counting_4x4(float sign) {
    std::vector<float> values(16);
    for (int i = 0; i < 16; ++i) values[static_cast<size_t>(i)] = sign * static_cast<float>(i + 1);
    return Tensor::from_vector({1, 1, 4, 4}, values);
}

// Direct pooling: max over the real pixels of each window (padding is -inf) or their sum / k^2.
Tensor reference_pool(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding, bool is_max) {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t OH = (H + 2 * padding - kernel) / stride + 1, OW = (W + 2 * padding - kernel) / stride + 1;
    Tensor out = Tensor::empty({B, C, OH, OW});
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                    double best = -std::numeric_limits<double>::infinity(), total = 0.0;
                    for (int64_t kh = 0; kh < kernel; ++kh)
                        for (int64_t kw = 0; kw < kernel; ++kw) {
                            const int64_t h = oh * stride - padding + kh, w = ow * stride - padding + kw;
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            best = std::max(best, double(x.at({b, c, h, w})));
                            total += x.at({b, c, h, w});
                        }
                    out.at({b, c, oh, ow}) = static_cast<float>(is_max ? best : total / double(kernel * kernel));
                }
    return out;
}

template <class Call>
std::string message_of(Call&& call) {
    try {
        call();
    } catch (const core::Error& error) {
        return error.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("max_pool2d: hand-computed values; padding is -inf, never 0") {
    const Variable x(counting_4x4(1.0f));
    CHECK(autograd::max_pool2d(x, 2).value().to_vector() == std::vector<float>{6, 8, 14, 16});
    // kernel 3, stride 2, padding 1: windows rows/cols [-1,2) and [1,4)
    CHECK(autograd::max_pool2d(x, 3, 2, 1).value().to_vector() == std::vector<float>{6, 8, 14, 16});
    // all negative: a zero padding would win every border window
    const Variable negative(counting_4x4(-1.0f));
    CHECK(autograd::max_pool2d(negative, 3, 2, 1).value().to_vector() == std::vector<float>{-1, -2, -5, -6});
    CHECK(autograd::max_pool2d(negative, 2, 1, 1).value().to_vector() ==
          std::vector<float>{-1, -1, -2, -3, -4, -1, -1, -2, -3, -4, -5, -5, -6, -7, -8, -9, -9, -10, -11, -12,
                             -13, -13, -14, -15, -16});
}

TEST_CASE("max_pool2d: stride defaults to the kernel; odd sizes drop the last row and column") {
    const Variable x(random_tensor({2, 3, 7, 5}, 1));
    const Variable y = autograd::max_pool2d(x, 2);
    CHECK(y.shape() == Shape{2, 3, 3, 2});
    CHECK(core::equal(y.value(), reference_pool(x.value(), 2, 2, 0, true)));
}

TEST_CASE("max_pool2d and avg_pool2d match a direct reference") {
    struct Case {
        Shape shape;
        int64_t kernel, stride, padding;
    };
    const std::vector<Case> cases = {
        {{2, 3, 8, 8}, 2, 2, 0},  // fast path
        {{2, 3, 7, 9}, 2, 2, 0},  // fast path, odd sizes
        {{2, 2, 7, 7}, 3, 2, 1},  {{1, 2, 6, 5}, 3, 1, 1}, {{2, 2, 9, 9}, 2, 3, 1},  // stride > kernel
        {{1, 1, 5, 5}, 5, 1, 2},  {{3, 2, 4, 4}, 1, 1, 0},
    };
    uint64_t seed = 10;
    for (const Case& c : cases) {
        CAPTURE(core::shape_str(c.shape));
        CAPTURE(c.kernel);
        CAPTURE(c.stride);
        CAPTURE(c.padding);
        const Variable x(random_tensor(c.shape, seed++));
        CHECK(core::equal(autograd::max_pool2d(x, c.kernel, c.stride, c.padding).value(),
                          reference_pool(x.value(), c.kernel, c.stride, c.padding, true)));
        CHECK(core::max_abs_diff(autograd::avg_pool2d(x, c.kernel, c.stride, c.padding).value(),
                                 reference_pool(x.value(), c.kernel, c.stride, c.padding, false)) < 1e-6f);
    }
}

TEST_CASE("max_pool2d: backward routes to the first maximum on ties and accumulates over overlaps") {
    // All equal: each 2x2 window's gradient goes to its top-left element.
    Variable ones(Tensor::ones({1, 1, 4, 4}), true);
    autograd::max_pool2d(ones, 2).backward(Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}));
    CHECK(ones.grad().to_vector() == std::vector<float>{1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0});

    // Same on the general path (kernel 3, stride 1, overlapping windows): each window's gradient
    // goes to its own first (top-left) element.
    Variable flat(Tensor::ones({1, 1, 4, 4}), true);
    autograd::max_pool2d(flat, 3, 1).backward(Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}));
    CHECK(flat.grad().to_vector() == std::vector<float>{1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});

    // Distinct values, overlapping windows: each 3x3 window's maximum is its bottom-right pixel.
    Variable counting(counting_4x4(1.0f), true);
    autograd::max_pool2d(counting, 3, 1).backward(Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}));
    std::vector<float> expected(16, 0.0f);
    expected[10] = 1;  // 11 is the max of window (0,0) = rows 0-2, cols 0-2
    expected[11] = 2;  // 12 of window (0,1)
    expected[14] = 3;  // 15 of window (1,0)
    expected[15] = 4;  // 16 of window (1,1)
    CHECK(counting.grad().to_vector() == expected);

    // One peak inside all four overlapping 3x3 windows receives all four gradients.
    Tensor peaked = counting_4x4(1.0f);
    peaked.at({0, 0, 1, 1}) = 100.0f;
    Variable peak(peaked, true);
    autograd::max_pool2d(peak, 3, 1).backward(Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}));
    CHECK(peak.grad().at({0, 0, 1, 1}) == 10.0f);
    CHECK(peak.grad().to_vector()[15] == 0.0f);
}

TEST_CASE("max_pool2d: NaN propagates, like PyTorch") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Tensor x = counting_4x4(1.0f);
    x.at({0, 0, 0, 1}) = nan;
    x.at({0, 0, 3, 3}) = nan;
    // with and without a graph (the fast path has a separate loop that also records the argmax)
    for (const bool requires_grad : {false, true}) {
        CAPTURE(requires_grad);
        const std::vector<float> fast = autograd::max_pool2d(Variable(x, requires_grad), 2).value().to_vector();
        CHECK(std::isnan(fast[0]));
        CHECK(fast[1] == 8);
        CHECK(fast[2] == 14);
        CHECK(std::isnan(fast[3]));
    }
    const std::vector<float> general = autograd::max_pool2d(Variable(x), 3, 1, 1).value().to_vector();
    CHECK(std::isnan(general[0]));
    CHECK(std::isnan(general[15]));
    CHECK(general[8] == 14);
}

TEST_CASE("max_pool2d 2x2 without a graph (8 outputs a vector) gives the argmax loop's bits") {
    // widths 16..41: whole blocks of 8 outputs, a tail, odd widths; NaN, infinities and signed
    // zeros in some windows (the block falls back to the scalar loop), ties of +0 and -0 elsewhere
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    uint64_t seed = 300;
    for (const int64_t width : {16, 17, 24, 33, 41}) {
        for (int variant = 0; variant < 4; ++variant) {
            CAPTURE(width);
            CAPTURE(variant);
            Tensor x = random_tensor({2, 3, 6, width}, seed++);
            float* v = x.data();
            for (int64_t i = 0; i < x.numel(); ++i) {
                if (variant == 1 && i % 37 == 5) v[i] = nan;
                if (variant == 2 && i % 29 == 3) v[i] = (i % 2) ? inf : -inf;
                if (variant == 3) v[i] = (i % 3 == 0) ? -0.0f : (i % 3 == 1 ? 0.0f : -1.0f);
            }
            const Tensor vector_path = autograd::max_pool2d(Variable(x), 2).value();
            const Tensor argmax_path = autograd::max_pool2d(Variable(x, /*requires_grad=*/true), 2).value();
            REQUIRE(vector_path.numel() == argmax_path.numel());
            CHECK(std::memcmp(vector_path.data(), argmax_path.data(),
                              static_cast<size_t>(vector_path.numel()) * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("avg_pool2d: hand-computed, padding counted in the divisor") {
    const Variable x(counting_4x4(1.0f));
    CHECK(autograd::avg_pool2d(x, 2).value().to_vector() == std::vector<float>{3.5f, 5.5f, 11.5f, 13.5f});
    // kernel 3, stride 2, padding 1: window (0,0) holds 1 2 5 6 and five padding zeros -> 14/9
    const std::vector<float> padded = autograd::avg_pool2d(x, 3, 2, 1).value().to_vector();
    CHECK(padded[0] == doctest::Approx(14.0 / 9.0));
    CHECK(padded[1] == doctest::Approx((2 + 3 + 4 + 6 + 7 + 8) / 9.0));
    CHECK(padded[3] == doctest::Approx((6 + 7 + 8 + 10 + 11 + 12 + 14 + 15 + 16) / 9.0));

    Variable xg(counting_4x4(1.0f), true);
    autograd::avg_pool2d(xg, 3, 2, 1).backward(Tensor::ones({1, 1, 2, 2}));
    // pixel (1,1) lies in all four windows, (0,0) in one
    CHECK(xg.grad().at({0, 0, 1, 1}) == doctest::Approx(4.0 / 9.0));
    CHECK(xg.grad().at({0, 0, 0, 0}) == doctest::Approx(1.0 / 9.0));
    CHECK(xg.grad().at({0, 0, 3, 3}) == doctest::Approx(1.0 / 9.0));
}

TEST_CASE("global_avg_pool: hand-computed") {
    Variable x(Tensor::from_vector({2, 1, 2, 2}, {1, 2, 3, 4, -1, -1, 5, 9}), true);
    const Variable y = autograd::global_avg_pool(x);
    CHECK(y.shape() == Shape{2, 1});
    CHECK(y.value().to_vector() == std::vector<float>{2.5f, 3.0f});
    Variable(y).backward(Tensor::from_vector({2, 1}, {4, 8}));
    CHECK(x.grad().to_vector() == std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2});
}

TEST_CASE("pooling gradchecks") {
    SUBCASE("max_pool2d 2x2 stride 2 (fast path)") {
        const auto result = autograd::gradcheck(
            [](const std::vector<Variable>& in) { return autograd::max_pool2d(in[0], 2); },
            {distinct_tensor({2, 3, 6, 6}, 1)});
        CHECK_MESSAGE(result.ok, result.message);
    }
    SUBCASE("max_pool2d 3x3 stride 2 padding 1 (overlapping windows)") {
        const auto result = autograd::gradcheck(
            [](const std::vector<Variable>& in) { return autograd::max_pool2d(in[0], 3, 2, 1); },
            {distinct_tensor({2, 2, 5, 5}, 2)});
        CHECK_MESSAGE(result.ok, result.message);
    }
    SUBCASE("avg_pool2d 2x2") {
        const auto result = autograd::gradcheck(
            [](const std::vector<Variable>& in) { return autograd::avg_pool2d(in[0], 2); },
            {random_tensor({2, 3, 6, 6}, 3)});
        CHECK_MESSAGE(result.ok, result.message);
    }
    SUBCASE("avg_pool2d 3x3 stride 2 padding 1") {
        const auto result = autograd::gradcheck(
            [](const std::vector<Variable>& in) { return autograd::avg_pool2d(in[0], 3, 2, 1); },
            {random_tensor({2, 2, 5, 5}, 4)});
        CHECK_MESSAGE(result.ok, result.message);
    }
    SUBCASE("global_avg_pool") {
        for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{1, 2, 3, 3}}) {
            const auto result = autograd::gradcheck(
                [](const std::vector<Variable>& in) { return autograd::global_avg_pool(in[0]); },
                {random_tensor(shape, 5)});
            CHECK_MESSAGE(result.ok, result.message);
        }
    }
}

TEST_CASE("pooling: no graph and no saved argmax without a gradient") {
    Variable x(random_tensor({1, 2, 4, 4}, 20), true);
    {
        autograd::NoGradGuard guard;
        CHECK(autograd::max_pool2d(x, 2).node() == nullptr);
        CHECK(autograd::avg_pool2d(x, 2).node() == nullptr);
        CHECK(autograd::global_avg_pool(x).node() == nullptr);
    }
    CHECK(autograd::max_pool2d(x.detach(), 2).node() == nullptr);
    CHECK(autograd::max_pool2d(x, 2).node() != nullptr);
}

TEST_CASE("pooling: results do not depend on the thread count") {
    const Tensor x = random_tensor({16, 16, 32, 32}, 30);
    const Tensor dout_max = random_tensor({16, 16, 15, 15}, 31);
    const Tensor dout_global = random_tensor({16, 16}, 32);
    const int threads_before = core::num_threads();
    std::vector<Tensor> results[2];
    for (int run = 0; run < 2; ++run) {
        core::set_num_threads(run + 1);
        Variable a(x, true), b(x, true), c(x, true), d(x, true);
        Variable y_max = autograd::max_pool2d(a, 3, 2, 1);
        Variable y_fast = autograd::max_pool2d(b, 2);
        Variable y_avg = autograd::avg_pool2d(c, 3, 2, 0);
        Variable y_global = autograd::global_avg_pool(d);
        results[run] = {y_max.value(), y_fast.value(), y_avg.value(), y_global.value()};
        y_max.backward(Tensor::ones(y_max.shape()));
        y_fast.backward(Tensor::ones(y_fast.shape()));
        y_avg.backward(dout_max);
        y_global.backward(dout_global);
        for (const Variable* v : {&a, &b, &c, &d}) results[run].push_back(v->grad());
    }
    core::set_num_threads(threads_before);
    for (size_t i = 0; i < results[0].size(); ++i) {
        CAPTURE(i);
        CHECK(core::equal(results[0][i], results[1][i]));
    }
}

TEST_CASE("pooling: invalid arguments throw typed errors") {
    const Variable x(Tensor::zeros({1, 2, 6, 6}));
    // PyTorch: "pad should be at most half of effective kernel size"; beyond that a window can lie
    // entirely in the padding, where max-pool would return -inf.
    CHECK_THROWS_AS(autograd::max_pool2d(x, 3, 1, 2), core::ValueError);
    CHECK(message_of([&] { autograd::max_pool2d(x, 3, 1, 2); }) ==
          "max_pool2d: padding 2 is more than half the kernel size 3 (at most 1, as in PyTorch)");
    CHECK_THROWS_AS(autograd::avg_pool2d(x, 2, 2, 2), core::ValueError);
    CHECK(autograd::max_pool2d(x, 2, 2, 1).shape() == Shape{1, 2, 4, 4});  // exactly half is allowed
    CHECK_THROWS_AS(autograd::max_pool2d(Variable(Tensor::zeros({2, 6, 6})), 2), core::ShapeError);
    CHECK(message_of([&] { autograd::avg_pool2d(Variable(Tensor::zeros({2, 6, 6})), 2); }) ==
          "avg_pool2d: input must be 4-D (B,C,H,W), got shape [2, 6, 6]");
    CHECK_THROWS_AS(autograd::max_pool2d(x, 0), core::ValueError);
    CHECK_THROWS_AS(autograd::max_pool2d(x, 2, -1), core::ValueError);
    CHECK_THROWS_AS(autograd::max_pool2d(x, 2, 2, -1), core::ValueError);
    CHECK_THROWS_AS(autograd::max_pool2d(x, 7), core::ShapeError);
    CHECK(message_of([&] { autograd::max_pool2d(x, 7); }).find("kernel 7x7 is larger than the padded input 6x6") !=
          std::string::npos);
    CHECK_THROWS_AS(autograd::global_avg_pool(Variable(Tensor::zeros({2, 6}))), core::ShapeError);
}
