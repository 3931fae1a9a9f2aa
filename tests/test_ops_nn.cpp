// softmax, log_softmax, cross_entropy, mse, dropout.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "support/gradcheck_support.hpp"

using namespace proact;
using namespace proact::autograd;
using proact::test::random_tensor;

TEST_CASE("softmax forward, including -inf and large inputs") {
    const float inf = std::numeric_limits<float>::infinity();
    Variable x(Tensor::from_vector({2, 3}, {0, 0, -inf, 1000, 1000, 1000}));
    Tensor s = softmax(x).value();
    CHECK(s.at({0, 0}) == doctest::Approx(0.5));
    CHECK(s.at({0, 2}) == 0.0f);
    CHECK(s.at({1, 1}) == doctest::Approx(1.0 / 3));
    Tensor ls = log_softmax(x).value();
    CHECK(std::isinf(ls.at({0, 2})));
    CHECK(ls.at({0, 0}) == doctest::Approx(std::log(0.5)));
    CHECK(ls.at({1, 0}) == doctest::Approx(-std::log(3.0)));
    // along axis 0
    Tensor s0 = softmax(Variable(Tensor::from_vector({2, 1}, {0, 0})), 0).value();
    CHECK(s0.to_vector() == std::vector<float>{0.5f, 0.5f});
}

TEST_CASE("softmax and log_softmax gradcheck on two shapes and axes") {
    for (int64_t axis : {-1, 0}) {
        auto s = [axis](const std::vector<Variable>& in) { return softmax(in[0], axis); };
        auto ls = [axis](const std::vector<Variable>& in) { return log_softmax(in[0], axis); };
        CHECK_GRADCHECK(s, {random_tensor({3, 5}, 1)});
        CHECK_GRADCHECK(ls, {random_tensor({3, 5}, 2)});
        CHECK_GRADCHECK(s, {random_tensor({2, 3, 4}, 3)});
        CHECK_GRADCHECK(ls, {random_tensor({2, 3, 4}, 4)});
    }
}

TEST_CASE("cross_entropy value, stability and gradient") {
    Variable logits(Tensor::from_vector({2, 3}, {0, 0, 0, 1000, 0, -1000}));
    Variable loss = cross_entropy(logits, {1, 0});
    CHECK(loss.item() == doctest::Approx(std::log(3.0) / 2));
    auto ce = [](const std::vector<Variable>& in) { return cross_entropy(in[0], {2, 0, 1, 2}); };
    CHECK_GRADCHECK(ce, {random_tensor({4, 3}, 5, -2, 2)});
    auto ce2 = [](const std::vector<Variable>& in) { return cross_entropy(in[0], {9}); };
    CHECK_GRADCHECK(ce2, {random_tensor({1, 10}, 6, -2, 2)});
    CHECK_THROWS_AS(cross_entropy(logits, {1}), core::ShapeError);
    CHECK_THROWS_AS(cross_entropy(logits, {1, 3}), core::ValueError);
    CHECK_THROWS_AS(cross_entropy(logits, {1, -1}), core::ValueError);
}

TEST_CASE("mse value and gradcheck") {
    Variable a(Tensor::from_vector({2}, {1, 3})), b(Tensor::from_vector({2}, {0, 1}));
    CHECK(mse(a, b).item() == doctest::Approx(2.5));
    auto fn = [](const std::vector<Variable>& in) { return mse(in[0], in[1]); };
    CHECK_GRADCHECK(fn, {random_tensor({3, 4}, 1), random_tensor({3, 4}, 2)});
    CHECK_GRADCHECK(fn, {random_tensor({5}, 3), random_tensor({5}, 4)});
    CHECK_THROWS_AS(mse(a, Variable(Tensor::zeros({3}))), core::ShapeError);
}

TEST_CASE("dropout is seeded, scales survivors and is identity in eval") {
    Variable x(Tensor::ones({1000}), true);
    core::Rng r1(7, "dropout"), r2(7, "dropout");
    Tensor y1 = dropout(x, 0.25f, true, r1).value(), y2 = dropout(x, 0.25f, true, r2).value();
    CHECK(core::equal(y1, y2));
    int zeros = 0;
    for (float v : y1.span()) {
        CHECK((v == 0.0f || v == doctest::Approx(1.0f / 0.75f)));
        zeros += v == 0.0f;
    }
    CHECK(zeros > 180);
    CHECK(zeros < 320);
    core::Rng r3(7, "dropout");
    CHECK(core::equal(dropout(x, 0.25f, false, r3).value(), x.value()));
    CHECK_THROWS_AS(dropout(x, 1.0f, true, r3), core::ValueError);
    auto fn = [](const std::vector<Variable>& in) {
        core::Rng rng(11, "dropout");
        return dropout(in[0], 0.3f, true, rng);
    };
    CHECK_GRADCHECK(fn, {random_tensor({4, 5}, 1)});
    CHECK_GRADCHECK(fn, {random_tensor({30}, 2)});
}
