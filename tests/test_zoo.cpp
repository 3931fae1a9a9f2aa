// Model zoo: every model on both input shapes gives [batch, classes] logits and gradients for
// every parameter; parameter counts and names match the PyTorch definitions.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "autograd/ops.hpp"
#include "core/threads.hpp"
#include "layers/layers.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;

namespace {

const Shape kMnistShape = {1, 28, 28};
const Shape kCifarShape = {3, 32, 32};

Variable random_batch(int64_t batch, const Shape& image_shape) {
    core::Rng rng(11, "zoo-input");
    Shape shape = {batch};
    shape.insert(shape.end(), image_shape.begin(), image_shape.end());
    return Variable(Tensor::normal(shape, 0.0f, 1.0f, rng));
}

int count_modules(layers::Module& model, const std::string& type) {
    int count = 0;
    for (auto& [name, module] : model.named_modules()) count += module->type_name() == type;
    return count;
}

bool has_parameter(const layers::Module& model, const std::string& wanted) {
    for (const auto& [name, p] : model.named_parameters())
        if (name == wanted) return true;
    return false;
}

// conv k x k with bias, linear with bias, batch norm: parameter counts.
int64_t conv_params(int64_t in, int64_t out, int64_t kernel) { return in * out * kernel * kernel + out; }
int64_t linear_params(int64_t in, int64_t out) { return in * out + out; }

}  // namespace

TEST_CASE("zoo: names, unknown name error") {
    CHECK(layers::model_names() ==
          std::vector<std::string>{"lenet5", "alexnet", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "resnet20"});
    try {
        layers::make_model("resnet50", kCifarShape, 10, 0);
        FAIL("expected ValueError");
    } catch (const core::ValueError& error) {
        const std::string message = error.what();
        CHECK(message.find("unknown model 'resnet50'") != std::string::npos);
        CHECK(message.find("lenet5, alexnet, vgg11, vgg11_bn, vgg16, vgg16_bn, resnet20") != std::string::npos);
    }
    CHECK_THROWS_AS(layers::make_model("lenet5", {28, 28}, 10, 0), core::ValueError);
    CHECK_THROWS_AS(layers::make_model("lenet5", {1, 0, 28}, 10, 0), core::ValueError);
    CHECK_THROWS_AS(layers::make_model("lenet5", kMnistShape, 0, 0), core::ValueError);
    CHECK_THROWS_AS(layers::make_model("lenet5", {1, 8, 8}, 10, 0), core::ValueError);  // map vanishes
}

TEST_CASE("zoo: every model on 1x28x28 and 3x32x32 gives [2, classes] and gradients for every parameter") {
    for (const std::string& name : layers::model_names()) {
        for (const Shape& input_shape : {kMnistShape, kCifarShape}) {
            CAPTURE(name);
            CAPTURE(core::shape_str(input_shape));
            const int classes = 10;
            layers::ModulePtr model = layers::make_model(name, input_shape, classes, 3);
            CHECK(model->is_training());
            const layers::ModelInfo* info = layers::model_info(*model);
            REQUIRE(info != nullptr);
            CHECK(info->name == name);
            CHECK(info->input_shape == input_shape);

            Variable logits = (*model)(random_batch(2, input_shape));
            REQUIRE(logits.shape() == Shape{2, classes});
            bool logits_finite = true;
            for (float v : logits.value().to_vector()) logits_finite = logits_finite && std::isfinite(v);
            CHECK(logits_finite);
            autograd::cross_entropy(logits, {1, 7}).backward();
            for (const auto& [parameter_name, parameter] : model->named_parameters()) {
                CAPTURE(parameter_name);
                REQUIRE(parameter.has_grad());
                CHECK(parameter.grad().shape() == parameter.shape());
                double magnitude = 0.0;
                for (float g : parameter.grad().to_vector()) magnitude += std::abs(g);
                CHECK(std::isfinite(magnitude));  // a NaN or inf anywhere makes the sum non-finite
                CHECK(magnitude > 0.0);
            }

            // Evaluation mode works with a single image (batch statistics are not needed).
            model->eval();
            autograd::NoGradGuard no_grad;
            CHECK((*model)(random_batch(1, input_shape)).shape() == Shape{1, classes});
        }
    }
}

