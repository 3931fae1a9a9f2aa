// Inference's fused convolution tail (batch norm, residual add, activation applied to each image's
// convolution output while it is in cache) against the ops one after the other, bit for bit:
// core::conv2d_forward with an epilogue against the core loops on the whole batch, on every GEMM
// kernel, the direct and the GEMM path, at 1 and 2 threads, with Inf, NaN and signed zeros (a
// NaN's sign aside: test::same_bits_any_nan); autograd::conv2d_fused with and without a graph; and
// whole models (ResNet-20 with ReLUs and with every clipping scheme and mode, VGG-11 with batch
// norm, a folded and a range-guarded model) against the same model with a hook on every module,
// which keeps the modules apart. When it fuses and when it must not.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "core/batch_norm.hpp"
#include "core/conv2d.hpp"
#include "core/conv_epilogue.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/sgemm.hpp"
#include "core/threads.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/conv_tail.hpp"
#include "layers/fold_batchnorm.hpp"
#include "layers/hybrid_clip.hpp"
#include "layers/linear.hpp"
#include "layers/range_guard.hpp"
#include "layers/resnet_block.hpp"
#include "layers/sequential.hpp"
#include "layers/zoo.hpp"
#include "support/tensor_checks.hpp"

using namespace proact;
using autograd::Variable;
using core::Tensor;

