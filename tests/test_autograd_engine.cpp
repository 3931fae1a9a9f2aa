// The engine: accumulation, graph freeing, NoGradGuard, detach, error cases, gradcheck itself.
#include <doctest/doctest.h>

#include "support/gradcheck_support.hpp"

using namespace proact;
using namespace proact::autograd;
using proact::test::random_tensor;

TEST_CASE("a variable used twice accumulates both contributions") {
    Variable x(Tensor::from_vector({2}, {3, 4}), true);
    Variable y = sum(mul(x, x));  // d/dx sum(x^2) = 2x
    y.backward();
    CHECK(x.grad().to_vector() == std::vector<float>{6, 8});
    // a second backward through a fresh graph accumulates into the leaf
    Variable z = sum(x);
    z.backward();
    CHECK(x.grad().to_vector() == std::vector<float>{7, 9});
    x.zero_grad();
    CHECK_FALSE(x.has_grad());
}

TEST_CASE("diamond graph") {
    Variable x(Tensor::from_vector({1}, {2}), true);
    Variable a = mul(x, 3.0f), b = exp(x);
    Variable y = sum(add(mul(a, b), a));  // y = 3x e^x + 3x ; dy/dx = 3e^x + 3x e^x + 3
    y.backward();
    CHECK(x.grad().item() == doctest::Approx(3 * std::exp(2.0) + 6 * std::exp(2.0) + 3).epsilon(1e-5));
}

TEST_CASE("the graph is freed after backward unless retained") {
    Variable x(Tensor::ones({3}), true);
    Variable h = mul(x, 2.0f);
    Variable y = sum(h);
    y.backward(/*retain_graph=*/true);
    CHECK_FALSE(h.is_leaf());
    CHECK_FALSE(h.has_grad());  // intermediate gradients are dropped
    y.backward();
    CHECK(x.grad().to_vector() == std::vector<float>{4, 4, 4});
    CHECK(h.is_leaf());  // node released
}

TEST_CASE("retain_grad keeps an intermediate gradient") {
    Variable x(Tensor::ones({2}), true);
    Variable h = mul(x, 5.0f);
    h.retain_grad();
    sum(h).backward();
    CHECK(h.grad().to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("NoGradGuard builds no graph") {
    Variable x(Tensor::ones({3}), true);
    {
        NoGradGuard no_grad;
        Variable y = relu(mul(x, 2.0f));
        CHECK_FALSE(y.requires_grad());
        CHECK(y.is_leaf());
        CHECK_THROWS_AS(sum(y).backward(), core::ValueError);
    }
    Variable z = mul(x, 2.0f);
    CHECK(z.requires_grad());
}

TEST_CASE("detach stops gradients") {
    Variable x(Tensor::from_vector({2}, {1, 2}), true);
    Variable y = sum(mul(x, x.detach()));  // d/dx = x (detached factor is a constant)
    y.backward();
    CHECK(x.grad().to_vector() == std::vector<float>{1, 2});
    CHECK(x.detach().value().shares_storage(x.value()));
}

TEST_CASE("inputs without requires_grad get no gradient") {
    Variable w(Tensor::ones({2}), true), c(Tensor::ones({2}), false);
    sum(mul(w, c)).backward();
    CHECK(w.has_grad());
    CHECK_FALSE(c.has_grad());
}

TEST_CASE("backward needs a scalar or an explicit gradient of the right shape") {
    Variable x(Tensor::ones({3}), true);
    Variable y = mul(x, 2.0f);
    CHECK_THROWS_AS(y.backward(), core::ShapeError);
    CHECK_THROWS_AS(y.backward(Tensor::ones({2})), core::ShapeError);
    y.backward(Tensor::from_vector({3}, {1, 2, 3}));
    CHECK(x.grad().to_vector() == std::vector<float>{2, 4, 6});
}

TEST_CASE("gradcheck rejects a wrong or missing backward") {
    // a deliberately wrong backward: claims d(2x)/dx = 3
    auto wrong = [](const std::vector<Variable>& in) {
        return make_result(core::map(in[0].value(), [](float v) { return 2 * v; }), "wrong", {in[0]},
                           [](const Tensor& g) { return std::vector<Tensor>{core::map(g, [](float v) { return 3 * v; })}; });
    };
    CHECK_FALSE(gradcheck(wrong, {random_tensor({4}, 1)}).ok);
    // an op whose backward returns zeros cannot pass vacuously
    auto zero = [](const std::vector<Variable>& in) {
        return make_result(core::map(in[0].value(), [](float v) { return 2 * v; }), "zero", {in[0]},
                           [](const Tensor& g) { return std::vector<Tensor>{Tensor::zeros(g.shape())}; });
    };
    const auto result = gradcheck(zero, {random_tensor({4}, 1)});
    CHECK_FALSE(result.ok);
    CHECK(result.message.find("all zero") != std::string::npos);
    auto right = [](const std::vector<Variable>& in) { return mul(in[0], 2.0f); };
    CHECK(gradcheck(right, {random_tensor({4}, 1)}).ok);
}