TEST_CASE("zoo: LeNet-5 matches the PyTorch reference structure") {
    auto model = layers::make_model("lenet5", kMnistShape, 10, 0);
    CHECK(model->parameter_count() == 61706);
    const std::vector<std::pair<std::string, Shape>> expected = {
        {"features.0.weight", {6, 1, 5, 5}},  {"features.0.bias", {6}},      {"features.3.weight", {16, 6, 5, 5}},
        {"features.3.bias", {16}},            {"classifier.0.weight", {120, 400}}, {"classifier.0.bias", {120}},
        {"classifier.2.weight", {84, 120}},   {"classifier.2.bias", {84}},   {"classifier.4.weight", {10, 84}},
        {"classifier.4.bias", {10}}};
    const auto parameters = model->named_parameters();
    REQUIRE(parameters.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        CHECK(parameters[i].first == expected[i].first);
        CHECK(parameters[i].second.shape() == expected[i].second);
    }
    CHECK(model->find("features.1")->type_name() == "ReLU");
    CHECK(model->find("features.2")->type_name() == "MaxPool2d");
    CHECK(model->find("classifier.3")->type_name() == "ReLU");
    CHECK(count_modules(*model, "ReLU") == 4);

    auto cifar = layers::make_model("lenet5", kCifarShape, 10, 0);
    CHECK(cifar->find("classifier.0")->describe() == "Linear(in_features=576, out_features=120, bias=true)");
    CHECK(cifar->parameter_count() == conv_params(3, 6, 5) + conv_params(6, 16, 5) + linear_params(576, 120) +
                                          linear_params(120, 84) + linear_params(84, 10));
}

TEST_CASE("zoo: ResNet-20 with option-B shortcuts") {
    auto model = layers::make_model("resnet20", kCifarShape, 10, 0);
    // 269,722 for the option-A (parameter-free) original, plus the two projection shortcuts:
    // conv1x1 16->32 + bn(32) and conv1x1 32->64 + bn(64) = 512 + 64 + 2048 + 128.
    CHECK(model->parameter_count() == 272474);
    CHECK(model->parameter_count() == 269722 + 512 + 64 + 2048 + 128);
    CHECK(has_parameter(*model, "conv1.weight"));
    CHECK(has_parameter(*model, "layer2.0.shortcut.0.weight"));
    CHECK(has_parameter(*model, "layer3.0.shortcut.1.bias"));
    CHECK_FALSE(has_parameter(*model, "layer1.0.shortcut.0.weight"));
    CHECK(has_parameter(*model, "layer3.2.bn2.weight"));
    CHECK(has_parameter(*model, "linear.bias"));
    CHECK_FALSE(has_parameter(*model, "conv1.bias"));  // convs before batch norm have no bias
    CHECK(count_modules(*model, "ReLU") == 1 + 9 * 2);
    CHECK(count_modules(*model, "BasicBlock") == 9);
    int buffers = 0;
    for (const auto& [name, value] : model->named_buffers()) buffers += name.ends_with("num_batches_tracked");
    CHECK(buffers == 1 + 9 * 2 + 2);
    CHECK(layers::make_model("resnet20", kMnistShape, 10, 0)->parameter_count() == 272474 - 2 * 16 * 9);
}