namespace {

Tensor random_tensor(const core::Shape& shape, uint64_t index, float lo = -1.0f, float hi = 1.0f) {
    return test::seeded_uniform(shape, 41, "test-conv-tail", index, lo, hi);
}

struct ConvCase {
    const char* name;
    int64_t batch, channels, size, outputs, kernel, stride, padding;
};

// Stride 1 with at most 64 outputs runs the direct convolution (on the avx512 and avx2 kernels);
// the others im2col + GEMM, whose epilogue runs per group of images.
const ConvCase kCases[] = {
    {"ResNet-20 stage 1: 16 -> 16, 3x3 pad 1, 12x12", 3, 16, 12, 16, 3, 1, 1},
    {"stride 2, 8 -> 12 (GEMM path)", 3, 8, 11, 12, 3, 2, 1},
    {"80 outputs (GEMM path), 1x1", 2, 6, 7, 80, 1, 1, 0},
    {"odd plane 9x9, 5 outputs", 2, 3, 9, 5, 3, 1, 1},
    {"48 outputs on 8x8: the channels in the vector lanes", 2, 8, 8, 48, 3, 1, 1},
};

struct Tail {
    bool norm, residual;
    core::EpilogueActivation activation;
    core::ClipGranularity granularity;
    core::ClipMode mode;
};

// Every tail: norm x residual x (none, relu, clip in every granularity and mode).
std::vector<Tail> all_tails() {
    std::vector<Tail> tails;
    for (bool norm : {false, true})
        for (bool residual : {false, true}) {
            tails.push_back({norm, residual, core::EpilogueActivation::none, {}, {}});
            tails.push_back({norm, residual, core::EpilogueActivation::relu, {}, {}});
            for (core::ClipGranularity g :
                 {core::ClipGranularity::layer, core::ClipGranularity::channel, core::ClipGranularity::neuron})
                for (core::ClipMode m : {core::ClipMode::hard, core::ClipMode::smooth, core::ClipMode::saturate})
                    tails.push_back({norm, residual, core::EpilogueActivation::clip, g, m});
        }
    return tails;
}

// What the tail's parts read: batch norm statistics, a residual, thresholds.
struct TailData {
    Tensor gamma, beta, mean, var, residual, threshold;
    std::vector<float> scale, shift;
};

TailData tail_data(const Tail& t, const core::Shape& y_shape, uint64_t seed) {
    const int64_t O = y_shape[1], plane = y_shape[2] * y_shape[3];
    TailData d;
    d.gamma = random_tensor({O}, seed, -2.0f, 2.0f);
    d.beta = random_tensor({O}, seed + 1);
    d.mean = random_tensor({O}, seed + 2);
    d.var = random_tensor({O}, seed + 3, 0.01f, 3.0f);
    d.scale.resize(static_cast<size_t>(O));
    d.shift.resize(static_cast<size_t>(O));
    core::batch_norm_eval_affine({d.gamma.data()}, {d.beta.data()}, {d.mean.data()}, {d.var.data()}, O, 1e-5f,
                                 d.scale.data(), d.shift.data());
    d.residual = random_tensor(y_shape, seed + 4);
    const int64_t thresholds = t.granularity == core::ClipGranularity::layer     ? 1
                               : t.granularity == core::ClipGranularity::channel ? O
                                                                                 : O * plane;
    d.threshold = random_tensor({thresholds}, seed + 5, 0.05f, 1.0f);
    return d;
}

core::ConvEpilogue epilogue_of(const Tail& t, const TailData& d) {
    core::ConvEpilogue e;
    if (t.norm) {
        e.scale = d.scale.data();
        e.shift = d.shift.data();
    }
    if (t.residual) e.residual = d.residual.data();
    e.activation = t.activation;
    e.threshold = d.threshold.data();
    e.granularity = t.granularity;
    e.mode = t.mode;
    e.slope = 20.0f;
    return e;
}

// The ops one after the other on the whole batch: the convolution, batch_norm_forward in eval,
// core::binary's add, relu / clip_forward.
Tensor separate(const Tensor& x, const Tensor& weight, const float* bias, const core::Im2colShape& shape, int64_t O,
                const Tail& t, TailData& d) {
    Tensor y = Tensor::empty({shape.batch, O, shape.out_h(), shape.out_w()});
    core::conv2d_forward(x.data(), weight.data(), bias, shape, O, y.data(), nullptr);
    const int64_t plane = shape.out_h() * shape.out_w();
    if (t.norm) {
        Tensor normed = Tensor::empty(y.shape());
        std::vector<double> mean(static_cast<size_t>(O)), invstd(static_cast<size_t>(O));
        core::batch_norm_forward(y.data(), {shape.batch, O, plane}, {d.gamma.data()}, {d.beta.data()},
                                 {d.mean.data()}, {d.var.data()}, /*training=*/false, 0.1f, 1e-5f, normed.data(),
                                 mean.data(), invstd.data());
        y = normed;
    }
    if (t.residual) y = core::binary(y, d.residual, core::BinaryOp::Add, "add");
    if (t.activation == core::EpilogueActivation::relu)
        for (int64_t i = 0; i < y.numel(); ++i) y.data()[i] = core::relu_value(y.data()[i]);
    if (t.activation == core::EpilogueActivation::clip)
        core::clip_forward(y.data(), d.threshold.data(), y.data(), {shape.batch, O, plane, t.granularity}, t.mode,
                           20.0f);
    return y;
}

}  // namespace

