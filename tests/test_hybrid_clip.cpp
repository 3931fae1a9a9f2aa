// HybridClip surgery on every zoo model (names, counts, outputs), checkpoints of clipped models
// (round trip, metadata that disagrees with the tensors), bad input.
#include <doctest/doctest.h>

#include <set>

#include "autograd/ops.hpp"
#include "core/safetensors.hpp"
#include "layers/layers.hpp"
#include "support/test_support.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;
using layers::ClipScheme;
using layers::HybridClip;

namespace {

std::set<std::string> parameter_names(const layers::Module& model) {
    std::set<std::string> names;
    for (const auto& [name, p] : model.named_parameters()) names.insert(name);
    return names;
}

int64_t threshold_count(const layers::Module& model) {
    int64_t count = 0;
    for (const auto& [name, p] : model.named_parameters())
        if (name.ends_with(".threshold")) count += p.numel();
    return count;
}

Tensor logits_of(layers::Module& model, const Shape& input_shape) {
    core::Rng rng(5, "hybrid-clip-input");
    Shape shape = input_shape;
    shape.insert(shape.begin(), 3);
    autograd::NoGradGuard no_grad;
    model.eval();
    return model(Variable(Tensor::uniform(shape, 0.0f, 1.0f, rng))).value();
}

HybridClip config_of(ClipScheme scheme, core::ClipMode mode = core::ClipMode::smooth) {
    HybridClip config;
    config.scheme = scheme;
    config.mode = mode;
    return config;
}

}  // namespace

TEST_CASE("surgery on every zoo model keeps every name, adds one threshold per ReLU") {
    for (const std::string& name : layers::model_names()) {
        CAPTURE(name);
        const Shape input_shape = name == "lenet5" ? Shape{1, 28, 28} : Shape{3, 32, 32};
        layers::ModulePtr model = layers::make_model(name, input_shape, 10, 3);
        const std::set<std::string> before = parameter_names(*model);
        const Tensor relu_logits = logits_of(*model, input_shape);
        const auto relus = layers::activation_sites(*model, input_shape);
        const auto clipped = layers::apply_clip(*model, input_shape, HybridClip{});
        REQUIRE(clipped.size() == relus.size());
        std::set<std::string> after = parameter_names(*model);
        for (size_t i = 0; i < clipped.size(); ++i) {
            CHECK(clipped[i].path == relus[i].path);
            CHECK(after.erase(clipped[i].path + ".threshold") == 1);
            const auto& clip = static_cast<const layers::ClippedReLU&>(*clipped[i].module);
            CHECK(clip.granularity() ==
                  (i + 1 == clipped.size() ? core::ClipGranularity::neuron : core::ClipGranularity::layer));
        }
        CHECK(after == before);
        // thresholds start at +inf: the clipped model computes what the ReLU model did
        CHECK(core::equal(logits_of(*model, input_shape), relu_logits));
        CHECK(layers::clip_metadata(*model).at("activation") == "hybrid:smooth:20");
    }
}

TEST_CASE("LeNet-5 on 1x28x28: 87 thresholds hybrid, 6,508 neuron-wise, 4 layer-wise, 218 channel-wise") {
    const std::vector<std::pair<ClipScheme, int64_t>> expected = {
        {ClipScheme::hybrid, 87}, {ClipScheme::neuron, 6508}, {ClipScheme::layer, 4}, {ClipScheme::channel, 6 + 16 + 120 + 84}};
    for (const auto& [scheme, count] : expected) {
        CAPTURE(layers::to_string(scheme));
        layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
        const auto clipped = layers::apply_clip(*model, {1, 28, 28}, config_of(scheme));
        CHECK(clipped.front().path == "features.1");
        CHECK(clipped.back().path == "classifier.3");
        CHECK(threshold_count(*model) == count);
        CHECK(layers::clip_config_of(*model)->scheme == scheme);
    }
}

TEST_CASE("the ResNet-20 hybrid puts the neuron-wise thresholds on the last block's last ReLU") {
    layers::ModulePtr model = layers::make_model("resnet20", {3, 32, 32}, 10, 0);
    const auto clipped = layers::apply_clip(*model, {3, 32, 32}, HybridClip{});
    CHECK(clipped.size() == 19);
    CHECK(clipped.back().path == "layer3.2.relu2");
    CHECK(static_cast<const layers::ClippedReLU&>(*clipped.back().module).threshold().shape() == Shape{64, 8, 8});
}

