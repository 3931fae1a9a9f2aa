// batch_norm: hand-computed outputs and running statistics (PyTorch's update: biased variance to
// normalise, unbiased variance into running_var, momentum 0.1), eval mode, a double-precision
// reference, gradchecks in training and eval, batch size 1, thread-count independence, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "core/batch_norm.hpp"
#include "core/elementwise.hpp"
#include "core/tensor.hpp"
#include "support/tensor_checks.hpp"
#include "core/threads.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;

namespace {

Tensor random_tensor(const Shape& shape, uint64_t index, float mean = 0.0f, float stddev = 1.0f) {
    core::Rng rng(17, "test_ops_norm", index);
    return Tensor::normal(shape, mean, stddev, rng);
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

// Training-mode batch norm in double over (B,C,S): y = (x - mean) / sqrt(biased var + eps) * gamma + beta.
Tensor reference_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
    const int64_t B = x.size(0), C = x.size(1), S = x.numel() / (B * C);
    const Tensor flat = x.reshape({B, C, S});
    Tensor out = Tensor::empty({B, C, S});
    for (int64_t c = 0; c < C; ++c) {
        double total = 0.0, squares = 0.0;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t s = 0; s < S; ++s) total += flat.at({b, c, s});
        const double mean = total / double(B * S);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t s = 0; s < S; ++s) squares += std::pow(flat.at({b, c, s}) - mean, 2);
        const double invstd = 1.0 / std::sqrt(squares / double(B * S) + eps);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t s = 0; s < S; ++s)
                out.at({b, c, s}) =
                    static_cast<float>((flat.at({b, c, s}) - mean) * invstd * gamma.at({c}) + beta.at({c}));
    }
    return out.reshape(x.shape());
}

// The documented order of a channel's sums: each plane's values in 8 lanes (lane l takes positions
// l, l+8, ...), the lanes added in order, then the positions past the last whole 8; the plane sums
// added in image order, from +0.
template <class Term>
double documented_channel_sum(int64_t B, int64_t C, int64_t S, int64_t c, Term term) {
    double total = 0.0;
    for (int64_t b = 0; b < B; ++b) {
        const int64_t offset = (b * C + c) * S, whole = S / 8 * 8;
        double lanes[8] = {}, plane = 0.0;
        for (int64_t i = 0; i < whole; ++i) lanes[i % 8] += term(offset + i);
        for (const double lane : lanes) plane += lane;
        for (int64_t i = whole; i < S; ++i) plane += term(offset + i);
        total += plane;
    }
    return total;
}

}  // namespace

TEST_CASE("batch_norm (B,C) training: hand-computed output and running statistics") {
    // channel 0: 1 2 3 4 -> mean 2.5, biased var 1.25, unbiased 5/3
    // channel 1: 2 4 6 8 -> mean 5,   biased var 5,    unbiased 20/3
    const Variable x(Tensor::from_vector({4, 2}, {1, 2, 2, 4, 3, 6, 4, 8}));
    const Variable gamma(Tensor::from_vector({2}, {2.0f, 0.5f}));
    const Variable beta(Tensor::from_vector({2}, {1.0f, -1.0f}));
    Tensor running_mean = Tensor::zeros({2});
    Tensor running_var = Tensor::ones({2});
    const Variable y = autograd::batch_norm(x, gamma, beta, running_mean, running_var, true);

    const double eps = 1e-5;
    const std::vector<float> out = y.value().to_vector();
    for (int b = 0; b < 4; ++b) {
        CHECK(out[size_t(2 * b)] == doctest::Approx((b + 1 - 2.5) / std::sqrt(1.25 + eps) * 2.0 + 1.0));
        CHECK(out[size_t(2 * b + 1)] == doctest::Approx((2 * (b + 1) - 5.0) / std::sqrt(5.0 + eps) * 0.5 - 1.0));
    }
    // new = 0.9 * old + 0.1 * batch statistic
    CHECK(running_mean.at({0}) == doctest::Approx(0.25));
    CHECK(running_mean.at({1}) == doctest::Approx(0.5));
    CHECK(running_var.at({0}) == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0));
    CHECK(running_var.at({1}) == doctest::Approx(0.9 + 0.1 * 20.0 / 3.0));

    // a second step compounds: 0.9 * 0.25 + 0.1 * 2.5
    autograd::batch_norm(x, gamma, beta, running_mean, running_var, true);
    CHECK(running_mean.at({0}) == doctest::Approx(0.475));
    CHECK(running_var.at({0}) == doctest::Approx(0.9 * (0.9 + 0.5 / 3.0) + 0.1 * 5.0 / 3.0));
}

