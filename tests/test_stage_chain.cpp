// layers::StageChain (a model as a chain of stages) and the two scopes of layers/module.hpp:
// ModeGuard and ForwardHookScope give the model back as it was, however the scope ends.
#include <doctest/doctest.h>

#include <stdexcept>

#include "core/error.hpp"
#include "layers/layers.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;

namespace {

Variable random_input(const Shape& shape) {
    core::Rng rng(11, "test-input");
    return Variable(Tensor::normal(shape, 0.0f, 1.0f, rng));
}

// features: conv, relu, block (one stage: not a plain Sequential), nested Sequential {relu, pool};
// then flatten and linear.  Input (B, 2, 8, 8).
std::shared_ptr<layers::Sequential> chain_model() {
    core::Rng rng(12, "init");
    auto features = std::make_shared<layers::Sequential>();
    features->add("conv", std::make_shared<layers::Conv2d>(2, 4, 3, rng, /*stride=*/1, /*padding=*/1));
    features->add("relu", std::make_shared<layers::ReLU>());
    features->add("block", std::make_shared<layers::BasicBlock>(4, 4, 1, rng));
    auto tail = features->add("tail", std::make_shared<layers::Sequential>());
    tail->add(std::make_shared<layers::ReLU>());
    tail->add(std::make_shared<layers::MaxPool2d>(2));
    auto net = std::make_shared<layers::Sequential>();
    net->add("features", features);
    net->add("flatten", std::make_shared<layers::Flatten>());
    net->add("linear", std::make_shared<layers::Linear>(4 * 4 * 4, 3, rng));
    return net;
}

}  // namespace

TEST_CASE("StageChain: Sequential containers expanded, other modules one stage, paths owned by prefix") {
    auto net = chain_model();
    net->eval();
    const layers::StageChain chain(*net);
    std::vector<std::string> paths;
    for (const layers::Stage& stage : chain.stages()) paths.push_back(stage.path);
    CHECK(paths == std::vector<std::string>{"features.conv", "features.relu", "features.block", "features.tail.0",
                                            "features.tail.1", "flatten", "linear"});
    CHECK(chain.size() == 7);
    CHECK(chain.stages()[2].module == net->find("features.block").get());
    CHECK(chain.stage_of("features.block") == 2);
    CHECK(chain.stage_of("features.block.conv1") == 2);  // inside the block
    CHECK(chain.stage_of("features.tail.1") == 4);
    CHECK(chain.stage_of("linear") == 6);
    CHECK_THROWS_AS(chain.stage_of("features.conv2"), core::ValueError);  // no prefix match by characters
    CHECK_THROWS_AS(chain.stage_of("classifier"), core::ValueError);

    // A model that is no plain Sequential is one stage, which owns every path.
    core::Rng rng(13, "init");
    layers::BasicBlock block(4, 4, 1, rng);
    const layers::StageChain single(block);
    REQUIRE(single.size() == 1);
    CHECK(single.stages()[0].path.empty());
    CHECK(single.stage_of("conv1") == 0);
}

TEST_CASE("StageChain: running the stages is the forward pass; stage inputs match it bit for bit") {
    auto net = chain_model();
    net->eval();
    const layers::StageChain chain(*net);
    autograd::NoGradGuard no_grad;
    const Tensor images = random_input({5, 2, 8, 8}).value();
    const Tensor logits = (*net)(Variable(images)).value();
    CHECK(core::equal(chain.run(0, chain.size(), Variable(images)).value(), logits));

    CHECK(chain.input_shape_of(0, images.slice(0, 1)) == Shape{2, 8, 8});
    CHECK(chain.input_shape_of(5, images.slice(0, 1)) == Shape{4, 4, 4});
    CHECK(chain.input_shape_of(6, images.slice(0, 1)) == Shape{64});

    // In batches of 2 rows (the last one short): the input of stage 2 and of stage 6, and the rest
    // of the model from each gives the logits again.
    const std::vector<Tensor> inputs = chain.stage_inputs({2, 6}, images, 2);
    REQUIRE(inputs.size() == 2);
    CHECK(inputs[0].shape() == Shape{5, 4, 8, 8});
    CHECK(inputs[1].shape() == Shape{5, 64});
    CHECK(core::equal(inputs[0], chain.run(0, 2, Variable(images)).value()));
    CHECK(core::equal(chain.run(2, chain.size(), Variable(inputs[0])).value(), logits));
    CHECK(core::equal(chain.run(6, chain.size(), Variable(inputs[1])).value(), logits));
    CHECK(chain.stage_inputs({}, images, 2).empty());
}

TEST_CASE("ModeGuard and ForwardHookScope: mode back and hooks removed, however the scope ends") {
    auto net = chain_model();
    net->train();
    int calls = 0;
    const auto count_calls = [&calls](layers::Module&, const Variable&, const Variable&) { ++calls; };
    const auto failing_pass = [&] {
        layers::ForwardHookScope hooks;
        hooks.add(*net->find("features.relu"), count_calls);
        hooks.add(*net->find("linear"), count_calls);
        hooks.add(*net->find("features.tail.0"),
                  [](layers::Module&, const Variable&, const Variable&) { throw std::runtime_error("hook failed"); });
        layers::ModeGuard eval_mode(*net, /*training=*/false);
        CHECK_FALSE(net->find("features.block")->is_training());
        (*net)(random_input({2, 2, 8, 8}));
    };
    CHECK_THROWS_AS(failing_pass(), std::runtime_error);
    CHECK(calls == 1);  // the relu's hook ran before the failing one; the linear's never did
    for (auto& [name, module] : net->named_modules()) CHECK(module->is_training());

    (*net)(random_input({2, 2, 8, 8}));  // no hook left: neither counts nor throws
    CHECK(calls == 1);

    {
        layers::ForwardHookScope hooks;
        hooks.add(*net->find("linear"), count_calls);
        (*net)(random_input({2, 2, 8, 8}));
    }
    (*net)(random_input({2, 2, 8, 8}));
    CHECK(calls == 2);
}
