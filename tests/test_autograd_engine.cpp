// The engine: accumulation, graph freeing, NoGradGuard, detach, error cases, gradients() against
// backward(), gradcheck itself.
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

TEST_CASE("gradients added into a pending one never change a tensor that something else holds") {
    // y receives three gradients; the engine may add into a pending tensor in place only when
    // nothing else holds its storage: not the caller's output gradient, not the tensor one op hands
    // to both its inputs, not a retained .grad.
    Variable x(Tensor::from_vector({3}, {1, 2, 3}), true);
    Variable y = mul(x, 3.0f);
    y.retain_grad();
    Variable twice = add(y, y);                      // one gradient tensor for both inputs
    Variable z = add(add(twice, mul(y, 5.0f)), y);   // dz/dy = 2 + 5 + 1
    const Tensor g = Tensor::from_vector({3}, {1, 10, 100});
    z.backward(g);
    CHECK(g.to_vector() == std::vector<float>{1, 10, 100});
    CHECK(y.grad().to_vector() == std::vector<float>{8, 80, 800});
    CHECK(x.grad().to_vector() == std::vector<float>{24, 240, 2400});
    // a non-leaf without retain_grad that gets gradients from several ops: the sums themselves
    Variable h = mul(x, 1.0f);
    Variable w = add(add(mul(h, 2.0f), mul(h, 4.0f)), mul(h, 8.0f));
    x.zero_grad();
    w.backward(g);
    CHECK(x.grad().to_vector() == std::vector<float>{14, 140, 1400});
    CHECK(g.to_vector() == std::vector<float>{1, 10, 100});
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

TEST_CASE("gradients() returns the bits backward() leaves in .grad and touches no .grad") {
    const Tensor x0 = random_tensor({5}, 11), w0 = random_tensor({5}, 12), c0 = random_tensor({5}, 13);
    // w is used twice (two contributions added), c is another leaf that requires a gradient, h
    // asked for retain_grad: none of their .grad may change.
    const auto build = [&](Variable& x, Variable& w, Variable& c, Variable& h) {
        h = mul(x, w);
        h.retain_grad();
        return sum(add(mul(exp(h), w), mul(c, x)));
    };
    Variable x(x0), w(w0.clone(), true), c(c0.clone(), true), h;
    build(x, w, c, h).backward();
    const Tensor expected_w = w.grad(), expected_c = c.grad();

    Variable x2(x0), w2(w0.clone(), true), c2(c0.clone(), true), h2;
    const Variable y = build(x2, w2, c2, h2);
    const std::vector<Tensor> grads = gradients(y, {w2});
    REQUIRE(grads.size() == 1);
    CHECK(core::equal(grads[0], expected_w));
    CHECK_FALSE(w2.has_grad());
    CHECK_FALSE(c2.has_grad());
    CHECK_FALSE(h2.has_grad());
    CHECK(h2.is_leaf());  // the graph is freed
    // Both leaves at once, one of them listed twice; a leaf the output does not use gets nothing.
    Variable x3(x0), w3(w0.clone(), true), c3(c0.clone(), true), h3, unused(Tensor::ones({2}), true);
    const std::vector<Tensor> all = gradients(build(x3, w3, c3, h3), {c3, w3, unused});
    CHECK(core::equal(all[0], expected_c));
    CHECK(core::equal(all[1], expected_w));
    CHECK_FALSE(all[2].defined());
    // Not a scalar output; an input that is not a leaf or needs no gradient.
    Variable x4(x0), w4(w0.clone(), true), c4(c0.clone(), true), h4;
    const Variable y4 = build(x4, w4, c4, h4);
    CHECK_THROWS_AS(gradients(h4, {w4}), core::ShapeError);
    CHECK_THROWS_AS(gradients(y4, {h4}), core::ValueError);
    CHECK_THROWS_AS(gradients(y4, {x4}), core::ValueError);
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
