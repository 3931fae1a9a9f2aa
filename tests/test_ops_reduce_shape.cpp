// sum/mean over axes and the shape ops: forward values, edge cases and gradient checks.
#include <doctest/doctest.h>

#include "support/gradcheck_support.hpp"

using namespace proact;
using namespace proact::autograd;
using proact::test::random_tensor;

TEST_CASE("sum and mean gradcheck over axes, with and without keepdim") {
    const std::vector<std::vector<int64_t>> axes_list = {{}, {0}, {1}, {-1}, {0, 2}};
    for (const auto& axes : axes_list)
        for (bool keepdim : {false, true}) {
            auto s = [axes, keepdim](const std::vector<Variable>& in) { return sum(in[0], axes, keepdim); };
            auto m = [axes, keepdim](const std::vector<Variable>& in) { return mean(in[0], axes, keepdim); };
            CHECK_GRADCHECK(s, {random_tensor({2, 3, 4}, 1)});
            CHECK_GRADCHECK(m, {random_tensor({2, 3, 4}, 2)});
        }
    auto m = [](const std::vector<Variable>& in) { return mean(in[0], {1}); };
    CHECK_GRADCHECK(m, {random_tensor({5, 7}, 3)});
}

TEST_CASE("sum over an empty axis is zero and sends no gradient") {
    Variable x(Tensor::zeros({3, 0}), true);
    Variable s = sum(x, {1});
    CHECK(s.value().to_vector() == std::vector<float>{0, 0, 0});
    sum(s).backward();
    CHECK(x.grad().shape() == core::Shape{3, 0});
}

TEST_CASE("shape ops gradcheck") {
    auto r = [](const std::vector<Variable>& in) { return mul(reshape(in[0], {4, -1}), reshape(in[0], {4, 6})); };
    CHECK_GRADCHECK(r, {random_tensor({2, 3, 4}, 1)});
    auto f = [](const std::vector<Variable>& in) { return flatten(in[0], 1); };
    CHECK_GRADCHECK(f, {random_tensor({2, 3, 2, 2}, 2)});
    auto t = [](const std::vector<Variable>& in) { return add(transpose(in[0], 0, 1), in[1]); };
    // (3,4)^T is (4,3): the vector broadcasts over its last axis
    CHECK_GRADCHECK(t, {random_tensor({3, 4}, 3), random_tensor({3}, 4)});
    auto p = [](const std::vector<Variable>& in) { return permute(in[0], {2, 0, 1}); };
    CHECK_GRADCHECK(p, {random_tensor({2, 3, 4}, 5)});
    auto p2 = [](const std::vector<Variable>& in) { return mul(permute(in[0], {1, 0}), in[1]); };
    CHECK_GRADCHECK(p2, {random_tensor({3, 2}, 6), random_tensor({1, 3}, 7)});
}

TEST_CASE("concat forward and gradients") {
    Variable a(Tensor::from_vector({2, 1}, {1, 2}), true), b(Tensor::from_vector({2, 2}, {3, 4, 5, 6}), true);
    Variable c = concat({a, b}, 1);
    CHECK(c.shape() == core::Shape{2, 3});
    CHECK(c.value().to_vector() == std::vector<float>{1, 3, 4, 2, 5, 6});
    CHECK(concat({a, a}, 0).value().to_vector() == std::vector<float>{1, 2, 1, 2});
    auto fn = [](const std::vector<Variable>& in) { return concat({in[0], in[1]}, 1); };
    CHECK_GRADCHECK(fn, {random_tensor({2, 1, 3}, 1), random_tensor({2, 4, 3}, 2)});
    auto fn0 = [](const std::vector<Variable>& in) { return concat({in[0], in[1], in[0]}, 0); };
    CHECK_GRADCHECK(fn0, {random_tensor({1, 3}, 3), random_tensor({2, 3}, 4)});
    CHECK_THROWS_AS(concat({a, Variable(Tensor::zeros({3, 1}))}, 1), core::ShapeError);
    CHECK_THROWS_AS(concat({}, 0), core::ValueError);
}
