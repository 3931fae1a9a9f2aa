// matmul (2-D and batched) and the fused linear op.
#include <doctest/doctest.h>

#include "support/gradcheck_support.hpp"

using namespace proact;
using namespace proact::autograd;
using proact::test::random_tensor;

TEST_CASE("matmul forward") {
    Variable a(Tensor::from_vector({2, 2}, {1, 2, 3, 4})), b(Tensor::from_vector({2, 1}, {5, 6}));
    CHECK(matmul(a, b).value().to_vector() == std::vector<float>{17, 39});
    CHECK_THROWS_AS(matmul(b, b), core::ShapeError);
}

TEST_CASE("matmul gradcheck: 2-D, batched, batched with a shared matrix") {
    auto mm = [](const std::vector<Variable>& in) { return matmul(in[0], in[1]); };
    CHECK_GRADCHECK(mm, {random_tensor({3, 4}, 1), random_tensor({4, 2}, 2)});
    CHECK_GRADCHECK(mm, {random_tensor({2, 3, 4}, 3), random_tensor({2, 4, 5}, 4)});
    CHECK_GRADCHECK(mm, {random_tensor({2, 3, 4}, 5), random_tensor({4, 2}, 6)});
    // through a transposed view
    auto mt = [](const std::vector<Variable>& in) { return matmul(transpose(in[0], 0, 1), in[1]); };
    CHECK_GRADCHECK(mt, {random_tensor({4, 3}, 7), random_tensor({4, 2}, 8)});
}

TEST_CASE("linear forward and gradcheck") {
    Variable x(Tensor::from_vector({1, 2}, {1, 2})), w(Tensor::from_vector({3, 2}, {1, 0, 0, 1, 1, 1}));
    Variable b(Tensor::from_vector({3}, {10, 20, 30}));
    CHECK(linear(x, w, b).value().to_vector() == std::vector<float>{11, 22, 33});
    CHECK(linear(x, w, Variable()).value().to_vector() == std::vector<float>{1, 2, 3});
    auto with_bias = [](const std::vector<Variable>& in) { return linear(in[0], in[1], in[2]); };
    CHECK_GRADCHECK(with_bias, {random_tensor({4, 5}, 1), random_tensor({3, 5}, 2), random_tensor({3}, 3)});
    auto no_bias = [](const std::vector<Variable>& in) { return linear(in[0], in[1], Variable()); };
    CHECK_GRADCHECK(no_bias, {random_tensor({1, 6}, 4), random_tensor({2, 6}, 5)});
    CHECK_THROWS_AS(linear(x, Variable(Tensor::zeros({3, 3})), b), core::ShapeError);
    CHECK_THROWS_AS(linear(x, w, Variable(Tensor::zeros({2}))), core::ShapeError);
}