TEST_CASE("batch_norm (B,C,H,W) with batch size 1: statistics over H*W, custom momentum") {
    // channel 0: 1 2 3 4; channel 1: 0 0 0 8 -> mean 2, biased var 12, unbiased 16
    const Variable x(Tensor::from_vector({1, 2, 2, 2}, {1, 2, 3, 4, 0, 0, 0, 8}));
    Tensor running_mean = Tensor::zeros({2});
    Tensor running_var = Tensor::ones({2});
    const Variable y = autograd::batch_norm(x, Variable(Tensor::ones({2})), Variable(Tensor::zeros({2})), running_mean,
                                            running_var, true, 0.5f, 1e-5f);
    CHECK(y.value().at({0, 1, 1, 1}) == doctest::Approx(6.0 / std::sqrt(12.0 + 1e-5)));
    CHECK(y.value().at({0, 0, 0, 0}) == doctest::Approx(-1.5 / std::sqrt(1.25 + 1e-5)));
    CHECK(running_mean.at({0}) == doctest::Approx(1.25));
    CHECK(running_mean.at({1}) == doctest::Approx(1.0));
    CHECK(running_var.at({0}) == doctest::Approx(0.5 + 0.5 * 5.0 / 3.0));
    CHECK(running_var.at({1}) == doctest::Approx(0.5 + 0.5 * 16.0));
}

TEST_CASE("batch_norm eval: uses the running statistics and leaves them alone") {
    const Variable x(Tensor::from_vector({2, 2}, {1, 2, 3, 4}));
    const Variable gamma(Tensor::from_vector({2}, {2.0f, 0.5f}));
    const Variable beta(Tensor::from_vector({2}, {1.0f, -1.0f}));
    Tensor running_mean = Tensor::from_vector({2}, {1.0f, -1.0f});
    Tensor running_var = Tensor::from_vector({2}, {4.0f, 0.25f});
    const Variable y = autograd::batch_norm(x, gamma, beta, running_mean, running_var, false);
    const double eps = 1e-5;
    CHECK(y.value().at({0, 0}) == doctest::Approx(1.0));  // (1 - 1) / 2 * 2 + 1
    CHECK(y.value().at({1, 0}) == doctest::Approx((3 - 1) / std::sqrt(4 + eps) * 2 + 1));
    CHECK(y.value().at({0, 1}) == doctest::Approx((2 + 1) / std::sqrt(0.25 + eps) * 0.5 - 1));
    CHECK(y.value().at({1, 1}) == doctest::Approx((4 + 1) / std::sqrt(0.25 + eps) * 0.5 - 1));
    CHECK(running_mean.to_vector() == std::vector<float>{1.0f, -1.0f});
    CHECK(running_var.to_vector() == std::vector<float>{4.0f, 0.25f});

    // batch size 1 is fine in eval (PyTorch too)
    CHECK(autograd::batch_norm(Variable(Tensor::ones({1, 2})), gamma, beta, running_mean, running_var, false)
              .shape() == Shape{1, 2});
}

TEST_CASE("batch_norm training matches a double-precision reference") {
    for (const Shape& shape : {Shape{8, 3, 5, 4}, Shape{16, 5}, Shape{1, 4, 3, 3}}) {
        CAPTURE(core::shape_str(shape));
        const Tensor x = random_tensor(shape, 1, 3.0f, 2.0f);  // a mean far from 0 tests the centring
        const Tensor gamma = random_tensor({shape[1]}, 2);
        const Tensor beta = random_tensor({shape[1]}, 3);
        Tensor running_mean = Tensor::zeros({shape[1]}), running_var = Tensor::ones({shape[1]});
        const Variable y =
            autograd::batch_norm(Variable(x), Variable(gamma), Variable(beta), running_mean, running_var, true);
        CHECK(core::max_abs_diff(y.value(), reference_batch_norm(x, gamma, beta, 1e-5)) < 2e-5f);
    }
}

