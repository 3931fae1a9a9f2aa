// Ranger and ProAct on tiny synthetic models and data: maxima against a direct computation, the
// model untouched by profiling, ProAct's acceptance logic, frozen weights and statistics,
// cached == recomputed prefix (and how the prefix cache spends its budget), sharded threshold
// gradients against the full batch's, thread-count invariance, bad input.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

#include "autograd/ops.hpp"
#include "core/threads.hpp"
#include "layers/layers.hpp"
#include "proact/method.hpp"
#include "support/test_support.hpp"

using namespace proact;
using autograd::Variable;
using core::Tensor;

namespace {

const method::RunSettings kRun{3, false};

// 1x8x8 -> Conv(1, 4, 3, pad 1), BatchNorm, ReLU, MaxPool(2), Flatten, Linear(64, 8), ReLU, Linear(8, 3).
layers::ModulePtr tiny_cnn() {
    core::Rng rng(7, "init");
    auto model = std::make_shared<layers::Sequential>();
    auto features = model->add("features", std::make_shared<layers::Sequential>());
    features->add(std::make_shared<layers::Conv2d>(1, 4, 3, rng, 1, 1));
    features->add(std::make_shared<layers::BatchNorm2d>(4));
    features->add(std::make_shared<layers::ReLU>());
    features->add(std::make_shared<layers::MaxPool2d>(2));
    model->add("flatten", std::make_shared<layers::Flatten>());
    auto classifier = model->add("classifier", std::make_shared<layers::Sequential>());
    classifier->add(std::make_shared<layers::Linear>(64, 8, rng));
    classifier->add(std::make_shared<layers::ReLU>());
    classifier->add(std::make_shared<layers::Linear>(8, 3, rng));
    model->eval();
    return model;
}

// Noise images labelled by the model itself (so its accuracy is 100%): train 200, validation 100.
// The last layer's bias is shifted first so that the three classes come out about equally often
// (a random net on noise would call nearly everything one class).
struct Task {
    layers::ModulePtr model;
    datasets::Dataset train, validation;
};

datasets::Dataset labelled(layers::Module& model, const Tensor& images) {
    datasets::Dataset data;
    data.set_images(images);
    data.num_classes = 3;
    data.name = "noise";
    data.labels = layers::evaluate(model, images, std::vector<int32_t>(static_cast<size_t>(images.size(0)), 0)).predictions;
    return data;
}

Task tiny_task() {
    Task task{tiny_cnn(), {}, {}};
    core::Rng rng(3, "tiny-proact-data");
    const Tensor train_images = Tensor::normal({200, 1, 8, 8}, 0.0f, 1.0f, rng);
    const Tensor validation_images = Tensor::normal({100, 1, 8, 8}, 0.0f, 1.0f, rng);
    {
        autograd::NoGradGuard no_grad;
        const Tensor logits = (*task.model)(Variable(train_images)).value();
        Tensor bias = task.model->state_dict().at("classifier.2.bias");  // shares the model's storage
        for (int64_t k = 0; k < 3; ++k) {
            double mean = 0.0;
            for (int64_t i = 0; i < 200; ++i) mean += logits.data()[i * 3 + k];
            bias.data()[k] -= static_cast<float>(mean / 200.0);
        }
    }
    task.train = labelled(*task.model, train_images);
    task.validation = labelled(*task.model, validation_images);
    return task;
}

method::ProActOptions quick_options() {
    method::ProActOptions options;
    options.batch_size = 32;
    options.profile_images = 64;
    options.epochs_scalar = 1;
    options.epochs_neuron = 1;
    return options;
}

std::map<std::string, Tensor> state_of(const layers::Module& model) {
    std::map<std::string, Tensor> state;
    for (const auto& [name, value] : model.state_dict()) state[name] = value.clone();
    return state;
}

}  // namespace

