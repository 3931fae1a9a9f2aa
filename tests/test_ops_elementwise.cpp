// Element-wise ops: forward values and gradient checks, each on two shapes, one broadcasting.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "support/gradcheck_support.hpp"

using namespace proact;
using namespace proact::autograd;
using proact::test::random_tensor;

using Fn2 = Variable (*)(const Variable&, const Variable&);

TEST_CASE("binary ops gradcheck with broadcasting") {
    const std::vector<std::pair<const char*, Fn2>> ops = {
        {"add", [](const Variable& a, const Variable& b) { return add(a, b); }},
        {"sub", [](const Variable& a, const Variable& b) { return sub(a, b); }},
        {"mul", [](const Variable& a, const Variable& b) { return mul(a, b); }},
        {"div", [](const Variable& a, const Variable& b) { return div(a, b); }},
    };
    const std::vector<std::pair<core::Shape, core::Shape>> shapes = {
        {{3, 4}, {3, 4}},            // same shape
        {{2, 3, 4}, {4}},            // trailing vector
        {{2, 3, 2, 2}, {3, 1, 1}},   // per-channel threshold over a batch
        {{2, 3}, {}},                // scalar
        {{3, 1}, {1, 4}},            // both sides broadcast
    };
    for (const auto& [name, op] : ops)
        for (const auto& [shape_a, shape_b] : shapes) {
            CAPTURE(name);
            auto fn = [op](const std::vector<Variable>& in) { return op(in[0], in[1]); };
            // divisors kept away from zero
            CHECK_GRADCHECK(fn, {random_tensor(shape_a, 1), random_tensor(shape_b, 2, 0.5f, 1.5f)});
        }
}

TEST_CASE("unary ops gradcheck") {
    using Fn1 = std::function<Variable(const Variable&)>;
    const std::vector<std::tuple<const char*, Fn1, float, float>> ops = {
        {"neg", [](const Variable& x) { return neg(x); }, -1.f, 1.f},
        {"exp", [](const Variable& x) { return exp(x); }, -1.f, 1.f},
        {"log", [](const Variable& x) { return log(x); }, 0.5f, 2.f},
        {"pow", [](const Variable& x) { return pow(x, 3.0f); }, 0.5f, 1.5f},
        {"pow_frac", [](const Variable& x) { return pow(x, -0.5f); }, 0.5f, 1.5f},
        {"sqrt", [](const Variable& x) { return sqrt(x); }, 0.5f, 2.f},
        {"relu", [](const Variable& x) { return relu(x); }, 0.1f, 1.f},
        {"sigmoid", [](const Variable& x) { return sigmoid(x); }, -2.f, 2.f},
        {"tanh", [](const Variable& x) { return tanh(x); }, -2.f, 2.f},
        {"clamp", [](const Variable& x) { return clamp(x, -0.5f, 0.5f); }, -0.45f, 0.45f},
        {"add_scalar", [](const Variable& x) { return add(x, 3.0f); }, -1.f, 1.f},
        {"mul_scalar", [](const Variable& x) { return mul(x, -2.5f); }, -1.f, 1.f},
    };
    for (const auto& [name, op, lo, hi] : ops)
        for (const core::Shape& shape : {core::Shape{5}, core::Shape{2, 3, 4}}) {
            CAPTURE(name);
            auto fn = [op](const std::vector<Variable>& in) { return op(in[0]); };
            CHECK_GRADCHECK(fn, {random_tensor(shape, 3, lo, hi)});
        }
}

TEST_CASE("relu and clamp are flat outside their range") {
    // relu on negatives and clamp outside [lo, hi] have zero gradient: checked directly
    Variable x(Tensor::from_vector({4}, {-2, -0.5f, 0.25f, 3}), true);
    sum(relu(x)).backward();
    CHECK(x.grad().to_vector() == std::vector<float>{0, 0, 1, 1});
    x.zero_grad();
    Variable c = clamp(x, -1, 1);
    CHECK(c.value().to_vector() == std::vector<float>{-1, -0.5f, 0.25f, 1});
    sum(c).backward();
    CHECK(x.grad().to_vector() == std::vector<float>{0, 1, 1, 0});
    CHECK_THROWS_AS(clamp(x, 1, -1), core::ValueError);
}

TEST_CASE("relu is PyTorch's on non-finite values: NaN passes, +inf stays, -inf becomes 0") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    Variable x(Tensor::from_vector({7}, {nan, -inf, inf, -1, 0, 2, -0.0f}), true);
    const Variable y = relu(x);
    const std::vector<float> out = y.value().to_vector();
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == 0.0f);
    CHECK(out[2] == inf);
    CHECK(out[3] == 0.0f);
    CHECK(out[4] == 0.0f);
    CHECK(out[5] == 2.0f);
    CHECK(std::signbit(out[6]));  // clamp_min(-0, 0) keeps the -0 it was given, as PyTorch
    CHECK(!std::signbit(out[1]));
    // threshold_backward(g, y, 0): g where y <= 0 is false (y > 0 or NaN), else 0.
    sum(mul(y, Variable(Tensor::from_vector({7}, {1, 2, 3, 4, 5, 6, 7})))).backward();
    CHECK(x.grad().to_vector() == std::vector<float>{1, 0, 3, 0, 0, 6, 0});
}

TEST_CASE("relu gradcheck on both signs") {
    // values at least 0.1 away from the kink, so the central difference does not cross it
    Tensor x = random_tensor({2, 3, 4}, 8, 0.1f, 1.0f);
    for (int64_t i = 0; i < x.numel(); i += 2) x.data()[i] = -x.data()[i];
    CHECK_GRADCHECK([](const std::vector<Variable>& in) { return relu(in[0]); }, {x});
}

TEST_CASE("forward values") {
    Variable x(Tensor::from_vector({3}, {0, 1, 4}));
    CHECK(sqrt(x).value().to_vector() == std::vector<float>{0, 1, 2});
    CHECK(sigmoid(x).value().at({0}) == 0.5f);
    CHECK(tanh(x).value().at({0}) == 0.0f);
    CHECK(exp(x).value().at({1}) == doctest::Approx(std::exp(1.0)));
    CHECK(std::isinf(log(x).value().at({0})));
    CHECK(pow(x, 2).value().to_vector() == std::vector<float>{0, 1, 16});
}

TEST_CASE("where selects and routes gradients") {
    Tensor condition = Tensor::from_vector({2, 3}, {1, 0, 1, 0, 0, 1});
    Variable a(Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}), true);
    Variable b(Tensor::from_vector({3}, {10, 20, 30}), true);
    Variable y = where(condition, a, b);
    CHECK(y.value().to_vector() == std::vector<float>{1, 20, 3, 10, 20, 6});
    sum(y).backward();
    CHECK(a.grad().to_vector() == std::vector<float>{1, 0, 1, 0, 0, 1});
    CHECK(b.grad().to_vector() == std::vector<float>{1, 2, 0});
    auto fn = [condition](const std::vector<Variable>& in) { return where(condition, in[0], in[1]); };
    CHECK_GRADCHECK(fn, {random_tensor({2, 3}, 4), random_tensor({3}, 5)});
    auto fn2 = [](const std::vector<Variable>& in) {
        return where(Tensor::from_vector({4}, {1, 0, 0, 1}), in[0], in[1]);
    };
    CHECK_GRADCHECK(fn2, {random_tensor({2, 4}, 6), random_tensor({2, 4}, 7)});
}
