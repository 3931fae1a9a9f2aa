// Faults in activations: the campaign's numbers equal a plain, image-by-image computation that
// applies the documented streams by hand; they depend on neither batch nor thread count; exactly k
// means k bits per image; weights and activations together keep the weight faults of a weights-only
// campaign; results record the site and refuse to be merged or paired across sites.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <tuple>

#include "core/threads.hpp"
#include "faults/activation_faults.hpp"
#include "faults/campaign.hpp"
#include "faults/report.hpp"
#include "faults/paired_comparison.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using faults_test::tiny_cnn;
using faults_test::tiny_data;

namespace {

faults::CampaignOptions activation_options(const std::string& format, double ber) {
    faults::CampaignOptions options;
    options.format = faults::StorageFormat::parse(format);
    options.bers = {ber};
    options.trials = 4;
    options.seed = 11;
    options.site = "activations";
    options.progress = false;
    return options;
}

// Image `image`'s logits with the trial's faults applied by hand at every Conv2d / Linear output,
// layer by layer (no hooks, no cache, batch of one).
std::vector<float> faulted_logits_by_hand(layers::Module& model, const core::Tensor& images, int64_t image,
                                          const faults::CampaignOptions& options, int64_t trial) {
    const faults::FaultModel fault_model = faults::FaultModel::at_rate(
        options.fault_model, options.bers[0], faults::BitMask::parse("all", options.format));
    const faults::FaultStreamKey key{options.seed, options.purpose, options.bers[0]};
    autograd::NoGradGuard no_grad;
    autograd::Variable x(images.slice(image, image + 1).contiguous());
    std::function<void(layers::Module&, const std::string&)> run = [&](layers::Module& module, const std::string& path) {
        if (!module.children().empty() && module.type_name() == "Sequential") {
            for (const auto& [name, child] : module.children()) run(*child, path.empty() ? name : path + "." + name);
            return;
        }
        x = module.forward(x);
        if (module.type_name() != "Conv2d" && module.type_name() != "Linear") return;
        x = autograd::Variable(x.value().clone());
        core::Rng rng = faults::fault_stream(key, trial, "activation " + path).child(static_cast<uint64_t>(image));
        const auto drawn = faults::draw_faults(fault_model, x.numel(), options.format, rng);
        std::vector<faults::BitFault> list(drawn.begin(), drawn.end());
        faults::apply_faults(x.value().span(), list, options.format);
    };
    run(model, "");
    const std::span<const float> logits = x.value().span();
    return {logits.begin(), logits.end()};
}

}  // namespace

TEST_CASE("activation faults: the campaign's counts equal an image-by-image computation by hand") {
    for (const std::string format : {"float32", "q7.8", "bf16", "fp16"}) {
        CAPTURE(format);
        layers::ModulePtr model = tiny_cnn(3);
        const faults_test::TinyData data = tiny_data(*model, 40, 4);
        if (format != "float32") {
            auto targets = faults::select_targets(*model);
            faults::quantize_targets(targets, faults::StorageFormat::parse(format));
        }
        const faults::CampaignOptions options = activation_options(format, 2e-3);
        faults::Campaign campaign(*model, data.images, data.labels, options);
        for (int64_t trial = 0; trial < 3; ++trial) {
            const faults::TrialOutcome outcome = campaign.run_trial(0, trial);
            int64_t correct = 0;
            for (int64_t image = 0; image < data.images.size(0); ++image) {
                const std::vector<float> logits = faulted_logits_by_hand(*model, data.images, image, options, trial);
                const core::Tensor row = core::Tensor::from_vector({1, 5}, logits);
                correct += layers::predict_classes(row)[0] == data.labels[static_cast<size_t>(image)];
            }
            CHECK(outcome.correct == correct);
            CHECK(outcome.faults > 0);
            CHECK(outcome.masked + outcome.sdc + outcome.no_prediction == data.images.size(0));
        }
    }
}

TEST_CASE("activation faults: the same bits for any batch size, thread count and cache setting") {
    layers::ModulePtr model = tiny_cnn(5);
    const faults_test::TinyData data = tiny_data(*model, 50, 6);
    std::vector<std::string> jsons;
    for (const auto& [threads, batch, cache] :
         std::vector<std::tuple<int, int64_t, bool>>{{1, 0, true}, {2, 7, true}, {2, 50, false}, {1, 1, true}}) {
        core::set_num_threads(threads);
        faults::CampaignOptions options = activation_options("float32", 5e-3);
        options.batch_size = batch;
        options.stage_cache = cache;
        jsons.push_back(faults::campaign_json(faults::run_campaign(*model, data.images, data.labels, options)));
    }
    core::set_num_threads(0);
    for (size_t i = 1; i < jsons.size(); ++i) CHECK(jsons[i] == jsons[0]);
    CHECK(jsons[0].find("\"site\": \"activations\"") != std::string::npos);
}