TEST_CASE("Ranger maxima equal a direct computation; profiling changes nothing of the model") {
    Task task = tiny_task();
    layers::ModulePtr model = task.model;
    const datasets::Dataset& data = task.train;
    const auto before = state_of(*model);
    model->train();
    const auto profiles = method::profile_activations(*model, {1, 8, 8}, data.images(), 16);
    CHECK(model->is_training());  // mode restored
    model->eval();
    for (const auto& [name, value] : state_of(*model)) CHECK(core::equal(value, before.at(name)));
    REQUIRE(profiles.size() == 2);
    CHECK(profiles[0].path == "features.2");
    CHECK(profiles[1].path == "classifier.1");

    // Direct: the activations of the whole set at once, element by element.
    autograd::NoGradGuard no_grad;
    auto& features = static_cast<layers::Sequential&>(*model->child("features"));
    const Tensor relu1 = (*features.at(2))((*features.at(1))((*features.at(0))(Variable(data.images())))).value();
    for (int64_t j = 0; j < 4 * 8 * 8; ++j) {
        float best = 0.0f;
        for (int64_t b = 0; b < 200; ++b) best = std::max(best, relu1.data()[b * 256 + j]);
        CHECK(profiles[0].neuron_max.data()[j] == best);
    }
    const Tensor channel = profiles[0].channel_max();
    for (int64_t c = 0; c < 4; ++c) {
        float best = 0.0f;
        for (int64_t b = 0; b < 200; ++b)
            for (int64_t s = 0; s < 64; ++s) best = std::max(best, relu1.data()[b * 256 + c * 64 + s]);
        CHECK(channel.data()[c] == best);
    }
    // The same maxima again: no hook of the first pass is left behind to record twice.
    const auto again = method::profile_activations(*model, {1, 8, 8}, data.images(), 50);
    CHECK(core::equal(again[1].neuron_max, profiles[1].neuron_max));
    CHECK(method::ranger_subset(1000, 10, 4) == method::ranger_subset(1000, 10, 4));
    CHECK(method::ranger_subset(1000, 10, 4) != method::ranger_subset(1000, 10, 5));
}

TEST_CASE("Ranger hardening sets each threshold to its maxima") {
    Task task = tiny_task();
    layers::ModulePtr model = task.model;
    const datasets::Dataset& data = task.train;
    const auto profiles = method::profile_activations(*model, {1, 8, 8}, data.images());
    method::ranger_harden(*model, {1, 8, 8}, profiles, layers::HybridClip::parse("channel:saturate"));
    const auto params = model->state_dict();
    CHECK(core::equal(params.at("features.2.threshold"), profiles[0].channel_max().reshape({4, 1, 1})));
    CHECK(core::equal(params.at("classifier.1.threshold"), profiles[1].neuron_max));
    // a profile of another model is refused before any surgery
    layers::ModulePtr other = tiny_cnn();
    auto wrong = profiles;
    std::swap(wrong[0], wrong[1]);
    CHECK_THROWS_AS(method::ranger_harden(*other, {1, 8, 8}, wrong, layers::HybridClip{}), core::ValueError);
    CHECK(layers::activation_sites(*other, {1, 8, 8})[0].module->type_name() == "ReLU");
}

TEST_CASE("ProAct: weights and statistics frozen, thresholds trained, accuracy within the tolerance") {
    Task task = tiny_task();
    layers::ModulePtr model = task.model;
    const datasets::Dataset &train = task.train, &validation = task.validation;
    const auto before = state_of(*model);
    const method::ProActResult result = method::proact_harden(*model, {1, 8, 8}, train, validation, quick_options(), kRun);
    REQUIRE(result.layers.size() == 2);
    CHECK(result.layers[0].path == "classifier.1");  // last first
    CHECK(result.layers[0].granularity == "neuron");
    CHECK(result.layers[1].granularity == "layer");
    CHECK(result.threshold_count == 1 + 8);
    CHECK(result.original_accuracy == 100.0);
    for (int64_t count : datasets::label_histogram(validation)) CHECK(count >= 15);
    // Each layer keeps within the tolerance of the accuracy it started from (the smooth step at the
    // Ranger maxima already halves the largest activations: ranger_accuracy may be below 100).
    for (const method::LayerLog& layer : result.layers) CHECK(layer.accuracy_after >= layer.accuracy_before - 1.5);
    CHECK(result.layers[0].accuracy_before == result.ranger_accuracy);
    CHECK(result.final_accuracy == result.layers.back().accuracy_after);
    for (const auto& [name, value] : state_of(*model)) {
        CAPTURE(name);
        if (!name.ends_with("threshold")) CHECK(core::equal(value, before.at(name)));  // BN buffers too
    }
    // Frozen weights never received a gradient: backward did no work for them.
    for (const auto& [name, p] : model->named_parameters())
        if (!name.ends_with("threshold")) CHECK_FALSE(p.has_grad());
    CHECK(layers::clip_metadata(*model).at("activation") == "hybrid:smooth:20");
    const std::string json = method::proact_json(result, quick_options());
    CHECK(test::contains(json, "\"accepted_decay\""));
    CHECK_FALSE(test::contains(json, "seconds"));
}