TEST_CASE("conv2d_forward's epilogue gives the separate ops' bits: every tail, kernel, path and thread count") {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const int saved = core::num_threads();
    const std::vector<Tail> tails = all_tails();
    uint64_t seed = 0;
    int compared = 0;
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        for (const ConvCase& c : kCases) {
            const core::Im2colShape shape{c.batch, c.channels, c.size, c.size, c.kernel, c.kernel, c.stride, c.padding};
            const core::Shape y_shape{c.batch, c.outputs, shape.out_h(), shape.out_w()};
            Tensor x = random_tensor({c.batch, c.channels, c.size, c.size}, seed += 10);
            Tensor weight = random_tensor({c.outputs, shape.col_rows()}, seed + 1);
            const Tensor bias = random_tensor({c.outputs}, seed + 2);
            // Inf and NaN where flipped exponent bits put them, and values that meet at 0 and -0
            weight.data()[0] = inf;
            weight.data()[weight.numel() - 1] = nan;
            x.data()[1] = -0.0f;
            for (const Tail& t : tails) {
                TailData d = tail_data(t, y_shape, seed + 3);
                d.residual.data()[2] = -inf;
                d.residual.data()[3] = nan;
                const core::ConvEpilogue epilogue = epilogue_of(t, d);
                for (bool with_bias : {false, true}) {
                    INFO(std::string(core::gemm_kernel_name(kernel)), " ", std::string(c.name), " norm=", t.norm, " residual=", t.residual,
                         " activation=", static_cast<int>(t.activation), " granularity=", std::string(core::to_string(t.granularity)),
                         " mode=", std::string(core::to_string(t.mode)), " bias=", with_bias);
                    const float* b = with_bias ? bias.data() : nullptr;
                    const Tensor expected = separate(x, weight, b, shape, c.outputs, t, d);
                    for (int threads : {1, 2}) {
                        core::set_num_threads(threads);
                        Tensor fused = Tensor::empty(y_shape);
                        core::conv2d_forward(x.data(), weight.data(), b, shape, c.outputs, fused.data(), nullptr,
                                             &epilogue);
                        core::set_num_threads(saved);
                        CHECK(test::same_bits_any_nan(fused, expected));
                        ++compared;
                    }
                }
            }
        }
    }
    CHECK(compared >= 4 * static_cast<int>(tails.size()) * 4);
    // an epilogue is for inference: not with the columns training keeps
    const ConvCase& c = kCases[0];
    const core::Im2colShape shape{c.batch, c.channels, c.size, c.size, c.kernel, c.kernel, c.stride, c.padding};
    const Tensor x = random_tensor({c.batch, c.channels, c.size, c.size}, 1);
    const Tensor weight = random_tensor({c.outputs, shape.col_rows()}, 2);
    Tensor out = Tensor::empty({c.batch, c.outputs, shape.out_h(), shape.out_w()});
    std::vector<float> cols(static_cast<size_t>(shape.col_rows() * shape.col_cols()));
    const core::ConvEpilogue relu{nullptr, nullptr, nullptr, core::EpilogueActivation::relu};
    CHECK_THROWS_AS(core::conv2d_forward(x.data(), weight.data(), nullptr, shape, c.outputs, out.data(), cols.data(),
                                         &relu),
                    core::ValueError);
}

