// Layers: names, counts, initialisation, forward shapes, train/eval behaviour, freezing, hooks,
// replace_child and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <set>

#include "autograd/ops.hpp"
#include "layers/layers.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;
using layers::ModulePtr;

namespace {

Variable random_input(const Shape& shape, uint64_t index = 0) {
    core::Rng rng(7, "test-input", index);
    return Variable(Tensor::normal(shape, 0.0f, 1.0f, rng));
}

std::vector<std::string> parameter_names(const layers::Module& module) {
    std::vector<std::string> names;
    for (const auto& [name, p] : module.named_parameters()) names.push_back(name);
    return names;
}

template <class E, class F>
std::string error_message(F&& f) {
    try {
        f();
    } catch (const E& error) {
        return error.what();
    }
    FAIL("expected an exception");
    return "";
}

// A stand-in for a clipped activation: min(relu(x), 1).
class SaturateAtOne : public layers::Module {
public:
    Variable forward(const Variable& input) override { return autograd::clamp(input, 0.0f, 1.0f); }
    std::string type_name() const override { return "SaturateAtOne"; }
};

}  // namespace

TEST_CASE("Linear: PyTorch layout, default initialisation bounds, forward shape") {
    core::Rng rng(1, "init");
    layers::Linear linear(256, 10, rng);
    CHECK(parameter_names(linear) == std::vector<std::string>{"weight", "bias"});
    CHECK(linear.weight().shape() == Shape{10, 256});
    CHECK(linear.bias().shape() == Shape{10});
    CHECK(linear.parameter_count() == 256 * 10 + 10);
    const float bound = 1.0f / 16.0f;
    float largest = 0.0f;
    for (float v : linear.weight().value().to_vector()) largest = std::max(largest, std::abs(v));
    for (float v : linear.bias().value().to_vector()) largest = std::max(largest, std::abs(v));
    CHECK(largest <= bound);
    CHECK(largest > 0.9f * bound);  // spread over the whole interval, not a smaller one

    Variable out = linear(random_input({3, 256}));
    CHECK(out.shape() == Shape{3, 10});

    core::Rng rng_again(1, "init");
    layers::Linear again(256, 10, rng_again);
    CHECK(core::equal(linear.weight().value(), again.weight().value()));

    core::Rng rng_no_bias(1, "init");
    layers::Linear no_bias(4, 2, rng_no_bias, false);
    CHECK(parameter_names(no_bias) == std::vector<std::string>{"weight"});
    CHECK_FALSE(no_bias.bias().defined());
}

TEST_CASE("Linear: errors name the expected and actual feature counts") {
    core::Rng rng(1, "init");
    layers::Linear linear(256, 10, rng);
    CHECK(error_message<core::ShapeError>([&] { linear(random_input({2, 400})); }) ==
          "linear: input has 400 features, layer expects 256");
    const std::string four_d = error_message<core::ShapeError>([&] { linear(random_input({2, 16, 4, 4})); });
    CHECK(four_d.find("[2, 16, 4, 4]") != std::string::npos);
    CHECK(four_d.find("Flatten") != std::string::npos);
    CHECK_THROWS_AS(layers::Linear(0, 3, rng), core::ValueError);
}