TEST_CASE("ProAct: a rejected try is restored exactly; with no accepted try the Ranger values stay") {
    const auto harden = [](const std::vector<float>& decays, double tolerance) {
        Task task = tiny_task();
        layers::ModulePtr model = task.model;
        const datasets::Dataset &train = task.train, &validation = task.validation;
        method::ProActOptions options = quick_options();
        options.decays = decays;
        options.tolerance = tolerance;
        // Against the accuracy before each layer: the Ranger start itself may cost more than the
        // tolerance against the original model, and this test is about restoring, not the floor.
        options.tolerance_reference = method::ToleranceReference::previous_layer;
        options.lr_neuron = 0.01f;
        const method::ProActResult result = method::proact_harden(*model, {1, 8, 8}, train, validation, options, kRun);
        return std::make_pair(result, state_of(*model));
    };
    // A decay of 90 at lr 0.01 multiplies the thresholds by 0.1 each step: accuracy collapses.
    const auto [rejected_then_kept, state_a] = harden({90.0f, 0.0f}, 1.0);
    const auto [kept_only, state_b] = harden({0.0f}, 1.0);
    for (const method::LayerLog& layer : rejected_then_kept.layers) {
        REQUIRE(layer.tries.size() == 2);
        CHECK_FALSE(layer.tries[0].accepted);
        CHECK(layer.tries[1].accepted);
    }
    for (const auto& [name, value] : state_a) CHECK(core::equal(value, state_b.at(name)));

    const auto [none_accepted, state_c] = harden({90.0f}, 0.0);
    Task ranger_task = tiny_task();
    layers::ModulePtr ranger = ranger_task.model;
    const datasets::Dataset& train = ranger_task.train;
    method::ranger_harden(*ranger, {1, 8, 8},
                          method::profile_activations(*ranger, {1, 8, 8},
                                                      train.gather(method::ranger_subset(200, 64, 3))),
                          layers::HybridClip{});
    for (const method::LayerLog& layer : none_accepted.layers) CHECK_FALSE(layer.accepted_decay.has_value());
    for (const auto& [name, value] : ranger->state_dict()) CHECK(core::equal(state_c.at(name), value));
}

TEST_CASE("ProAct: the tolerance is against the original accuracy unless previous-layer is asked for") {
    const auto harden = [](method::ToleranceReference reference) {
        Task task = tiny_task();
        method::ProActOptions options = quick_options();
        options.decays = {2.0f, 0.5f, 0.0f};
        options.tolerance = 3.0;
        options.tolerance_reference = reference;
        return method::proact_harden(*task.model, {1, 8, 8}, task.train, task.validation, options, kRun);
    };
    const method::ProActResult fixed = harden(method::ToleranceReference::original);
    for (const method::LayerLog& layer : fixed.layers) {
        // One floor for every layer, from the unclipped model: the losses cannot add up.
        CHECK(layer.accuracy_floor == doctest::Approx(fixed.original_accuracy - 3.0));
        if (layer.accepted_decay) CHECK(layer.accuracy_after >= fixed.original_accuracy - 3.0);
    }
    const method::ProActResult chained = harden(method::ToleranceReference::previous_layer);
    for (const method::LayerLog& layer : chained.layers)
        CHECK(layer.accuracy_floor == doctest::Approx(layer.accuracy_before - 3.0));
    CHECK(method::parse_tolerance_reference("previous-layer") == method::ToleranceReference::previous_layer);
    CHECK(std::string(method::to_string(method::ToleranceReference::original)) == "original");
    CHECK_THROWS_AS(method::parse_tolerance_reference("previous"), core::ValueError);
}