TEST_CASE("zoo: AlexNet and VGG parameter counts and ReLU counts") {
    auto alexnet = layers::make_model("alexnet", kCifarShape, 10, 0);
    const int64_t alexnet_convs = conv_params(3, 64, 3) + conv_params(64, 192, 3) + conv_params(192, 384, 3) +
                                  conv_params(384, 256, 3) + conv_params(256, 256, 3);
    CHECK(alexnet->parameter_count() ==
          alexnet_convs + linear_params(256 * 2 * 2, 4096) + linear_params(4096, 4096) + linear_params(4096, 10));
    CHECK(alexnet->parameter_count() == 23272266);
    CHECK(count_modules(*alexnet, "ReLU") == 7);
    CHECK(count_modules(*alexnet, "Dropout") == 2);
    CHECK(alexnet->find("classifier.1")->describe() == "Linear(in_features=1024, out_features=4096, bias=true)");
    auto alexnet_mnist = layers::make_model("alexnet", kMnistShape, 10, 0);
    CHECK(alexnet_mnist->find("classifier.1")->describe() == "Linear(in_features=256, out_features=4096, bias=true)");

    auto vgg16 = layers::make_model("vgg16", kCifarShape, 10, 0);
    CHECK(vgg16->parameter_count() == 14714688 + linear_params(512, 512) * 2 + linear_params(512, 10));
    CHECK(count_modules(*vgg16, "ReLU") == 15);
    CHECK(count_modules(*vgg16, "MaxPool2d") == 5);
    auto vgg16_bn = layers::make_model("vgg16_bn", kCifarShape, 10, 0);
    CHECK(vgg16_bn->parameter_count() == vgg16->parameter_count() + 2 * (2 * 64 + 2 * 128 + 3 * 256 + 6 * 512));
    CHECK(count_modules(*vgg16_bn, "BatchNorm2d") == 13);
    CHECK(vgg16_bn->find("features.1")->type_name() == "BatchNorm2d");

    auto vgg11 = layers::make_model("vgg11", kCifarShape, 10, 0);
    CHECK(count_modules(*vgg11, "ReLU") == 10);
    CHECK(count_modules(*vgg11, "Conv2d") == 8);

    // 28x28: the fifth pool would meet a 1x1 map and is left out; parameter names do not change.
    auto vgg11_mnist = layers::make_model("vgg11", kMnistShape, 10, 0);
    CHECK(count_modules(*vgg11_mnist, "MaxPool2d") == 4);
    CHECK(count_modules(*vgg11, "MaxPool2d") == 5);
    std::vector<std::string> names_mnist, names_cifar;
    for (const auto& [name, p] : vgg11_mnist->named_parameters()) names_mnist.push_back(name);
    for (const auto& [name, p] : vgg11->named_parameters()) names_cifar.push_back(name);
    CHECK(names_mnist == names_cifar);
}

TEST_CASE("zoo: same seed gives the same bytes, another seed other weights") {
    for (const std::string name : {"lenet5", "resnet20", "vgg11_bn"}) {
        CAPTURE(name);
        auto first = layers::make_model(name, kCifarShape, 10, 42);
        auto again = layers::make_model(name, kCifarShape, 10, 42);
        auto other = layers::make_model(name, kCifarShape, 10, 43);
        const auto a = first->state_dict(), b = again->state_dict(), c = other->state_dict();
        bool all_equal = true, any_different = false;
        for (const auto& [key, value] : a) {
            all_equal = all_equal && core::equal(value, b.at(key));
            any_different = any_different || !core::equal(value, c.at(key));
        }
        CHECK(all_equal);
        CHECK(any_different);
    }
}

TEST_CASE("zoo: metadata helpers") {
    const layers::ModelInfo info{"vgg11_bn", {3, 32, 32}, 100, 7};
    const auto metadata = layers::model_metadata(info);
    CHECK(metadata.at("model") == "vgg11_bn");
    CHECK(metadata.at("input_shape") == "3,32,32");
    CHECK(metadata.at("num_classes") == "100");
    CHECK(metadata.at("init_seed") == "7");
    const layers::ModelInfo back = layers::model_info_from_metadata(metadata);
    CHECK(back.name == info.name);
    CHECK(back.input_shape == info.input_shape);
    CHECK(back.num_classes == 100);
    CHECK(back.init_seed == 7);

    CHECK(layers::parse_shape("1,28,28") == Shape{1, 28, 28});
    CHECK_THROWS_AS(layers::parse_shape("1,,28"), core::FormatError);
    CHECK_THROWS_AS(layers::parse_shape("1,-2"), core::FormatError);
    CHECK_THROWS_AS(layers::parse_shape("a"), core::FormatError);
    auto without = metadata;
    without.erase("num_classes");
    try {
        layers::model_info_from_metadata(without, "file.safetensors");
        FAIL("expected FormatError");
    } catch (const core::FormatError& error) {
        CHECK(std::string(error.what()) == "file.safetensors: metadata has no 'num_classes' entry (needed to rebuild the model)");
    }
    auto bad_classes = metadata;
    bad_classes["num_classes"] = "ten";
    CHECK_THROWS_AS(layers::model_info_from_metadata(bad_classes), core::FormatError);
    auto two_d = metadata;
    two_d["input_shape"] = "28,28";
    CHECK_THROWS_AS(layers::model_info_from_metadata(two_d), core::FormatError);
    auto no_seed = metadata;
    no_seed.erase("init_seed");
    CHECK(layers::model_info_from_metadata(no_seed).init_seed == 0);

    layers::Sequential plain;
    CHECK(layers::model_info(plain) == nullptr);
}