TEST_CASE("autograd::conv2d_fused: the separate ops' values, their graph when one is needed, their errors") {
    const Tensor x = random_tensor({2, 3, 10, 10}, 51);
    const Variable w(random_tensor({6, 3, 3, 3}, 52)), b(random_tensor({6}, 53));
    autograd::ConvTail tail;
    tail.batch_norm = true;
    tail.gamma = Variable(random_tensor({6}, 54));
    tail.beta = Variable(random_tensor({6}, 55));
    tail.running_mean = random_tensor({6}, 56);
    tail.running_var = random_tensor({6}, 57, 0.1f, 2.0f);
    tail.residual = Variable(random_tensor({2, 6, 10, 10}, 58));
    tail.activation = autograd::ConvTail::Activation::clip;
    tail.threshold = Variable(random_tensor({6, 10, 10}, 59, 0.1f, 1.0f));
    tail.mode = core::ClipMode::smooth;
    const auto separate = [&](const Variable& input) {
        Tensor mean = tail.running_mean, var = tail.running_var;
        Variable y = autograd::conv2d(input, w, b, 1, 1);
        y = autograd::batch_norm(y, tail.gamma, tail.beta, mean, var, false, tail.momentum, tail.eps);
        return autograd::clip_activation(autograd::add(y, tail.residual), tail.threshold, tail.mode, tail.slope);
    };
    const Variable plain = separate(Variable(x));
    {
        autograd::NoGradGuard no_grad;
        CHECK(test::same_bits(autograd::conv2d_fused(Variable(x), w, b, 1, 1, tail).value(), plain.value()));
    }
    // with a graph: the separate ops, so the gradient is theirs
    Variable xv(x, /*requires_grad=*/true);
    Variable out = autograd::conv2d_fused(xv, w, b, 1, 1, tail);
    CHECK(test::same_bits(out.value(), plain.value()));
    autograd::sum(out).backward();
    REQUIRE(xv.grad().defined());
    Variable xs(x, /*requires_grad=*/true);
    autograd::sum(separate(xs)).backward();
    CHECK(test::same_bits(xv.grad(), xs.grad()));
    // what the fused path does not take runs the separate ops: a residual that broadcasts, ...
    autograd::NoGradGuard no_grad;
    autograd::ConvTail broadcast = tail;
    broadcast.residual = Variable(random_tensor({6, 1, 1}, 60));
    Tensor mean = tail.running_mean, var = tail.running_var;
    const Variable expected = autograd::clip_activation(
        autograd::add(autograd::batch_norm(autograd::conv2d(Variable(x), w, b, 1, 1), tail.gamma, tail.beta, mean, var,
                                           false, tail.momentum, tail.eps),
                      broadcast.residual),
        tail.threshold, tail.mode, tail.slope);
    CHECK(test::same_bits(autograd::conv2d_fused(Variable(x), w, b, 1, 1, broadcast).value(), expected.value()));
    // ... and the ops' own errors for what they refuse
    autograd::ConvTail wrong = tail;
    wrong.residual = Variable(random_tensor({2, 5, 10, 10}, 61));
    CHECK_THROWS_AS(autograd::conv2d_fused(Variable(x), w, b, 1, 1, wrong), core::ShapeError);
    wrong = tail;
    wrong.gamma = Variable(random_tensor({5}, 62));
    CHECK_THROWS_WITH_AS(autograd::conv2d_fused(Variable(x), w, b, 1, 1, wrong), doctest::Contains("gamma"),
                         core::ShapeError);
    wrong = tail;
    wrong.threshold = Variable(random_tensor({4}, 63));
    CHECK_THROWS_AS(autograd::conv2d_fused(Variable(x), w, b, 1, 1, wrong), core::ShapeError);
    wrong = tail;
    wrong.slope = 0.0f;
    CHECK_THROWS_AS(autograd::conv2d_fused(Variable(x), w, b, 1, 1, wrong), core::ValueError);
    CHECK_THROWS_AS(autograd::conv2d_fused(Variable(random_tensor({2, 4, 10, 10}, 64)), w, b, 1, 1, tail),
                    core::ShapeError);
}