TEST_CASE("ProAct: recomputed prefix == cached prefix, and the same bytes on 1 and 2 threads") {
    std::vector<std::string> jsons;
    std::vector<std::map<std::string, Tensor>> states;
    for (const auto& [threads, budget] : std::vector<std::pair<int, int64_t>>{{1, 1 << 30}, {2, 1 << 30}, {2, 0}}) {
        core::set_num_threads(threads);
        Task task = tiny_task();
        layers::ModulePtr model = task.model;
        const datasets::Dataset &train = task.train, &validation = task.validation;
        method::ProActOptions options = quick_options();
        options.cache_budget_bytes = budget;
        const auto result = method::proact_harden(*model, {1, 8, 8}, train, validation, options, kRun);
        CHECK(result.layers[1].prefix_cached == (budget > 0));
        jsons.push_back(method::proact_json(result, options));
        states.push_back(state_of(*model));
    }
    core::set_num_threads(0);
    CHECK(jsons[1] == jsons[0]);
    for (size_t run = 1; run < states.size(); ++run)
        for (const auto& [name, value] : states[run]) CHECK(core::equal(value, states[0].at(name)));
}

TEST_CASE("sharded threshold gradients: the full batch's gradient within rounding, the same bytes on 1 and 2 threads") {
    Task task = tiny_task();
    layers::Module& model = *task.model;
    const auto profiles = method::profile_activations(model, {1, 8, 8}, task.train.images());
    const auto sites = method::ranger_harden(model, {1, 8, 8}, profiles, layers::HybridClip::parse("hybrid:smooth:20"));
    model.eval();
    for (auto& [name, p] : model.named_parameters()) p.set_requires_grad(false);
    std::vector<Variable> thresholds;
    for (const auto& site : sites) {
        Variable& threshold = static_cast<layers::ClippedReLU&>(*site.module).threshold();
        threshold.set_requires_grad(true);
        thresholds.push_back(threshold);
    }
    const layers::StageChain chain(model);
    const method::PrefixInputs images{0, true, task.train.images(), task.validation.images()};
    // 37 rows in no order, repeats allowed: shards of 9 or 10 rows.
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < 37; ++i) rows.push_back((i * 53) % 200);
    const auto loss_of = [&](std::span<const int64_t> part, size_t batch_rows, bool with_l2) {
        std::vector<int32_t> labels;
        for (const int64_t row : part) labels.push_back(task.train.labels[static_cast<size_t>(row)]);
        const Variable logits = chain.run(0, chain.size(), Variable(method::batch_input(chain, task.train, images, part)));
        Variable loss = autograd::cross_entropy(logits, labels) *
                        (static_cast<float>(part.size()) / static_cast<float>(batch_rows));
        if (with_l2)
            for (const Variable& threshold : thresholds) loss = loss + autograd::mean(threshold * threshold) * 0.5f;
        return loss;
    };
    // The plain computation: one graph over the whole batch, backward() into .grad.
    for (Variable& threshold : thresholds) threshold.zero_grad();
    const float plain_loss = loss_of(rows, rows.size(), true).item();
    loss_of(rows, rows.size(), true).backward();
    std::vector<Tensor> plain;
    for (const Variable& threshold : thresholds) plain.push_back(threshold.grad().clone());

    std::vector<std::vector<Tensor>> sharded;
    for (const int threads : {1, 2, 1}) {
        core::set_num_threads(threads);
        std::vector<size_t> sizes(4, 0);
        const double loss = method::sharded_threshold_gradients(rows, thresholds, [&](std::span<const int64_t> part, size_t shard) {
            sizes[shard] = part.size();  // each shard its own element
            return loss_of(part, rows.size(), shard == 0);
        });
        CHECK(loss == doctest::Approx(plain_loss).epsilon(1e-5));
        CHECK(sizes == std::vector<size_t>{9, 9, 9, 10});
        sharded.emplace_back();
        for (const Variable& threshold : thresholds) sharded.back().push_back(threshold.grad().clone());
    }
    core::set_num_threads(0);
    for (size_t i = 0; i < thresholds.size(); ++i) {
        CHECK(core::equal(sharded[1][i], sharded[0][i]));  // 2 threads == 1 thread, bit for bit
        CHECK(core::equal(sharded[2][i], sharded[0][i]));
        double scale = 0.0;
        for (const float g : plain[i].span()) scale = std::max(scale, std::abs(double(g)));
        REQUIRE(scale > 0.0);  // the comparison is not vacuous
        for (int64_t k = 0; k < plain[i].numel(); ++k)
            CHECK(std::abs(double(sharded[0][i].data()[k]) - double(plain[i].data()[k])) <= 1e-5 * scale);
    }
}

