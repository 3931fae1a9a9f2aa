// Inference's fused convolution + ReLU + max pooling against the three ops one after the other, bit
// for bit: core::conv2d_relu_max_pool2d_direct against conv2d_forward_direct, relu_value and
// max_pool2d_forward on every GEMM kernel, at 1 and 2 threads, with NaN, Inf and signed zeros
// in what the pooling sees; autograd::conv2d_relu_max_pool2d with and without a graph; and a
// Sequential's fusion (LeNet-5 in inference) against the same model with a hook that keeps the
// layers apart. Errors are the three layers' own.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "core/conv_channels.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/pool.hpp"
#include "core/rng.hpp"
#include "core/sgemm.hpp"
#include "core/threads.hpp"
#include "layers/activation.hpp"
#include "layers/conv.hpp"
#include "layers/pooling.hpp"
#include "layers/sequential.hpp"
#include "layers/zoo.hpp"
#include "support/tensor_checks.hpp"

using namespace proact;
using autograd::Variable;
using core::Tensor;
using test::same_bits;

namespace {

Tensor random_tensor(const core::Shape& shape, uint64_t index, float lo = -1.0f, float hi = 1.0f) {
    return test::seeded_uniform(shape, 29, "test-fused-conv", index, lo, hi);
}

struct FusedCase {
    const char* name;
    int64_t batch, channels, size, outputs, kernel, padding, pool_kernel, pool_stride, pool_padding;
};

const FusedCase kCases[] = {
    {"LeNet-5 conv1: 1 -> 6, 5x5 pad 2, 28x28, pool 2", 3, 1, 28, 6, 5, 2, 2, 2, 0},
    {"LeNet-5 conv2: 6 -> 16, 5x5, 14x14, pool 2", 3, 6, 14, 16, 5, 0, 2, 2, 0},
    {"odd plane 9x9 (last row and column dropped), 13 outputs", 2, 5, 9, 13, 3, 1, 2, 2, 0},
    {"pool 3 stride 2 padding 1", 2, 4, 12, 10, 3, 1, 3, 2, 1},
    {"AlexNet-like pool 3 stride 2 on 15x15", 2, 3, 15, 8, 3, 1, 3, 2, 0},
};

// The three ops, one after the other, on the whole batch.
Tensor separate(const Tensor& x, const Tensor& weight, const float* bias, const core::Im2colShape& shape, int64_t O,
                const core::PoolShape& pool) {
    Tensor conv = Tensor::empty({shape.batch, O, shape.out_h(), shape.out_w()});
    core::conv2d_forward_direct(x.data(), weight.data(), bias, shape, O, conv.data());
    for (int64_t i = 0; i < conv.numel(); ++i) conv.data()[i] = core::relu_value(conv.data()[i]);
    core::PoolShape batch_pool = pool;
    batch_pool.planes = shape.batch * O;
    Tensor out = Tensor::empty({shape.batch, O, pool.out_h, pool.out_w});
    core::max_pool2d_forward(conv.data(), batch_pool, out.data(), nullptr);
    return out;
}

core::PoolShape pool_of(const FusedCase& c, const core::Im2colShape& shape) {
    core::PoolShape pool{c.outputs,     shape.out_h(), shape.out_w(), c.pool_kernel, c.pool_stride, c.pool_padding,
                         0,             0};
    pool.out_h = (pool.height + 2 * pool.padding - pool.kernel) / pool.stride + 1;
    pool.out_w = (pool.width + 2 * pool.padding - pool.kernel) / pool.stride + 1;
    return pool;
}

}  // namespace

TEST_CASE("the fused convolution, ReLU and max pooling give the three ops' bits on every kernel and thread count") {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const int saved = core::num_threads();
    uint64_t seed = 0;
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        for (const FusedCase& c : kCases) {
            const core::Im2colShape shape{c.batch, c.channels, c.size, c.size, c.kernel, c.kernel, 1, c.padding};
            const core::PoolShape pool = pool_of(c, shape);
            Tensor x = random_tensor({c.batch, c.channels, c.size, c.size}, seed += 3);
            Tensor weight = random_tensor({c.outputs, shape.col_rows()}, seed + 1);
            Tensor bias = random_tensor({c.outputs}, seed + 2);
            for (int variant = 0; variant < 3; ++variant) {
                if (variant == 1) {  // Inf and NaN weights, as flipped exponent bits make them
                    weight.data()[0] = inf;
                    weight.data()[weight.numel() - 1] = nan;
                    if (c.outputs > 1) weight.data()[shape.col_rows() + 1] = -inf;
                }
                if (variant == 2) {  // all-zero weights and a -0 bias: windows of -0 and +0, where order decides
                    for (int64_t i = 0; i < weight.numel(); ++i) weight.data()[i] = (i % 3 == 0) ? -0.0f : 0.0f;
                    for (int64_t i = 0; i < c.outputs; ++i) bias.data()[i] = i % 2 ? -0.0f : 0.0f;
                }
                for (bool with_bias : {false, true}) {
                    INFO(std::string(core::gemm_kernel_name(kernel)), " ", c.name, " variant=", variant,
                         " bias=", with_bias);
                    const float* b = with_bias ? bias.data() : nullptr;
                    const Tensor expected = separate(x, weight, b, shape, c.outputs, pool);
                    for (int threads : {1, 2}) {
                        core::set_num_threads(threads);
                        Tensor fused = Tensor::empty(expected.shape());
                        core::conv2d_relu_max_pool2d_direct(x.data(), weight.data(), b, shape, c.outputs, pool,
                                                            fused.data());
                        core::set_num_threads(saved);
                        CHECK(same_bits(fused, expected));
                    }
                }
            }
        }
    }
    // a pooling that does not match the convolution's output is refused
    const FusedCase& c = kCases[0];
    const core::Im2colShape shape{c.batch, c.channels, c.size, c.size, c.kernel, c.kernel, 1, c.padding};
    core::PoolShape wrong = pool_of(c, shape);
    wrong.planes += 1;
    const Tensor x = random_tensor({c.batch, c.channels, c.size, c.size}, 1);
    const Tensor weight = random_tensor({c.outputs, shape.col_rows()}, 2);
    Tensor out = Tensor::empty({c.batch, c.outputs + 1, wrong.out_h, wrong.out_w});
    CHECK_THROWS_AS(core::conv2d_relu_max_pool2d_direct(x.data(), weight.data(), nullptr, shape, c.outputs, wrong,
                                                        out.data()),
                    core::ShapeError);
}