TEST_CASE("zoo: in inference an image's logits have the same bits in a batch of any size") {
    // Campaigns and evaluate() rely on it: their batch size is a speed choice that must change no
    // number. Batches of 1 to 16 images meet the GEMM's small-M paths (core::GemmSums), 17 and 18
    // its packed kernel; every model on its usual input shape, 2 threads.
    const int threads = core::num_threads();
    core::set_num_threads(2);
    for (const std::string& name : layers::model_names()) {
        const Shape& input_shape = name == "lenet5" ? kMnistShape : kCifarShape;
        CAPTURE(name);
        layers::ModulePtr model = layers::make_model(name, input_shape, 10, 5);
        model->eval();
        autograd::NoGradGuard no_grad;
        const int64_t count = 18;
        const Tensor images = random_batch(count, input_shape).value();
        const Tensor all = (*model)(Variable(images)).value().contiguous();
        for (int64_t batch : {1, 7, 16, 17}) {
            CAPTURE(batch);
            bool same = true;
            for (int64_t start = 0; start + batch <= count && same; start += batch) {
                const Tensor part = (*model)(Variable(images.slice(start, start + batch))).value().contiguous();
                same = std::memcmp(part.data(), all.data() + start * 10, sizeof(float) * size_t(batch) * 10) == 0;
            }
            CHECK(same);
        }
    }
    core::set_num_threads(threads);
}

TEST_CASE("evaluate: the same result at any batch size and thread count, with a hook or without") {
    // Batches run in parallel unless a module has a forward hook; the numbers must not show it.
    layers::ModulePtr model = layers::make_model("lenet5", kMnistShape, 10, 2);
    const int64_t count = 300;
    const Tensor images = random_batch(count, kMnistShape).value();
    std::vector<int32_t> labels(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7) % 10);
    const int threads = core::num_threads();
    core::set_num_threads(1);
    const layers::EvalResult reference = layers::evaluate(*model, images, labels, count);
    CHECK(reference.total == count);
    CHECK(model->is_training());  // evaluate gives the model its mode back
    for (int thread_count : {1, 2, 3}) {
        core::set_num_threads(thread_count);
        for (int64_t batch : {int64_t(1), int64_t(7), int64_t(64), int64_t(1000)}) {
            for (bool hooked : {false, true}) {
                CAPTURE(thread_count);
                CAPTURE(batch);
                CAPTURE(hooked);
                int64_t seen = 0;  // the hook's own state: safe only if batches run one at a time
                layers::ForwardHookScope hooks;
                if (hooked)
                    hooks.add(*model, [&seen](layers::Module&, const Variable& input, const Variable&) {
                        seen += input.size(0);
                    });
                const layers::EvalResult result = layers::evaluate(*model, images, labels, batch);
                CHECK(result.correct == reference.correct);
                CHECK(std::memcmp(&result.loss, &reference.loss, sizeof(double)) == 0);
                CHECK(result.predictions == reference.predictions);
                CHECK(result.confusion == reference.confusion);
                if (hooked) CHECK(seen == count);  // every image once, no probe pass
            }
        }
    }
    core::set_num_threads(threads);
}