TEST_CASE("activation faults: exactly k bits per image; BER 0 changes nothing") {
    layers::ModulePtr model = tiny_cnn(7);
    const faults_test::TinyData data = tiny_data(*model, 30, 8);
    faults::CampaignOptions exact = activation_options("float32", 0.0);
    exact.fault_model = faults::FaultModelSpec::parse("exact");
    exact.exact_counts = {3};
    faults::Campaign campaign(*model, data.images, data.labels, exact);
    CHECK(campaign.run_trial(0, 0).faults == 3 * 30);
    const faults::CampaignOptions none = activation_options("float32", 0.0);
    faults::Campaign clean(*model, data.images, data.labels, none);
    const faults::TrialOutcome outcome = clean.run_trial(0, 0);
    CHECK(outcome.faults == 0);
    CHECK(outcome.sdc == 0);
    CHECK(outcome.correct == clean.fault_free_correct());
}

TEST_CASE("activation faults: both sites keep the weight faults of a weights-only campaign") {
    layers::ModulePtr model = tiny_cnn(9);
    const faults_test::TinyData data = tiny_data(*model, 30, 10);
    faults::CampaignOptions weights = activation_options("float32", 1e-3);
    weights.site = "weights";
    faults::CampaignOptions both = weights;
    both.site = "both";
    faults::CampaignOptions activations = weights;
    activations.site = "activations";
    std::vector<faults::FaultLogEntry> weight_log, both_log;
    faults::Campaign a(*model, data.images, data.labels, weights);
    faults::Campaign b(*model, data.images, data.labels, both);
    faults::Campaign c(*model, data.images, data.labels, activations);
    for (int64_t trial = 0; trial < 4; ++trial) {
        const int64_t weight_faults = a.run_trial(0, trial, &weight_log).faults;
        const int64_t activation_faults = c.run_trial(0, trial).faults;
        CHECK(b.run_trial(0, trial, &both_log).faults == weight_faults + activation_faults);
    }
    REQUIRE(weight_log.size() == both_log.size());
    for (size_t i = 0; i < weight_log.size(); ++i) {
        CHECK(weight_log[i].parameter == both_log[i].parameter);
        CHECK(weight_log[i].index == both_log[i].index);
        CHECK(weight_log[i].bit == both_log[i].bit);
    }
}

TEST_CASE("activation faults: bad settings are refused by name; results of two sites are not merged or paired") {
    layers::ModulePtr model = tiny_cnn(12);
    const faults_test::TinyData data = tiny_data(*model, 20, 13);
    faults::CampaignOptions options = activation_options("float32", 1e-3);
    options.activation_layers = {"nothing.*"};
    CHECK_THROWS_WITH_AS(faults::Campaign(*model, data.images, data.labels, options),
                         doctest::Contains("pattern 'nothing.*' matches no module"), core::ValueError);
    faults::CampaignOptions int8 = activation_options("float32", 1e-3);
    int8.format = faults::StorageFormat::parse("int8");
    layers::ModulePtr quantised = tiny_cnn(12);
    auto quantised_targets = faults::select_targets(*quantised);
    faults::quantize_targets(quantised_targets, int8.format);
    CHECK_THROWS_WITH_AS(faults::Campaign(*quantised, data.images, data.labels, int8),
                         doctest::Contains("need a stored scale"), core::ValueError);
    options.site = "weights";
    CHECK_THROWS_WITH_AS(faults::validate_options(options), doctest::Contains("activation layers are given"),
                         core::ValueError);
    options.site = "everywhere";
    options.activation_layers.clear();
    CHECK_THROWS_WITH_AS(faults::validate_options(options), doctest::Contains("fault site 'everywhere'"), core::ValueError);
    // Chosen layers: only those asked for, here the classifier's.
    options.site = "activations";
    options.activation_layers = {"classifier.*"};
    const faults::CampaignResult chosen = faults::run_campaign(*model, data.images, data.labels, options);
    CHECK(chosen.activation_layers == "classifier.0,classifier.1,classifier.2");
    const faults::CampaignResult back = faults::campaign_from_json(faults::campaign_json(chosen), "back.json");
    CHECK(back.site == "activations");
    CHECK(back.activation_layers == chosen.activation_layers);
    faults::CampaignOptions weight_options = options;
    weight_options.site = "weights";
    weight_options.activation_layers.clear();
    const faults::CampaignResult weights = faults::run_campaign(*model, data.images, data.labels, weight_options);
    CHECK_THROWS_WITH_AS(faults::compare_paired(weights, chosen), doctest::Contains("fault site"), core::ValueError);
}