TEST_CASE("Conv2d: OIHW weights, bounds from fan_in, output shapes with stride and padding") {
    core::Rng rng(2, "init");
    layers::Conv2d conv(3, 8, 3, rng, 2, 1);
    CHECK(conv.weight().shape() == Shape{8, 3, 3, 3});
    CHECK(conv.bias().shape() == Shape{8});
    const float bound = 1.0f / std::sqrt(27.0f);
    for (float v : conv.weight().value().to_vector()) CHECK(std::abs(v) <= bound);
    CHECK(conv(random_input({2, 3, 32, 32})).shape() == Shape{2, 8, 16, 16});

    layers::Conv2d lenet_conv(1, 6, 5, rng, 1, 2);
    CHECK(lenet_conv(random_input({2, 1, 28, 28})).shape() == Shape{2, 6, 28, 28});
    layers::Conv2d valid(6, 16, 5, rng);
    CHECK(valid(random_input({1, 6, 14, 14})).shape() == Shape{1, 16, 10, 10});
    layers::Conv2d no_bias(4, 4, 1, rng, 1, 0, false);
    CHECK(parameter_names(no_bias) == std::vector<std::string>{"weight"});

    CHECK(error_message<core::ShapeError>([&] { conv(random_input({2, 1, 32, 32})); }) ==
          "conv2d: input has 1 channels, layer expects 3");
    CHECK_THROWS_AS(conv(random_input({3, 32, 32})), core::ShapeError);
    CHECK_THROWS_AS(valid(random_input({1, 6, 3, 3})), core::ShapeError);
    CHECK_THROWS_AS(layers::Conv2d(3, 8, 3, rng, 0), core::ValueError);
    CHECK(conv.describe() == "Conv2d(3, 8, kernel_size=3, stride=2, padding=1, bias=true)");
}