TEST_CASE("batch_norm gradchecks on x, gamma and beta") {
    struct Case {
        Shape shape;
        bool training;
    };
    const std::vector<Case> cases = {
        {{4, 3}, true}, {{2, 3, 3, 3}, true}, {{1, 2, 3, 3}, true}, {{2, 3, 3, 3}, false}, {{5, 2}, false},
    };
    uint64_t seed = 100;
    for (const Case& c : cases) {
        CAPTURE(core::shape_str(c.shape));
        CAPTURE(c.training);
        const int64_t C = c.shape[1];
        Tensor running_mean = random_tensor({C}, seed++, 0.0f, 0.5f);
        Tensor running_var = core::map(random_tensor({C}, seed++), [](float v) { return 0.5f + v * v; });
        const std::vector<Tensor> inputs{random_tensor(c.shape, seed++), random_tensor({C}, seed++),
                                         random_tensor({C}, seed++)};
        const auto result = autograd::gradcheck(
            [&](const std::vector<Variable>& in) {
                return autograd::batch_norm(in[0], in[1], in[2], running_mean, running_var, c.training);
            },
            inputs);
        CHECK_MESSAGE(result.ok, result.message);
    }
}

TEST_CASE("batch_norm without affine parameters or running statistics") {
    Tensor no_running_mean, no_running_var;
    const Tensor x = random_tensor({3, 2, 2, 2}, 200);
    const Variable y = autograd::batch_norm(Variable(x), Variable(), Variable(), no_running_mean, no_running_var, true);
    CHECK(core::max_abs_diff(y.value(), reference_batch_norm(x, Tensor::ones({2}), Tensor::zeros({2}), 1e-5)) < 2e-5f);
    const auto result = autograd::gradcheck(
        [&](const std::vector<Variable>& in) {
            return autograd::batch_norm(in[0], Variable(), Variable(), no_running_mean, no_running_var, true);
        },
        {x});
    CHECK_MESSAGE(result.ok, result.message);
}

TEST_CASE("batch_norm: gradients only for what requires them; NoGradGuard still updates running stats") {
    const Tensor x = random_tensor({4, 3, 2, 2}, 300);
    const Tensor gamma = random_tensor({3}, 301), beta = random_tensor({3}, 302);
    const Tensor dout = random_tensor({4, 3, 2, 2}, 303);
    Tensor running_mean = Tensor::zeros({3}), running_var = Tensor::ones({3});

    Variable x_all(x, true), gamma_all(gamma, true), beta_all(beta, true);
    autograd::batch_norm(x_all, gamma_all, beta_all, running_mean, running_var, true).backward(dout);
    Variable x_only(x, true), gamma_fixed(gamma), beta_fixed(beta);
    autograd::batch_norm(x_only, gamma_fixed, beta_fixed, running_mean, running_var, true).backward(dout);
    CHECK_FALSE(gamma_fixed.has_grad());
    CHECK_FALSE(beta_fixed.has_grad());
    CHECK(core::equal(x_only.grad(), x_all.grad()));

    Tensor guarded_mean = Tensor::zeros({3}), guarded_var = Tensor::ones({3});
    autograd::NoGradGuard guard;
    const Variable y = autograd::batch_norm(x_all, gamma_all, beta_all, guarded_mean, guarded_var, true);
    CHECK(y.node() == nullptr);
    CHECK_FALSE(core::equal(guarded_mean, Tensor::zeros({3})));
}

TEST_CASE("batch_norm: results do not depend on the thread count") {
    const Tensor x = random_tensor({32, 8, 16, 16}, 400);
    const Tensor dout = random_tensor({32, 8, 16, 16}, 401);
    const Tensor gamma = random_tensor({8}, 402), beta = random_tensor({8}, 403);
    const int threads_before = core::num_threads();
    std::vector<Tensor> results[2];
    for (int run = 0; run < 2; ++run) {
        core::set_num_threads(run + 1);
        Tensor running_mean = Tensor::zeros({8}), running_var = Tensor::ones({8});
        Variable xv(x, true), gv(gamma, true), bv(beta, true);
        Variable y = autograd::batch_norm(xv, gv, bv, running_mean, running_var, true);
        y.backward(dout);
        results[run] = {y.value(), xv.grad(), gv.grad(), bv.grad(), running_mean, running_var};
    }
    core::set_num_threads(threads_before);
    for (size_t i = 0; i < results[0].size(); ++i) {
        CAPTURE(i);
        CHECK(core::equal(results[0][i], results[1][i]));
    }
}

