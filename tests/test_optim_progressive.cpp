// ProgressiveThresholdOptimizer: one layer's thresholds move, nothing else does, bit for bit —
// with Adam and AdamW momentum and weight decay on the frozen ones.
#include <doctest/doctest.h>

#include <map>

#include "autograd/ops.hpp"
#include "layers/layers.hpp"
#include "optim/optim.hpp"

using namespace proact;
using autograd::Variable;
using core::Tensor;

namespace {

// Linear(6, 8), ReLU, Linear(8, 5), ReLU, Linear(5, 3), hybrid-clipped at thresholds 0.5.
layers::ModulePtr tiny_clipped_mlp() {
    core::Rng rng(3, "init");
    auto model = std::make_shared<layers::Sequential>();
    model->add(std::make_shared<layers::Linear>(6, 8, rng));
    model->add(std::make_shared<layers::ReLU>());
    model->add(std::make_shared<layers::Linear>(8, 5, rng));
    model->add(std::make_shared<layers::ReLU>());
    model->add(std::make_shared<layers::Linear>(5, 3, rng));
    layers::apply_clip(*model, {6}, layers::HybridClip{});
    for (auto& [name, p] : model->named_parameters())
        if (name.ends_with("threshold")) p.value().fill_(0.5f);
    model->eval();
    return model;
}

std::vector<optim::ThresholdLayer> threshold_layers(layers::Module& model) {
    std::vector<optim::ThresholdLayer> layers;
    for (const auto& [name, p] : model.named_parameters())
        if (name.ends_with("threshold")) layers.push_back({name.substr(0, name.rfind('.')), {{name, p}}, 0.05f});
    return layers;
}

std::map<std::string, Tensor> values_of(const layers::Module& model) {
    std::map<std::string, Tensor> values;
    for (const auto& [name, p] : model.named_parameters()) values[name] = p.value().clone();
    return values;
}

void train_steps(layers::Module& model, optim::ProgressiveThresholdOptimizer& progressive, int steps) {
    core::Rng rng(4, "batch");
    const Tensor x = Tensor::uniform({16, 6}, -2.0f, 2.0f, rng);
    const std::vector<int32_t> labels = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0};
    for (int step = 0; step < steps; ++step) {
        progressive.zero_grad();
        autograd::cross_entropy(model(Variable(x)), labels).backward();
        progressive.step();
    }
}

}  // namespace

TEST_CASE("only the active layer's thresholds move; frozen ones keep every bit under Adam and AdamW") {
    for (bool decoupled : {false, true}) {
        CAPTURE(decoupled);
        layers::ModulePtr model = tiny_clipped_mlp();
        std::unique_ptr<optim::Optimizer> base;
        if (decoupled) base = std::make_unique<optim::AdamW>(optim::AdamWOptions{.lr = 0.05f, .weight_decay = 0.3f});
        else base = std::make_unique<optim::Adam>(optim::AdamOptions{.lr = 0.05f, .weight_decay = 0.3f});
        optim::ProgressiveThresholdOptimizer progressive(*model, threshold_layers(*model), std::move(base));
        REQUIRE(progressive.layer_count() == 2);
        for (const auto& [name, p] : model->named_parameters()) CHECK_FALSE(p.requires_grad());

        // Layer 1 (the last, neuron-wise) first: it builds up moments.
        const auto initial = values_of(*model);
        progressive.activate(1);
        train_steps(*model, progressive, 5);
        auto after = values_of(*model);
        for (const auto& [name, value] : initial) {
            CAPTURE(name);
            if (name == "3.threshold") CHECK_FALSE(core::equal(after[name], value));
            else CHECK(core::equal(after[name], value));
        }
        // Then layer 0: layer 1 holds momentum and a decay, and must not move at all.
        progressive.activate(0);
        progressive.set_weight_decay(0.9f);
        const auto before_layer0 = values_of(*model);
        train_steps(*model, progressive, 5);
        after = values_of(*model);
        for (const auto& [name, value] : before_layer0) {
            CAPTURE(name);
            if (name == "1.threshold") CHECK_FALSE(core::equal(after[name], value));
            else CHECK(core::equal(after[name], value));
        }
        for (const auto& [name, p] : model->named_parameters()) CHECK(p.requires_grad() == (name == "1.threshold"));
    }
}

TEST_CASE("snapshot and restore bring a rejected try back exactly; reset forgets the moments") {
    layers::ModulePtr model = tiny_clipped_mlp();
    optim::ProgressiveThresholdOptimizer progressive(*model, threshold_layers(*model),
                                                     std::make_unique<optim::AdamW>(optim::AdamWOptions{.lr = 0.05f}));
    progressive.activate(0);
    const auto initial = values_of(*model);
    const optim::OptimizerSnapshot before = progressive.snapshot();
    train_steps(*model, progressive, 3);
    const Variable threshold = progressive.layer(0).thresholds[0].second;
    CHECK(progressive.optimizer().step_count(threshold) == 3);
    progressive.restore(before);
    for (const auto& [name, value] : values_of(*model)) CHECK(core::equal(value, initial.at(name)));
    CHECK(progressive.optimizer().step_count(threshold) == 0);
    train_steps(*model, progressive, 2);
    progressive.reset_active_state();
    CHECK(progressive.optimizer().step_count(threshold) == 0);
    progressive.set_lr_factor(0.5f);
    CHECK(progressive.optimizer().lr(0) == doctest::Approx(0.025f));
}

TEST_CASE("bad construction and use") {
    layers::ModulePtr model = tiny_clipped_mlp();
    layers::ModulePtr other = tiny_clipped_mlp();
    CHECK_THROWS_AS(optim::ProgressiveThresholdOptimizer(*model, {}, std::make_unique<optim::Adam>()), core::ValueError);
    CHECK_THROWS_AS(optim::ProgressiveThresholdOptimizer(*model, threshold_layers(*other), std::make_unique<optim::Adam>()),
                    core::ValueError);
    optim::ProgressiveThresholdOptimizer progressive(*model, threshold_layers(*model), std::make_unique<optim::Adam>());
    CHECK_THROWS_AS(progressive.set_weight_decay(0.1f), core::ValueError);
    CHECK_THROWS_AS(progressive.activate(2), core::IndexError);
}