TEST_CASE("ProAct: interrupted after a layer and resumed from its state gives the thresholds and log of one run") {
    test::TempDir dir("proact-layer-state");
    const method::ProActOptions options = quick_options();
    const auto run = [&](const method::LayerResume& resume, size_t stop_after) {
        Task task = tiny_task();
        size_t layers = 0;
        std::vector<bool> resumed;
        const auto on_layer = [&](const method::LayerLog&, bool from_state) {
            resumed.push_back(from_state);
            if (++layers == stop_after) throw std::runtime_error("interrupted");
        };
        std::string json;
        try {
            json = method::proact_json(
                method::proact_harden(*task.model, {1, 8, 8}, task.train, task.validation, options, kRun, on_layer, resume),
                options);
        } catch (const std::runtime_error&) {
        }
        return std::make_tuple(json, state_of(*task.model), resumed);
    };
    const auto [whole_json, whole_state, whole_resumed] = run({}, 0);
    const method::LayerResume resume{dir.file("state.safetensors"), true, {{"seed", "1"}}};
    const auto [cut_json, cut_state, cut_resumed] = run(resume, 1);  // stops after the first layer
    CHECK(cut_json.empty());
    REQUIRE(std::filesystem::exists(resume.state_path));
    const auto [json, state, resumed] = run(resume, 0);
    CHECK(resumed == std::vector<bool>{true, false});
    CHECK(json == whole_json);
    for (const auto& [name, value] : whole_state) CHECK(core::equal(value, state.at(name)));
    // The state of another run is refused by name; a damaged one as such.
    const method::LayerResume other{resume.state_path, true, {{"seed", "2"}}};
    Task task = tiny_task();
    CHECK_THROWS_WITH_AS(method::proact_harden(*task.model, {1, 8, 8}, task.train, task.validation, options, kRun, {}, other),
                         doctest::Contains("was written by a run with seed 1, this run has 2"), core::ValueError);
    {
        std::ofstream(resume.state_path, std::ios::binary | std::ios::trunc) << "not a state";
    }
    CHECK_THROWS_AS(method::proact_harden(*task.model, {1, 8, 8}, task.train, task.validation, options, kRun, {}, resume),
                    core::FormatError);
}