TEST_CASE("batch_norm: invalid arguments throw typed errors") {
    Tensor running_mean = Tensor::zeros({3}), running_var = Tensor::ones({3});
    const Variable gamma(Tensor::ones({3})), beta(Tensor::zeros({3}));
    CHECK_THROWS_AS(autograd::batch_norm(Variable(Tensor::zeros({2, 3, 4})), gamma, beta, running_mean, running_var,
                                         true),
                    core::ShapeError);
    CHECK(message_of([&] {
              autograd::batch_norm(Variable(Tensor::zeros({2, 4})), gamma, beta, running_mean, running_var, true);
          }) == "batch_norm: gamma has shape [3], expected [4] (one per channel)");
    CHECK_THROWS_AS(autograd::batch_norm(Variable(Tensor::zeros({2, 3})), gamma, Variable(Tensor::zeros({2})),
                                         running_mean, running_var, true),
                    core::ShapeError);
    // one value per channel cannot be normalised in training (PyTorch raises too)
    CHECK(message_of([&] {
              autograd::batch_norm(Variable(Tensor::zeros({1, 3})), gamma, beta, running_mean, running_var, true);
          }) == "batch_norm: training needs more than one value per channel, got input shape [1, 3]");
    Tensor none_mean, none_var;
    CHECK_THROWS_AS(autograd::batch_norm(Variable(Tensor::zeros({2, 3})), gamma, beta, none_mean, none_var, false),
                    core::ValueError);
    CHECK_THROWS_AS(autograd::batch_norm(Variable(Tensor::zeros({2, 3})), gamma, beta, running_mean, running_var,
                                         true, 1.5f),
                    core::ValueError);
}

TEST_CASE("batch_norm: the statistics and parameter gradients are sums in the documented order") {
    // Batches that are not a multiple of the planes the kernel sums at once, planes with and
    // without a partial group of 8: the bits must be those of one plane at a time.
    for (const int64_t B : {1, 2, 3, 5, 6, 9}) {
        for (const int64_t S : {1, 7, 8, 13, 64}) {
            CAPTURE(B);
            CAPTURE(S);
            const int64_t C = 3, n = B * C * S;
            const Tensor x = random_tensor({B, C, S}, 500 + uint64_t(B * 100 + S), 2.0f, 3.0f);
            const Tensor dy = random_tensor({B, C, S}, 600 + uint64_t(B * 100 + S));
            const float* xs = x.data();
            const float* dys = dy.data();
            std::vector<float> out(static_cast<size_t>(n)), dx(static_cast<size_t>(n));
            std::vector<float> dgamma(static_cast<size_t>(C)), dbeta(static_cast<size_t>(C));
            std::vector<double> mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
            const core::BatchNormShape shape{B, C, S};
            if (B * S > 1) {
                core::batch_norm_forward(xs, shape, {}, {}, {}, {}, true, 0.1f, 1e-5f, out.data(), mean.data(),
                                         invstd.data());
            } else {
                mean.assign(size_t(C), 0.5);
                invstd.assign(size_t(C), 2.0);
            }
            core::batch_norm_backward(xs, dys, shape, {}, mean.data(), invstd.data(), true, dx.data(),
                                      dgamma.data(), dbeta.data());
            for (int64_t c = 0; c < C; ++c) {
                CAPTURE(c);
                if (B * S > 1) {
                    const double m = documented_channel_sum(B, C, S, c, [&](int64_t i) { return double(xs[i]); }) /
                                     double(B * S);
                    const double squares = documented_channel_sum(B, C, S, c, [&](int64_t i) {
                        const double centred = double(xs[i]) - m;
                        return centred * centred;
                    });
                    CHECK(mean[size_t(c)] == m);
                    CHECK(invstd[size_t(c)] == core::batch_norm_invstd(squares / double(B * S), 1e-5f));
                }
                const double m = mean[size_t(c)];
                const double sum_dy = documented_channel_sum(B, C, S, c, [&](int64_t i) { return double(dys[i]); });
                const double sum_dy_xhat = documented_channel_sum(
                    B, C, S, c, [&](int64_t i) { return double(dys[i]) * (double(xs[i]) - m); });
                CHECK(dbeta[size_t(c)] == static_cast<float>(sum_dy));
                CHECK(dgamma[size_t(c)] == static_cast<float>(sum_dy_xhat * invstd[size_t(c)]));
            }
        }
    }
}