TEST_CASE("HybridClip configuration strings") {
    CHECK(HybridClip{}.to_string() == "hybrid:smooth:20");
    const HybridClip ranger = HybridClip::parse("neuron:saturate");
    CHECK(ranger.scheme == ClipScheme::neuron);
    CHECK(ranger.mode == core::ClipMode::saturate);
    CHECK(HybridClip::parse("layer:smooth:5").slope == 5.0f);
    CHECK(HybridClip::parse(ranger.to_string()).to_string() == "neuron:saturate");
    for (const char* bad : {"", "hybrid", "hybrid:soft", "kernel:hard", "hybrid:smooth:0", "hybrid:smooth:x",
                            "hybrid:hard:20", "hybrid:smooth:1e9", "a:b:c:d"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(HybridClip::parse(bad), core::ValueError);
    }
}

TEST_CASE("a model without ReLUs cannot be clipped, nor a clipped model again") {
    auto model = std::make_shared<layers::Sequential>();
    core::Rng rng(1, "init");
    model->add(std::make_shared<layers::Linear>(4, 3, rng));
    CHECK(test::contains(test::message_of<core::ValueError>([&] { layers::apply_clip(*model, {4}, HybridClip{}); }),
                         "no ReLU"));
    layers::ModulePtr lenet = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
    layers::apply_clip(*lenet, {1, 28, 28}, HybridClip{});
    CHECK_THROWS_AS(layers::apply_clip(*lenet, {1, 28, 28}, HybridClip{}), core::ValueError);
}

TEST_CASE("a clipped checkpoint loads with its configuration and thresholds, bit for bit") {
    test::TempDir dir("proact-test-hybrid");
    for (const char* text : {"hybrid:smooth:20", "channel:saturate", "neuron:hard", "layer:smooth:7.5"}) {
        CAPTURE(text);
        layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
        layers::apply_clip(*model, {1, 28, 28}, HybridClip::parse(text));
        core::Rng rng(2, "thresholds");
        for (auto& [name, p] : model->named_parameters())
            if (name.ends_with(".threshold")) p.value().copy_(Tensor::uniform(p.shape(), 0.5f, 3.0f, rng));
        const std::string path = dir.file("clipped.safetensors");
        layers::save_checkpoint(path, *model);
        CHECK(layers::load_checkpoint(path).metadata.at("activation") == text);
        layers::ModulePtr again = layers::load_model(path);
        for (const auto& [name, value] : model->state_dict()) CHECK(core::equal(again->state_dict().at(name), value));
        CHECK(core::equal(logits_of(*again, {1, 28, 28}), logits_of(*model, {1, 28, 28})));
    }
}

TEST_CASE("activation metadata that disagrees with the tensors is a FormatError naming the tensor") {
    test::TempDir dir("proact-test-hybrid");
    layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
    layers::apply_clip(*model, {1, 28, 28}, HybridClip{});
    const std::string path = dir.file("hybrid.safetensors");
    layers::save_checkpoint(path, *model);
    const layers::Checkpoint good = layers::load_checkpoint(path);
    const auto write_with = [&](const std::map<std::string, std::string>& changes, const std::string& drop = "") {
        core::TensorFile file{good.tensors, good.metadata};
        for (const auto& [key, value] : changes) {
            if (value.empty()) file.metadata.erase(key);
            else file.metadata[key] = value;
        }
        if (!drop.empty()) file.tensors.erase(drop);
        const std::string bad = dir.file("bad.safetensors");
        core::save_safetensors(bad, file);
        return test::message_of<core::FormatError>([&] { layers::load_model(bad); });
    };
    CHECK(test::contains(write_with({{"activation", "layer:smooth:20"}}), "classifier.3.threshold"));
    CHECK(test::contains(write_with({{"activation", "neuron:smooth:20"}}), "tensor classifier.1.threshold has shape [1]"));
    CHECK(test::contains(write_with({{"activation", ""}}), "tensor classifier.1.threshold"));
    CHECK(test::contains(write_with({{"activation", "hybrid:gentle"}}), "activation"));
    CHECK(test::contains(write_with({}, "features.4.threshold"), "features.4.threshold"));
}