TEST_CASE("autograd::conv2d_relu_max_pool2d: the three ops' values, and their graph when one is needed") {
    const Tensor x = random_tensor({2, 3, 12, 12}, 11);
    const Tensor w = random_tensor({5, 3, 3, 3}, 12);
    const Tensor b = random_tensor({5}, 13);
    const Variable plain = autograd::max_pool2d(autograd::relu(autograd::conv2d(Variable(x), Variable(w), Variable(b), 1, 1)), 2);
    {
        autograd::NoGradGuard no_grad;
        const Variable fused = autograd::conv2d_relu_max_pool2d(Variable(x), Variable(w), Variable(b), 1, 1, 2);
        CHECK(same_bits(fused.value(), plain.value()));
    }
    // with a graph: the three ops, so the gradient is theirs
    Variable xv(x, /*requires_grad=*/true);
    Variable out = autograd::conv2d_relu_max_pool2d(xv, Variable(w), Variable(b), 1, 1, 2);
    CHECK(same_bits(out.value(), plain.value()));
    autograd::sum(out).backward();
    REQUIRE(xv.grad().defined());
    // the checks are the ops' own
    autograd::NoGradGuard no_grad;
    CHECK_THROWS_AS(autograd::conv2d_relu_max_pool2d(Variable(x), Variable(random_tensor({5, 4, 3, 3}, 14)), Variable(b),
                                                     1, 1, 2),
                    core::ShapeError);
    CHECK_THROWS_AS(autograd::conv2d_relu_max_pool2d(Variable(x), Variable(w), Variable(b), 1, 1, 20), core::ShapeError);
}

TEST_CASE("a Sequential fuses Conv2d, ReLU, MaxPool2d in inference: LeNet-5's bits, hooks still see every layer") {
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        INFO(core::gemm_kernel_name(kernel));
        layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 10, 5);
        model->eval();
        const Tensor images = random_tensor({7, 1, 28, 28}, 21, 0.0f, 1.0f);
        Tensor fused, separate_layers;
        {
            autograd::NoGradGuard no_grad;
            fused = (*model)(Variable(images)).value().contiguous();
        }
        // a hook on each ReLU keeps its layers apart, and sees the ReLU's own output
        int relu_calls = 0;
        layers::ForwardHookScope hooks;
        for (const auto& [name, module] : model->named_modules())
            if (module->type_name() == "ReLU")
                hooks.add(*module, [&relu_calls](layers::Module&, const Variable&, const Variable&) { ++relu_calls; });
        {
            autograd::NoGradGuard no_grad;
            separate_layers = (*model)(Variable(images)).value().contiguous();
        }
        CHECK(relu_calls == 4);  // features' two and the classifier's two
        CHECK(same_bits(fused, separate_layers));
    }
    // the layers' own errors: a plane too small for the pooling after the convolution
    core::Rng rng(3, "test-fused-seq");
    layers::Sequential seq;
    seq.add(std::make_shared<layers::Conv2d>(1, 2, 3, rng));
    seq.add(std::make_shared<layers::ReLU>());
    seq.add(std::make_shared<layers::MaxPool2d>(4));
    autograd::NoGradGuard no_grad;
    const Variable small(random_tensor({1, 1, 5, 5}, 31));  // 3x3 after the convolution, pool 4
    std::string fused_error, plain_error;
    try {
        seq(small);
    } catch (const core::ShapeError& e) {
        fused_error = e.what();
    }
    try {
        seq.at(2)->operator()(seq.at(1)->operator()(seq.at(0)->operator()(small)));
    } catch (const core::ShapeError& e) {
        plain_error = e.what();
    }
    CHECK(!fused_error.empty());
    CHECK(fused_error == plain_error);
}