namespace {

// Random running statistics, so that every batch norm does something.
void randomise_batch_norms(layers::Module& model, uint64_t seed) {
    for (auto& [name, value] : model.state_dict()) {
        const bool var = name.ends_with("running_var");
        if (!var && !name.ends_with("running_mean")) continue;
        const Tensor values = random_tensor(value.shape(), seed++, var ? 0.2f : -0.3f, var ? 2.0f : 0.3f);
        std::memcpy(value.data(), values.data(), static_cast<size_t>(value.numel()) * sizeof(float));
    }
}

// The model's output under no_grad, fused where it can be, and with a hook on every module (which
// keeps every module apart), at 1 and 2 threads: all four the same bits.
void check_fused_equals_separate(layers::Module& model, const Tensor& images) {
    const int saved = core::num_threads();
    std::vector<Tensor> outputs;
    for (bool hooked : {false, true}) {
        layers::ForwardHookScope hooks;
        int calls = 0;
        if (hooked)
            for (const auto& [name, module] : model.named_modules())
                if (!name.empty())
                    hooks.add(*module, [&calls](layers::Module&, const Variable&, const Variable&) { ++calls; });
        for (int threads : {1, 2}) {
            core::set_num_threads(threads);
            autograd::NoGradGuard no_grad;
            outputs.push_back(model(Variable(images)).value().contiguous());
        }
        core::set_num_threads(saved);
        if (hooked) CHECK(calls > 0);
    }
    for (const Tensor& output : outputs) CHECK(test::same_bits(output, outputs[0]));
}

// One training step's loss, parameter gradients and updated buffers, with batch norm, residual add
// and ReLU as one op where the model allows it (BatchNorm::forward_relu), and with a hook on every
// module (the modules one by one), from the same state: the same bits.
template <class MakeModel>
void check_training_fused_equals_separate(MakeModel make_model, const Tensor& images) {
    const std::vector<int32_t> labels = {1, 7, 3, 0};
    std::vector<std::map<std::string, Tensor>> results;
    for (bool hooked : {false, true}) {
        layers::ModulePtr model = make_model();
        randomise_batch_norms(*model, 600);
        model->train();
        layers::ForwardHookScope hooks;
        if (hooked)
            for (const auto& [path, module] : model->named_modules())
                if (!path.empty()) hooks.add(*module, [](layers::Module&, const Variable&, const Variable&) {});
        Variable loss = autograd::cross_entropy((*model)(Variable(images)), labels);
        loss.backward();
        std::map<std::string, Tensor> result = model->state_dict();  // the updated running statistics
        result["loss"] = loss.value();
        for (const auto& [path, parameter] : model->named_parameters()) result[path + ".grad"] = parameter.grad();
        results.push_back(result);
    }
    REQUIRE(results[0].size() == results[1].size());
    for (const auto& [key, value] : results[0]) {
        CAPTURE(key);
        CHECK(test::same_bits(value, results[1].at(key)));
    }
}

}  // namespace

TEST_CASE("models in training: batch norm, residual add and ReLU as one op give the modules' bits") {
    const Tensor images = random_tensor({4, 3, 32, 32}, 73, 0.0f, 1.0f);
    for (const char* name : {"resnet20", "vgg11_bn"}) {
        CAPTURE(name);
        check_training_fused_equals_separate([name] { return layers::make_model(name, {3, 32, 32}, 10, 11); },
                                             images);
    }
    // an MLP's BatchNorm1d + ReLU
    check_training_fused_equals_separate(
        [] {
            core::Rng rng(12, "test-conv-tail-mlp");
            auto mlp = std::make_shared<layers::Sequential>();
            mlp->add(std::make_shared<layers::Linear>(6, 8, rng));
            mlp->add(std::make_shared<layers::BatchNorm1d>(8));
            mlp->add(std::make_shared<layers::ReLU>());
            mlp->add(std::make_shared<layers::Linear>(8, 10, rng));
            return layers::ModulePtr(mlp);
        },
        random_tensor({4, 6}, 74));
}

TEST_CASE("models in inference: the fused tails give the modules' bits (ResNet-20, clipped, VGG-11 BN, folded, guarded)") {
    const Tensor images = random_tensor({3, 3, 32, 32}, 71, 0.0f, 1.0f);
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        INFO(core::gemm_kernel_name(kernel));
        {
            layers::ModulePtr model = layers::make_model("resnet20", {3, 32, 32}, 10, 7);
            randomise_batch_norms(*model, 100);
            model->eval();
            check_fused_equals_separate(*model, images);
        }
        for (layers::ClipScheme scheme : {layers::ClipScheme::hybrid, layers::ClipScheme::channel,
                                          layers::ClipScheme::neuron})
            for (core::ClipMode mode : {core::ClipMode::hard, core::ClipMode::smooth, core::ClipMode::saturate}) {
                INFO("scheme ", layers::to_string(scheme), " mode ", core::to_string(mode));
                layers::ModulePtr model = layers::make_model("resnet20", {3, 32, 32}, 10, 8);
                randomise_batch_norms(*model, 200);
                uint64_t seed = 300;
                for (const layers::ActivationSite& site : layers::apply_clip(*model, {3, 32, 32}, {scheme, mode, 20.0f})) {
                    Variable& threshold = static_cast<layers::ClippedReLU&>(*site.module).threshold();
                    const Tensor values = random_tensor(threshold.shape(), seed++, 0.1f, 1.5f);
                    std::memcpy(threshold.value().data(), values.data(),
                                static_cast<size_t>(values.numel()) * sizeof(float));
                }
                model->eval();
                check_fused_equals_separate(*model, images);
            }
        {
            layers::ModulePtr model = layers::make_model("vgg11_bn", {3, 32, 32}, 10, 9);
            randomise_batch_norms(*model, 400);
            model->eval();
            check_fused_equals_separate(*model, random_tensor({2, 3, 32, 32}, 72, 0.0f, 1.0f));
        }
        {
            layers::ModulePtr model = layers::make_model("resnet20", {3, 32, 32}, 10, 10);
            randomise_batch_norms(*model, 500);
            model->eval();
            layers::fold_batch_norm(*model);  // an Identity where each batch norm was
            check_fused_equals_separate(*model, images);
            // range-guarded, with a weight past its bounds (a flipped exponent bit): the guard's
            // zero is what the fused convolution computes with too
            layers::apply_range_guard(*model);
            for (auto& [name, value] : model->state_dict())
                if (name == "layer2.1.conv1.weight") value.data()[5] = 3e30f;
            check_fused_equals_separate(*model, images);
        }
    }
}

