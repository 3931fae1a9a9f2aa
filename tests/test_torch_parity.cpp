// LeNet-5 against PyTorch (the llm.c way): tests/fixtures/make_lenet_fixture.py built the same
// network in PyTorch, ran a batch of 8 through it and saved the weights, the batch, PyTorch's
// logits, cross-entropy loss and parameter gradients in tests/fixtures/lenet_torch.safetensors.
// Loading those weights into our "lenet5" must reproduce PyTorch's numbers within:
//   logits      max |ours - torch| < 1e-4
//   loss        |ours - torch| / |torch| < 1e-5
//   gradients   every element within 1e-4 absolute or 1e-3 relative
// (float32 on both sides; the differences come from summation order in GEMMs and convolutions).
// PyTorch is not needed to run this test, only to regenerate the fixture.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

#include "autograd/ops.hpp"
#include "core/safetensors.hpp"
#include "layers/layers.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;

namespace {

constexpr float kLogitsAbsTolerance = 1e-4f;
constexpr double kLossRelTolerance = 1e-5;
constexpr float kGradAbsTolerance = 1e-4f;
constexpr float kGradRelTolerance = 1e-3f;

const std::string kFixture = std::string(PROACT_SOURCE_DIR) + "/tests/fixtures/lenet_torch.safetensors";

// The entries of `all` whose names start with `prefix`, with the prefix removed.
std::map<std::string, Tensor> with_prefix(const std::map<std::string, Tensor>& all, const std::string& prefix) {
    std::map<std::string, Tensor> out;
    for (const auto& [name, value] : all)
        if (name.starts_with(prefix)) out[name.substr(prefix.size())] = value;
    return out;
}

}  // namespace

TEST_CASE("LeNet-5 logits, loss and gradients match PyTorch") {
    const core::TensorFile fixture = core::load_safetensors(kFixture);
    const std::map<std::string, Tensor> torch_params = with_prefix(fixture.tensors, "param.");
    const std::map<std::string, Tensor> torch_grads = with_prefix(fixture.tensors, "grad.");
    REQUIRE(torch_params.size() == 10);
    REQUIRE(torch_grads.size() == 10);

    auto model = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
    layers::load_weights(*model, torch_params, kFixture);  // strict: the names and shapes agree with PyTorch's

    const Tensor& images = fixture.tensors.at("input");
    REQUIRE(images.shape() == Shape{8, 1, 28, 28});
    std::vector<int32_t> labels;
    for (float label : fixture.tensors.at("labels").to_vector()) labels.push_back(static_cast<int32_t>(label));

    Variable logits = (*model)(Variable(images));
    const Tensor& torch_logits = fixture.tensors.at("logits");
    REQUIRE(logits.shape() == torch_logits.shape());
    const float logits_diff = core::max_abs_diff(logits.value(), torch_logits);
    MESSAGE("logits: max abs diff " << logits_diff);
    CHECK(logits_diff < kLogitsAbsTolerance);

    Variable loss = autograd::cross_entropy(logits, labels);
    const double torch_loss = fixture.tensors.at("loss").item();
    const double loss_rel = std::abs(double(loss.item()) - torch_loss) / std::abs(torch_loss);
    MESSAGE("loss: ours " << loss.item() << ", torch " << torch_loss << ", relative diff " << loss_rel);
    CHECK(loss_rel < kLossRelTolerance);

    loss.backward();
    float worst_abs = 0.0f, worst_rel = 0.0f;
    for (const auto& [name, parameter] : model->named_parameters()) {
        CAPTURE(name);
        const Tensor& expected = torch_grads.at(name);
        REQUIRE(parameter.has_grad());
        REQUIRE(parameter.grad().shape() == expected.shape());
        const std::vector<float> ours = parameter.grad().to_vector(), theirs = expected.to_vector();
        int64_t outside = 0;
        for (size_t i = 0; i < ours.size(); ++i) {
            const float abs_diff = std::abs(ours[i] - theirs[i]);
            const float rel_diff = abs_diff / std::max(std::abs(theirs[i]), 1e-30f);
            worst_abs = std::max(worst_abs, abs_diff);
            if (abs_diff >= kGradAbsTolerance) worst_rel = std::max(worst_rel, rel_diff);
            outside += abs_diff >= kGradAbsTolerance && rel_diff >= kGradRelTolerance;
        }
        CHECK(outside == 0);
    }
    MESSAGE("gradients: max abs diff " << worst_abs << ", max rel diff among elements above the abs tolerance "
                                       << worst_rel);
}
