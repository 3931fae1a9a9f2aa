// Fault campaigns on clipped models: thresholds are targets (scalars included, unless excluded),
// and the fast paths (stage cache, channel-sparse restarts) give the plain recomputation's bits.
#include <doctest/doctest.h>

#include "faults/campaign.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"
#include "layers/hybrid_clip.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;
using faults_test::per_trial;

namespace {

// tiny_cnn with its ReLUs clipped by `config` at thresholds that cut into the activations.
layers::ModulePtr clipped_tiny_cnn(const char* config) {
    layers::ModulePtr model = faults_test::tiny_cnn(4);
    layers::apply_clip(*model, {1, 8, 8}, layers::HybridClip::parse(config));
    core::Rng rng(9, "thresholds");
    for (auto& [name, p] : model->named_parameters())
        if (name.ends_with(".threshold")) p.value().copy_(core::Tensor::uniform(p.shape(), 0.3f, 1.2f, rng));
    model->eval();
    return model;
}

}  // namespace

TEST_CASE("every threshold of a clipped model is a target unless excluded") {
    layers::ModulePtr model = clipped_tiny_cnn("hybrid:smooth:20");
    std::vector<std::string> thresholds;
    for (const FaultTarget& target : select_targets(*model))
        if (target.name.ends_with("threshold")) thresholds.push_back(target.name);
    CHECK(thresholds == std::vector<std::string>{"features.1.threshold", "features.4.threshold", "classifier.1.threshold"});
    for (const FaultTarget& target : select_targets(*model, {}, false)) CHECK_FALSE(target.name.ends_with("threshold"));
}

TEST_CASE("campaigns on clipped models: fast paths equal the plain recomputation bit for bit") {
    for (const char* config : {"hybrid:smooth:20", "layer:hard", "channel:saturate", "neuron:smooth:20"}) {
        CAPTURE(config);
        layers::ModulePtr model = clipped_tiny_cnn(config);
        faults_test::TinyData data = faults_test::tiny_data(*model, 150, 4);
        CampaignOptions options;
        options.format = StorageFormat::fixed_point(7, 8);
        options.bers = {3e-3, 3e-2};
        options.trials = 12;
        options.seed = 5;
        options.progress = false;
        options.batch_size = 64;
        std::vector<FaultTarget> targets = select_targets(*model);
        quantize_targets(targets, options.format);

        options.stage_cache = false;
        options.reuse_fault_free = false;
        const CampaignResult plain = run_campaign(*model, data.images, data.labels, options);
        options.stage_cache = true;
        options.reuse_fault_free = true;
        options.channel_sparse = false;
        const CampaignResult cached = run_campaign(*model, data.images, data.labels, options);
        options.channel_sparse = true;
        const CampaignResult sparse = run_campaign(*model, data.images, data.labels, options);
        CHECK(per_trial(cached) == per_trial(plain));
        CHECK(per_trial(sparse) == per_trial(plain));
        CHECK(campaign_json(sparse) == campaign_json(plain));

        // One flip per tensor: a conv row and the threshold after it change in the same trial.
        options.fault_model = FaultModelSpec::parse("exact");
        options.exact_counts = {1};
        options.bit_mask = "integer";
        options.stage_cache = false;
        const CampaignResult plain_exact = run_campaign(*model, data.images, data.labels, options);
        options.stage_cache = true;
        CHECK(per_trial(run_campaign(*model, data.images, data.labels, options)) == per_trial(plain_exact));

        options.fault_thresholds = false;
        const CampaignResult weights_only = run_campaign(*model, data.images, data.labels, options);
        for (const std::string& name : weights_only.targets) CHECK_FALSE(name.ends_with("threshold"));
    }
}