TEST_CASE("conv_tail fuses only in inference, for plain unobserved modules that take the convolution's output") {
    core::Rng rng(5, "test-conv-tail-modules");
    layers::Conv2d conv(4, 6, 3, rng, 1, 1, false);
    layers::BatchNorm2d bn(6), wrong_bn(5);
    layers::ReLU relu;
    const core::Shape x_shape{2, 4, 8, 8};
    bn.eval();
    wrong_bn.eval();
    {
        autograd::NoGradGuard no_grad;
        CHECK(layers::conv_tail_fuses(conv, &bn, &relu, x_shape));
        CHECK(layers::conv_tail_fuses(conv, nullptr, &relu, x_shape));
        CHECK_FALSE(layers::conv_tail_fuses(conv, &wrong_bn, &relu, x_shape));   // the layers' own error
        CHECK_FALSE(layers::conv_tail_fuses(conv, &bn, &relu, {2, 3, 8, 8}));    // the convolution's own error
        bn.train();
        CHECK_FALSE(layers::conv_tail_fuses(conv, &bn, &relu, x_shape));  // batch statistics, running ones updated
        bn.eval();
        layers::ForwardHookScope hooks;
        hooks.add(relu, [](layers::Module&, const Variable&, const Variable&) {});
        CHECK_FALSE(layers::conv_tail_fuses(conv, &bn, &relu, x_shape));
    }
    CHECK_FALSE(layers::conv_tail_fuses(conv, &bn, &relu, x_shape));  // grad mode: a graph is recorded
    // a neuron-wise ClippedReLU made for another shape is not fused: its own error
    layers::ClippedReLU clip(core::ClipGranularity::neuron, {6, 4, 4}, core::ClipMode::hard);
    autograd::NoGradGuard no_grad;
    CHECK_FALSE(layers::conv_tail_fuses(conv, &bn, &clip, x_shape));
    const Variable x(random_tensor(x_shape, 81));
    CHECK_THROWS_WITH_AS(layers::conv_tail(conv, &bn, Variable(), &clip, x), doctest::Contains("ClippedReLU"),
                         core::ShapeError);
    CHECK_THROWS_WITH_AS(layers::conv_tail(conv, &wrong_bn, Variable(), &relu, x), doctest::Contains("batchnorm2d"),
                         core::ShapeError);
    // a block's input with the wrong channel count: the convolution's error, as without fusion
    layers::BasicBlock block(16, 16, 1, rng);
    block.eval();
    CHECK_THROWS_WITH_AS(block(Variable(random_tensor({1, 8, 8, 8}, 82))), doctest::Contains("conv2d"),
                         core::ShapeError);
}