TEST_CASE("batch_norm_relu: the bits of batch_norm, add and relu, their gradients and running statistics") {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    struct Case {
        Shape shape;
        bool training, residual, x_grad, params_grad, residual_grad;
    };
    const std::vector<Case> cases = {
        {{4, 3, 5, 5}, true, true, true, true, true},    {{4, 3, 5, 5}, true, false, true, true, false},
        {{6, 2, 3, 7}, false, true, true, true, true},   {{6, 2, 3, 7}, false, false, true, false, false},
        {{9, 5}, true, true, true, true, false},          {{3, 4, 1, 1}, true, true, false, true, true},
        {{2, 3, 4, 4}, true, true, false, false, true},   {{5, 2, 8, 3}, true, false, false, true, false},
    };
    uint64_t seed = 700;
    for (const Case& c : cases) {
        CAPTURE(core::shape_str(c.shape));
        CAPTURE(c.training);
        CAPTURE(c.residual);
        CAPTURE(c.x_grad);
        const int64_t C = c.shape[1];
        Tensor x = random_tensor(c.shape, seed++);
        const Tensor gamma = random_tensor({C}, seed++), beta = random_tensor({C}, seed++);
        Tensor residual = random_tensor(c.shape, seed++);
        const Tensor dout = random_tensor(c.shape, seed++);
        // Signed zeros, infinities and a NaN in the residual and the output gradient: relu's -0 and
        // NaN cases (a NaN in x would make its whole channel NaN in training).
        residual.data()[0] = -0.0f;
        residual.data()[1] = inf;
        residual.data()[2] = -inf;
        residual.data()[3] = nan;
        Tensor(dout).data()[4] = nan;
        Tensor(dout).data()[5] = -0.0f;
        const Tensor stats_mean = random_tensor({C}, seed++, 0.0f, 0.5f);
        const Tensor stats_var = core::map(random_tensor({C}, seed++), [](float v) { return 0.5f + v * v; });
        std::vector<Tensor> results[2];
        for (int fused = 0; fused < 2; ++fused) {
            Tensor running_mean = stats_mean.clone(), running_var = stats_var.clone();
            Variable xv(x, c.x_grad), gv(gamma, c.params_grad), bv(beta, c.params_grad);
            Variable rv = c.residual ? Variable(residual, c.residual_grad) : Variable();
            Variable y;
            if (fused) {
                y = autograd::batch_norm_relu(xv, gv, bv, running_mean, running_var, c.training, 0.1f, 1e-5f, rv);
            } else {
                y = autograd::batch_norm(xv, gv, bv, running_mean, running_var, c.training);
                if (c.residual) y = autograd::add(y, rv);
                y = autograd::relu(y);
            }
            if (y.requires_grad()) y.backward(dout);
            const auto grad = [](const Variable& v) { return v.defined() && v.has_grad() ? v.grad() : Tensor(); };
            results[fused] = {y.value(), running_mean, running_var, grad(xv), grad(gv), grad(bv), grad(rv)};
        }
        for (size_t i = 0; i < results[0].size(); ++i) {
            CAPTURE(i);
            REQUIRE(results[0][i].defined() == results[1][i].defined());
            if (results[0][i].defined()) CHECK(test::same_bits_any_nan(results[0][i], results[1][i]));
        }
    }
}

TEST_CASE("batch_norm_relu gradchecks on x, gamma, beta and the residual; its residual must have x's shape") {
    uint64_t seed = 800;
    for (const bool training : {true, false}) {
        for (const Shape& shape : {Shape{3, 2, 3, 3}, Shape{5, 3}}) {
            CAPTURE(training);
            CAPTURE(core::shape_str(shape));
            const int64_t C = shape[1];
            Tensor running_mean = random_tensor({C}, seed++, 0.0f, 0.5f);
            Tensor running_var = core::map(random_tensor({C}, seed++), [](float v) { return 0.5f + v * v; });
            const std::vector<Tensor> inputs{random_tensor(shape, seed++), random_tensor({C}, seed++),
                                             random_tensor({C}, seed++), random_tensor(shape, seed++)};
            const auto result = autograd::gradcheck(
                [&](const std::vector<Variable>& in) {
                    return autograd::batch_norm_relu(in[0], in[1], in[2], running_mean, running_var, training, 0.1f,
                                                     1e-5f, in[3]);
                },
                inputs);
            CHECK_MESSAGE(result.ok, result.message);
        }
    }
    Tensor running_mean = Tensor::zeros({2}), running_var = Tensor::ones({2});
    const Variable x(random_tensor({2, 2, 3, 3}, 900)), gamma(Tensor::ones({2})), beta(Tensor::zeros({2}));
    CHECK_THROWS_WITH_AS(autograd::batch_norm_relu(x, gamma, beta, running_mean, running_var, true, 0.1f, 1e-5f,
                                                   Variable(random_tensor({1, 2, 3, 3}, 901))),
                         doctest::Contains("batch_norm_relu: residual has shape [1, 2, 3, 3]"), core::ShapeError);
}