TEST_CASE("prefix_inputs: later stages first within the budget, stage 0 the images; cached == recomputed") {
    Task task = tiny_task();
    const layers::StageChain chain(*task.model);
    // Stage 2 (features.2, the first ReLU) takes (4, 8, 8) per image, stage 6 (classifier.1) 8.
    REQUIRE(chain.stage_of("features.2") == 2);
    REQUIRE(chain.stage_of("classifier.1") == 6);
    const int64_t images = task.train.size() + task.validation.size();
    const int64_t late = images * 8 * 4, early = images * 4 * 8 * 8 * 4;
    const auto cached_at = [&](int64_t budget) {
        std::map<size_t, bool> cached;
        for (const auto& [stage, prefix] :
             method::prefix_inputs(chain, task.train, task.validation, {6, 0, 2, 6}, budget)) {
            CHECK(prefix.stage == stage);
            cached[stage] = prefix.cached;
        }
        return cached;
    };
    using Cached = std::map<size_t, bool>;
    CHECK(cached_at(0) == Cached{{0, true}, {2, false}, {6, false}});
    CHECK(cached_at(late) == Cached{{0, true}, {2, false}, {6, true}});
    CHECK(cached_at(early) == Cached{{0, true}, {2, false}, {6, true}});  // the later stage took its share
    CHECK(cached_at(early + late) == Cached{{0, true}, {2, true}, {6, true}});

    const auto kept = method::prefix_inputs(chain, task.train, task.validation, {2, 6}, early + late);
    const auto recomputed = method::prefix_inputs(chain, task.train, task.validation, {2, 6}, 0);
    const std::vector<int64_t> rows = {17, 0, 199, 17};
    for (size_t stage : {2, 6}) {
        CHECK(core::equal(method::batch_input(chain, task.train, kept.at(stage), rows),
                          method::batch_input(chain, task.train, recomputed.at(stage), rows)));
        CHECK(method::suffix_accuracy(chain, task.validation, kept.at(stage)) == 100.0);  // its own labels
        CHECK(method::suffix_accuracy(chain, task.validation, recomputed.at(stage)) == 100.0);
    }
}

TEST_CASE("DescendingPrefixCache: each stage's inputs as prefix_inputs has them, the budget spent on the stages to come") {
    Task task = tiny_task();
    const layers::StageChain chain(*task.model);
    const int64_t images = task.train.size() + task.validation.size();
    const int64_t early = images * 4 * 8 * 8 * 4;  // stage 2's inputs; stage 6's take 8 floats an image
    const auto all = method::prefix_inputs(chain, task.train, task.validation, {2, 6}, early * 2);
    // A budget for stage 2 alone: prefix_inputs, spending it on stage 6 first, leaves 2 uncached.
    CHECK_FALSE(method::prefix_inputs(chain, task.train, task.validation, {2, 6}, early).at(2).cached);
    method::DescendingPrefixCache cache(chain, task.train, task.validation, {6, 2, 6, 0}, early);
    for (const size_t stage : {6, 6, 2, 0}) {
        const method::PrefixInputs& prefix = cache.at(stage);
        CHECK(prefix.stage == stage);
        CHECK(prefix.cached);  // stage 2 fits once stage 6 is dropped
        if (stage == 0) continue;
        CHECK(core::equal(prefix.train_inputs, all.at(stage).train_inputs));
        CHECK(core::equal(prefix.validation_inputs, all.at(stage).validation_inputs));
    }
    CHECK_THROWS_WITH_AS(cache.at(2), doctest::Contains("asked for after stage 0"), core::ValueError);
    CHECK_THROWS_AS(cache.at(5), core::ValueError);
}

TEST_CASE("ProAct: bad options and models without ReLUs are refused, the model untouched") {
    Task task = tiny_task();
    layers::ModulePtr model = task.model;
    const datasets::Dataset& train = task.train;
    const auto refuse = [&](auto change) {
        method::ProActOptions options = quick_options();
        change(options);
        CHECK_THROWS_AS(method::proact_harden(*model, {1, 8, 8}, train, train, options, kRun), core::ValueError);
        CHECK(model->named_parameters().size() == 8);  // no threshold added
    };
    refuse([](method::ProActOptions& o) { o.tolerance = -1; });
    refuse([](method::ProActOptions& o) { o.tolerance = 101; });
    refuse([](method::ProActOptions& o) { o.clip.slope = 0; });
    refuse([](method::ProActOptions& o) { o.clip.mode = core::ClipMode::hard; });
    refuse([](method::ProActOptions& o) { o.decays.clear(); });
    refuse([](method::ProActOptions& o) { o.optimizer = "sgd"; });
    refuse([](method::ProActOptions& o) { o.epochs_scalar = 0; });
    auto linear = std::make_shared<layers::Sequential>();
    core::Rng rng(1, "init");
    linear->add(std::make_shared<layers::Flatten>());
    linear->add(std::make_shared<layers::Linear>(64, 3, rng));
    CHECK(test::contains(test::message_of<core::ValueError>([&] {
                             method::proact_harden(*linear, {1, 8, 8}, train, train, quick_options(), kRun);
                         }),
                         "no ReLU"));
}
