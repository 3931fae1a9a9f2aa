// FitAct: every threshold trains, at once, and nothing else moves (bit for bit); deterministic at
// any thread count.
#include <doctest/doctest.h>

#include <map>

#include "core/threads.hpp"
#include "layers/hybrid_clip.hpp"
#include "proact/method.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using core::Tensor;

namespace {

const method::RunSettings kRun{11, false};

datasets::Dataset tiny_set(layers::Module& model, int64_t count, uint64_t seed) {
    faults_test::TinyData data = faults_test::tiny_data(model, count, seed);
    datasets::Dataset set;
    set.set_images(data.images);
    set.labels = data.labels;
    set.num_classes = 5;
    return set;
}

method::FitActOptions tiny_options() {
    method::FitActOptions options;
    options.epochs = 3;
    options.batch_size = 32;
    options.profile_images = 64;
    options.lr = 0.05f;  // large enough to move every threshold in a few steps
    return options;
}

}  // namespace

TEST_CASE("FitAct trains every threshold and nothing else") {
    layers::ModulePtr model = faults_test::tiny_cnn(5);
    const datasets::Dataset train = tiny_set(*model, 200, 1);
    const datasets::Dataset validation = tiny_set(*model, 60, 2);
    std::map<std::string, Tensor> before;
    for (const auto& [name, value] : model->state_dict()) before[name] = value.clone();
    const method::FitActOptions options = tiny_options();
    // the Ranger initial values, on the same subset
    layers::ModulePtr reference = faults_test::tiny_cnn(5);
    const auto rows = method::ranger_subset(train.size(), options.profile_images, kRun.seed);
    const auto profiles = method::profile_activations(*reference, {1, 8, 8}, train.gather(rows));

    const method::FitActResult result = method::fitact_harden(*model, {1, 8, 8}, train, validation, options, kRun);
    CHECK(result.activation == "neuron:smooth:20");
    CHECK(result.epochs.size() == 3);
    CHECK(result.threshold_count == 4 * 8 * 8 + 6 * 2 * 2 + 16);
    int64_t thresholds = 0;
    size_t layer = 0;
    for (const auto& [name, value] : model->state_dict()) {
        CAPTURE(name);
        if (name.ends_with(".threshold")) {
            ++thresholds;
            CHECK(value.to_vector() != profiles[layer++].neuron_max.to_vector());  // trained
        } else {
            CHECK(value.to_vector() == before.at(name).to_vector());  // bit for bit
        }
    }
    CHECK(thresholds == 3);
    for (const auto& [name, p] : model->named_parameters()) CHECK(p.requires_grad());  // restored
}

TEST_CASE("FitAct: same seed, same bytes on 1 and 2 threads; bad options are ValueErrors before the model changes") {
    std::string json[2];
    std::map<std::string, Tensor> state[2];
    for (int run = 0; run < 2; ++run) {
        core::set_num_threads(run + 1);  // the batches' shards run on 1, then 2 threads
        layers::ModulePtr model = faults_test::tiny_cnn(5);
        const datasets::Dataset train = tiny_set(*model, 120, 1);
        const datasets::Dataset validation = tiny_set(*model, 40, 2);
        json[run] = method::fitact_json(method::fitact_harden(*model, {1, 8, 8}, train, validation, tiny_options(), kRun),
                                        tiny_options());
        for (const auto& [name, value] : model->state_dict()) state[run][name] = value.clone();
    }
    core::set_num_threads(0);
    CHECK(json[0] == json[1]);
    for (const auto& [name, value] : state[0]) CHECK(core::equal(value, state[1].at(name)));

    layers::ModulePtr model = faults_test::tiny_cnn(5);
    const datasets::Dataset train = tiny_set(*model, 50, 1);
    method::FitActOptions options = tiny_options();
    options.epochs = 0;
    CHECK_THROWS_AS(method::fitact_harden(*model, {1, 8, 8}, train, train, options, kRun), core::ValueError);
    options = tiny_options();
    options.clip = layers::HybridClip::parse("neuron:hard");
    CHECK_THROWS_AS(method::fitact_harden(*model, {1, 8, 8}, train, train, options, kRun), core::ValueError);
    CHECK_FALSE(layers::clip_config_of(*model).has_value());
}