TEST_CASE("Pooling layers: shapes and values") {
    layers::MaxPool2d max_pool(2);
    layers::AvgPool2d avg_pool(2);
    layers::GlobalAvgPool global_pool;
    const Variable x = random_input({2, 3, 7, 7});
    CHECK(max_pool(x).shape() == Shape{2, 3, 3, 3});
    CHECK(avg_pool(x).shape() == Shape{2, 3, 3, 3});
    CHECK(layers::MaxPool2d(3, 1, 1)(x).shape() == Shape{2, 3, 7, 7});
    CHECK(global_pool(x).shape() == Shape{2, 3});

    const Variable ramp(Tensor::arange(0.0f, 16.0f).reshape({1, 1, 4, 4}));
    CHECK(max_pool(ramp).value().to_vector() == std::vector<float>{5, 7, 13, 15});
    CHECK(avg_pool(ramp).value().to_vector() == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
    CHECK(global_pool(ramp).item() == doctest::Approx(7.5f));

    CHECK_THROWS_AS(max_pool(random_input({2, 3, 1, 1})), core::ShapeError);
    CHECK_THROWS_AS(global_pool(random_input({2, 3})), core::ShapeError);
    CHECK_THROWS_AS(layers::MaxPool2d(0), core::ValueError);
    CHECK(max_pool.parameter_count() == 0);
}

TEST_CASE("BatchNorm: parameters, buffers, training updates running statistics, eval uses them") {
    layers::BatchNorm2d bn(3);
    CHECK(parameter_names(bn) == std::vector<std::string>{"weight", "bias"});
    std::vector<std::string> buffer_names;
    for (const auto& [name, value] : bn.named_buffers()) buffer_names.push_back(name);
    CHECK(buffer_names == std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
    const auto state = bn.state_dict();
    CHECK(state.at("num_batches_tracked").shape() == Shape{});
    CHECK(state.at("running_var").to_vector() == std::vector<float>{1, 1, 1});
    CHECK(state.at("weight").to_vector() == std::vector<float>{1, 1, 1});
    CHECK(state.at("bias").to_vector() == std::vector<float>{0, 0, 0});

    // Shifted input: in training the output is normalised by the batch, so its mean is ~0.
    Variable x = autograd::add(random_input({4, 3, 5, 5}), 3.0f);
    CHECK(bn.is_training());
    Variable y = bn(x);
    CHECK(y.shape() == x.shape());
    CHECK(std::abs(autograd::mean(y).item()) < 1e-5f);
    CHECK(bn.batches_tracked() == 1);
    // PyTorch's update: new = 0.9 * old + 0.1 * batch statistic, with the unbiased batch variance.
    const std::vector<float> values = x.value().to_vector();  // (4, 3, 5, 5)
    double total = 0.0, squares = 0.0;
    for (int64_t b = 0; b < 4; ++b)
        for (int64_t i = 0; i < 25; ++i) total += values[static_cast<size_t>(b * 75 + i)];
    const double batch_mean = total / 100.0;
    for (int64_t b = 0; b < 4; ++b)
        for (int64_t i = 0; i < 25; ++i) {
            const double centred = values[static_cast<size_t>(b * 75 + i)] - batch_mean;
            squares += centred * centred;
        }
    const float running_mean = bn.state_dict().at("running_mean").to_vector()[0];
    const float running_var = bn.state_dict().at("running_var").to_vector()[0];
    CHECK(running_mean == doctest::Approx(0.1 * batch_mean).epsilon(1e-5));
    CHECK(running_var == doctest::Approx(0.9 + 0.1 * squares / 99.0).epsilon(1e-5));

    // Eval: running statistics, no update of them.
    bn.eval();
    const Tensor before = bn.state_dict().at("running_mean").clone();
    Variable z = bn(x);
    CHECK(core::equal(before, bn.state_dict().at("running_mean")));
    CHECK(bn.batches_tracked() == 1);
    CHECK(autograd::mean(z).item() > 1.0f);  // shifted by ~3 - 0.3, not normalised away

    layers::BatchNorm1d bn1d(5);
    CHECK(bn1d(random_input({4, 5})).shape() == Shape{4, 5});
    CHECK(error_message<core::ShapeError>([&] { bn1d(random_input({4, 6})); }) ==
          "batchnorm1d: input has 6 features, layer expects 5");
    CHECK(error_message<core::ShapeError>([&] { bn(random_input({4, 2, 5, 5})); }) ==
          "batchnorm2d: input has 2 channels, layer expects 3");
    CHECK_THROWS_AS(bn(random_input({4, 3})), core::ShapeError);
    CHECK_THROWS_AS(bn1d(random_input({4, 5, 2, 2})), core::ShapeError);
}

TEST_CASE("Dropout: reproducible masks per call, identity in eval") {
    layers::Dropout dropout(0.5f, 99);
    const Variable x(Tensor::ones({1000}));
    const Tensor first = dropout(x).value().clone();
    const Tensor second = dropout(x).value().clone();
    CHECK(dropout.calls() == 2);
    int zeros = 0;
    for (float v : first.to_vector()) {
        CHECK((v == 0.0f || v == 2.0f));
        zeros += v == 0.0f;
    }
    CHECK(zeros > 400);
    CHECK(zeros < 600);
    CHECK_FALSE(core::equal(first, second));  // a new mask each call

    layers::Dropout same_seed(0.5f, 99);
    CHECK(core::equal(same_seed(x).value(), first));
    CHECK(core::equal(same_seed(x).value(), second));
    layers::Dropout resumed(0.5f, 99);
    resumed.set_calls(1);
    CHECK(core::equal(resumed(x).value(), second));
    layers::Dropout other_seed(0.5f, 100);
    CHECK_FALSE(core::equal(other_seed(x).value(), first));

    dropout.eval();
    CHECK(core::equal(dropout(x).value(), x.value()));
    CHECK(dropout.calls() == 2);
    CHECK_THROWS_AS(layers::Dropout(1.0f, 0), core::ValueError);
}

TEST_CASE("ReLU and Flatten") {
    layers::ReLU relu;
    const Variable x(Tensor::from_vector({2, 2}, {-1.0f, 2.0f, 0.0f, -3.0f}));
    CHECK(relu(x).value().to_vector() == std::vector<float>{0, 2, 0, 0});
    // the module is autograd::relu, PyTorch's: NaN passes, infinities saturate only below
    const float inf = std::numeric_limits<float>::infinity();
    const Variable odd(Tensor::from_vector({1, 3}, {std::numeric_limits<float>::quiet_NaN(), -inf, inf}));
    const std::vector<float> out = relu(odd).value().to_vector();
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == 0.0f);
    CHECK(out[2] == inf);
    layers::Flatten flatten;
    CHECK(flatten(random_input({2, 16, 5, 5})).shape() == Shape{2, 400});
    CHECK_THROWS_AS(flatten(random_input({4})), core::ShapeError);
}

TEST_CASE("Identity: the input itself, no parameters, replaces a child in place") {
    layers::Identity identity;
    const Variable x = random_input({2, 3, 4, 4});
    CHECK(core::equal(identity(x).value(), x.value()));
    CHECK(identity.named_parameters().empty());
    CHECK(identity.describe() == "Identity()");
    CHECK(layers::Identity("BatchNorm2d").describe() == "Identity(folded BatchNorm2d)");
    core::Rng rng(2, "init");
    auto net = std::make_shared<layers::Sequential>();
    net->add(std::make_shared<layers::Linear>(3, 3, rng));
    net->add(std::make_shared<layers::BatchNorm1d>(3));
    net->add(std::make_shared<layers::Linear>(3, 2, rng));
    net->replace_child("1", std::make_shared<layers::Identity>());
    CHECK(parameter_names(*net) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
    CHECK((*net)(random_input({4, 3})).shape() == Shape{4, 2});
}

TEST_CASE("add_bias: a zero bias registered after the weight, as a layer built with one has it") {
    core::Rng rng(3, "init");
    layers::Conv2d conv(2, 4, 3, rng, 1, 1, /*bias=*/false);
    conv.freeze("weight");
    conv.add_bias();
    CHECK(parameter_names(conv) == std::vector<std::string>{"weight", "bias"});
    CHECK(core::equal(conv.bias().value(), Tensor::zeros({4})));
    CHECK(!conv.bias().requires_grad());  // trains like the weight
    CHECK(conv.describe() == "Conv2d(2, 4, kernel_size=3, stride=1, padding=1, bias=true)");
    CHECK_THROWS_AS(conv.add_bias(), core::ValueError);
}

TEST_CASE("Sequential: positional and named children, hierarchical parameter names") {
    core::Rng rng(3, "init");
    auto net = std::make_shared<layers::Sequential>();
    auto features = net->add("features", std::make_shared<layers::Sequential>());
    features->add(std::make_shared<layers::Conv2d>(1, 4, 3, rng, 1, 1));
    features->add(std::make_shared<layers::BatchNorm2d>(4));
    features->add(std::make_shared<layers::ReLU>());
    net->add("flatten", std::make_shared<layers::Flatten>());
    auto classifier = net->add("classifier", std::make_shared<layers::Sequential>());
    classifier->add(std::make_shared<layers::Linear>(4 * 6 * 6, 5, rng));

    CHECK(parameter_names(*net) == std::vector<std::string>{"features.0.weight", "features.0.bias",
                                                            "features.1.weight", "features.1.bias",
                                                            "classifier.0.weight", "classifier.0.bias"});
    std::vector<std::string> buffers;
    for (const auto& [name, value] : net->named_buffers()) buffers.push_back(name);
    CHECK(buffers == std::vector<std::string>{"features.1.running_mean", "features.1.running_var",
                                              "features.1.num_batches_tracked"});
    CHECK(net->state_dict().size() == 9);
    CHECK(net->parameter_count() == (4 * 9 + 4) + (4 + 4) + (144 * 5 + 5));
    CHECK(features->size() == 3);
    CHECK(features->at(2)->type_name() == "ReLU");
    CHECK_THROWS_AS(features->at(3), core::IndexError);
    CHECK(net->find("features.1")->type_name() == "BatchNorm2d");
    CHECK(net->find("classifier.0")->type_name() == "Linear");
    CHECK_THROWS_AS(net->find("features.9"), core::ValueError);

    std::vector<std::string> module_names;
    for (const auto& [name, module] : net->named_modules()) module_names.push_back(name);
    CHECK(module_names == std::vector<std::string>{"", "features", "features.0", "features.1", "features.2",
                                                   "flatten", "classifier", "classifier.0"});
    CHECK((*net)(random_input({2, 1, 6, 6})).shape() == Shape{2, 5});
    CHECK(net->summary().find("(classifier): Sequential") != std::string::npos);

    layers::Sequential empty;
    const Variable x = random_input({2, 3});
    CHECK(empty(x).same(x));
    CHECK_THROWS_AS(net->add("flatten", std::make_shared<layers::ReLU>()), core::ValueError);
}

TEST_CASE("Module: train/eval switches BatchNorm and Dropout in every descendant") {
    core::Rng rng(4, "init");
    auto net = std::make_shared<layers::Sequential>();
    net->add(std::make_shared<layers::Linear>(8, 8, rng));
    net->add(std::make_shared<layers::BatchNorm1d>(8));
    net->add(std::make_shared<layers::Dropout>(0.5f, 5));
    auto inner = net->add(std::make_shared<layers::Sequential>());
    inner->add(std::make_shared<layers::Dropout>(0.5f, 6));

    const Variable x = random_input({16, 8});
    net->eval();
    for (auto& [name, module] : net->named_modules()) CHECK_FALSE(module->is_training());
    const Tensor eval_first = (*net)(x).value().clone();
    const Tensor eval_second = (*net)(x).value().clone();
    CHECK(core::equal(eval_first, eval_second));  // no dropout, no batch statistics

    net->train();
    for (auto& [name, module] : net->named_modules()) CHECK(module->is_training());
    const Tensor train_first = (*net)(x).value().clone();
    CHECK_FALSE(core::equal(train_first, eval_first));
    int zeros = 0;
    for (float v : train_first.to_vector()) zeros += v == 0.0f;
    CHECK(zeros > 16 * 8 / 2);  // two dropouts of 0.5: ~3/4 zeroed
}

TEST_CASE("Module: freeze and unfreeze by glob pattern, trainable counts, no-match error") {
    core::Rng rng(5, "init");
    auto net = std::make_shared<layers::Sequential>();
    net->add(std::make_shared<layers::Linear>(4, 3, rng));
    net->add(std::make_shared<layers::ReLU>());
    net->add(std::make_shared<layers::Linear>(3, 2, rng));
    const int64_t total = 4 * 3 + 3 + 3 * 2 + 2;
    CHECK(net->parameter_count() == total);
    CHECK(net->trainable_parameter_count() == total);

    CHECK(net->freeze("*") == 4);
    CHECK(net->trainable_parameter_count() == 0);
    CHECK(net->unfreeze("2.*") == 2);
    CHECK(net->trainable_parameter_count() == 3 * 2 + 2);
    CHECK(net->unfreeze("*.bias") == 2);
    CHECK(net->trainable_parameter_count() == 3 * 2 + 2 + 3);
    CHECK(net->freeze("?.weight") == 2);
    CHECK(net->trainable_parameter_count() == 3 + 2);
    CHECK(net->parameter_count() == total);

    const std::string message = error_message<core::ValueError>([&] { net->freeze("features.*"); });
    CHECK(message.find("freeze: pattern 'features.*' matches no parameter") != std::string::npos);
    CHECK(message.find("0.weight") != std::string::npos);

    // A frozen parameter gets no gradient; the others do.
    net->freeze("*");
    net->unfreeze("2.weight");
    Variable loss = autograd::sum((*net)(random_input({5, 4})));
    loss.backward();
    for (const auto& [name, p] : net->named_parameters()) CHECK(p.has_grad() == (name == "2.weight"));
}

TEST_CASE("Module: forward hooks observe every ReLU's output; removed hooks stop") {
    core::Rng rng(6, "init");
    auto net = std::make_shared<layers::Sequential>();
    net->add(std::make_shared<layers::Linear>(4, 6, rng));
    net->add(std::make_shared<layers::ReLU>());
    net->add(std::make_shared<layers::Linear>(6, 3, rng));
    net->add(std::make_shared<layers::ReLU>());

    std::map<std::string, float> maxima;
    std::vector<std::pair<ModulePtr, int>> hooks;
    for (auto& [name, module] : net->named_modules()) {
        if (module->type_name() != "ReLU") continue;
        const std::string key = name;
        hooks.emplace_back(module, module->add_forward_hook([&maxima, key](layers::Module&, const Variable& input,
                                                                           const Variable& output) {
            CHECK(input.shape() == output.shape());
            float largest = 0.0f;
            for (float v : output.value().to_vector()) largest = std::max(largest, v);
            maxima[key] = std::max(maxima[key], largest);
        }));
    }
    Variable out = (*net)(random_input({8, 4}));
    CHECK(maxima.size() == 2);
    CHECK(maxima.count("1"));
    CHECK(maxima.count("3"));
    float last_max = 0.0f;
    for (float v : out.value().to_vector()) last_max = std::max(last_max, v);
    CHECK(maxima["3"] == last_max);

    for (auto& [module, id] : hooks) module->remove_forward_hook(id);
    maxima.clear();
    (*net)(random_input({8, 4}));
    CHECK(maxima.empty());
}

TEST_CASE("Module: replace_child swaps an activation in place, keeping the mode") {
    core::Rng rng(7, "init");
    auto net = std::make_shared<layers::Sequential>();
    net->add(std::make_shared<layers::Linear>(4, 16, rng));
    net->add(std::make_shared<layers::ReLU>());
    const Variable x = autograd::mul(random_input({8, 4}), 10.0f);

    float before = 0.0f;
    for (float v : (*net)(x).value().to_vector()) before = std::max(before, v);
    CHECK(before > 1.0f);

    net->eval();
    net->replace_child("1", std::make_shared<SaturateAtOne>());
    CHECK(net->at(1)->type_name() == "SaturateAtOne");
    CHECK_FALSE(net->at(1)->is_training());
    float after = 0.0f;
    for (float v : (*net)(x).value().to_vector()) after = std::max(after, v);
    CHECK(after == 1.0f);
    CHECK_THROWS_AS(net->replace_child("7", std::make_shared<layers::ReLU>()), core::ValueError);
    CHECK_THROWS_AS(net->replace_child("1", nullptr), core::ValueError);
}

TEST_CASE("BasicBlock: shapes, option-B shortcut only when needed, replaceable ReLU children") {
    core::Rng rng(8, "init");
    auto same = std::make_shared<layers::BasicBlock>(16, 16, 1, rng);
    CHECK_FALSE(same->has_projection_shortcut());
    CHECK(parameter_names(*same) == std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight",
                                                             "bn2.weight", "bn2.bias"});
    CHECK((*same)(random_input({2, 16, 8, 8})).shape() == Shape{2, 16, 8, 8});
    CHECK(same->parameter_count() == 2 * 16 * 16 * 9 + 4 * 16);

    auto down = std::make_shared<layers::BasicBlock>(16, 32, 2, rng);
    CHECK(down->has_projection_shortcut());
    const auto names = parameter_names(*down);
    CHECK(std::find(names.begin(), names.end(), "shortcut.0.weight") != names.end());
    CHECK(std::find(names.begin(), names.end(), "shortcut.1.bias") != names.end());
    CHECK((*down)(random_input({2, 16, 8, 8})).shape() == Shape{2, 32, 4, 4});
    CHECK((*down)(random_input({2, 16, 7, 7})).shape() == Shape{2, 32, 4, 4});
    CHECK(down->parameter_count() == 16 * 32 * 9 + 32 * 32 * 9 + 4 * 32 + 16 * 32 + 2 * 32);
    CHECK(down->child("relu1")->type_name() == "ReLU");
    CHECK(down->child("relu2")->type_name() == "ReLU");

    // relu2 comes after the sum: saturating it bounds the block's output.
    down->replace_child("relu2", std::make_shared<SaturateAtOne>());
    float largest = 0.0f;
    for (float v : (*down)(autograd::mul(random_input({2, 16, 8, 8}), 5.0f)).value().to_vector())
        largest = std::max(largest, v);
    CHECK(largest <= 1.0f);
}

TEST_CASE("Module: state_dict round trip and shape errors") {
    core::Rng rng(9, "init");
    layers::Linear source(3, 2, rng);
    layers::Linear target(3, 2, rng);
    CHECK_FALSE(core::equal(source.weight().value(), target.weight().value()));
    target.load_state_dict(source.state_dict());
    CHECK(core::equal(source.weight().value(), target.weight().value()));

    layers::Linear wider(4, 2, rng);
    const std::string message = error_message<core::ShapeError>([&] { target.load_state_dict(wider.state_dict()); });
    CHECK(message == "load_state_dict: 'weight' has shape [2, 4], the model expects [2, 3]");
}
