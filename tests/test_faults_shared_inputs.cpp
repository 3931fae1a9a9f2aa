// Campaigns sharing their trials' faulty stage inputs (faults::TrialInputCache, FtClipAct's
// candidates): every number is that of a campaign on its own, the kept inputs are really used, and
// a prefix that changed, an empty budget or activation faults never get a kept input. FtClipAct's
// search with and without it: test_ftclipact.cpp.
#include <doctest/doctest.h>

#include "faults/campaign.hpp"
#include "faults/report.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;
using faults_test::per_trial;
using faults_test::per_trial_outcomes;

namespace {

CampaignOptions options_for(const char* format) {
    CampaignOptions options;
    options.format = StorageFormat::parse(format);
    options.bers = {1e-4, 3e-3, 3e-2};
    options.trials = 12;
    options.seed = 9;
    options.progress = false;
    options.batch_size = 64;  // several batches, the last one short
    return options;
}

// "Candidates" that differ only after the shared stage: the last layer's first bias.
void set_candidate(layers::Module& model, int candidate) {
    model.find("classifier.2")->named_parameters().back().second.value().data()[0] = 0.25f * float(candidate);
}

CampaignResult run_shared(layers::Module& model, const faults_test::TinyData& data, const CampaignOptions& options,
                          TrialInputCache& cache) {
    Campaign campaign(model, data.images, data.labels, options);
    campaign.share_trial_inputs(cache);
    return campaign.run();
}

}  // namespace

TEST_CASE("campaigns sharing their trials' faulty inputs give the numbers of campaigns on their own") {
    for (int64_t stride : {1, 2}) {
        for (const char* format : {"float32", "q7.8"}) {
            for (const char* shared_at : {"features.3", "classifier.0", "classifier.2"}) {
                CAPTURE(stride);
                CAPTURE(format);
                CAPTURE(shared_at);
                layers::ModulePtr model = faults_test::tiny_cnn(4, stride);
                const faults_test::TinyData data = faults_test::tiny_data(*model, 150, 4);
                CampaignOptions options = options_for(format);
                std::vector<FaultTarget> targets = select_targets(*model);
                quantize_targets(targets, options.format);
                TrialInputCache cache(shared_at, int64_t(64) << 20);
                for (int candidate = 0; candidate < 3; ++candidate) {
                    CAPTURE(candidate);
                    set_candidate(*model, candidate);
                    const CampaignResult alone = run_campaign(*model, data.images, data.labels, options);
                    const CampaignResult shared = run_shared(*model, data, options, cache);
                    CHECK(per_trial(shared) == per_trial(alone));
                    CHECK(per_trial_outcomes(shared) == per_trial_outcomes(alone));
                    CHECK(campaign_json(shared) == campaign_json(alone));
                }
                CHECK(cache.kept() > 0);
                CHECK(cache.replays() > 0);  // the second and third candidates started from kept inputs
                CHECK(cache.used_bytes() > 0);
            }
        }
    }
}

TEST_CASE("a kept input serves only the same prefix: changed weights before the stage recompute") {
    layers::ModulePtr model = faults_test::tiny_cnn(5);
    const faults_test::TinyData data = faults_test::tiny_data(*model, 120, 5);
    const CampaignOptions options = options_for("float32");
    TrialInputCache cache("classifier.0", int64_t(64) << 20);
    run_shared(*model, data, options, cache);
    const int64_t kept = cache.kept();
    REQUIRE(kept > 0);
    CHECK(cache.replays() == 0);  // one campaign: every trial computed its own input
    // A weight of the first convolution (before the shared stage) moves: no kept input fits.
    float& weight = model->find("features.0")->named_parameters().front().second.value().data()[3];
    const float original = weight;
    weight += 0.5f;
    const CampaignResult alone = run_campaign(*model, data.images, data.labels, options);
    const CampaignResult shared = run_shared(*model, data, options, cache);
    CHECK(per_trial(shared) == per_trial(alone));
    CHECK(per_trial_outcomes(shared) == per_trial_outcomes(alone));
    CHECK(cache.replays() == 0);
    CHECK(cache.kept() == 2 * kept);  // kept again, beside the old ones
    // Back as it was: the first campaign's inputs serve again.
    weight = original;
    const CampaignResult again = run_shared(*model, data, options, cache);
    CHECK(cache.replays() == kept);
    CHECK(per_trial(again) == per_trial(run_campaign(*model, data.images, data.labels, options)));
}

TEST_CASE("trial input cache: budget, activation faults and bad input") {
    layers::ModulePtr model = faults_test::tiny_cnn(6);
    const faults_test::TinyData data = faults_test::tiny_data(*model, 100, 6);
    CampaignOptions options = options_for("float32");
    const CampaignResult alone = run_campaign(*model, data.images, data.labels, options);

    TrialInputCache empty("classifier.0", 0);
    CHECK(per_trial(run_shared(*model, data, options, empty)) == per_trial(alone));
    CHECK(per_trial(run_shared(*model, data, options, empty)) == per_trial(alone));
    CHECK(empty.kept() == 0);
    CHECK(empty.replays() == 0);

    // One trial's input of classifier.0 is 100 x 24 floats (and the 40 + 6 x 4 x 9 + 6 prefix values):
    // a budget for two of them keeps two.
    const int64_t one = (100 * 24 + 4 * 9 + 4 + 6 * 4 * 9 + 6) * int64_t(sizeof(float));
    TrialInputCache small("classifier.0", 2 * one);
    CHECK(per_trial(run_shared(*model, data, options, small)) == per_trial(alone));
    CHECK(small.kept() == 2);
    CHECK(small.used_bytes() == 2 * one);

    // Activation faults strike inside the prefix: nothing is kept or replayed.
    options.site = "both";
    const CampaignResult both = run_campaign(*model, data.images, data.labels, options);
    TrialInputCache activations("classifier.0", int64_t(64) << 20);
    for (int i = 0; i < 2; ++i) CHECK(per_trial(run_shared(*model, data, options, activations)) == per_trial(both));
    CHECK(activations.kept() == 0);

    TrialInputCache unknown("features.9", 1 << 20);
    Campaign campaign(*model, data.images, data.labels, options_for("float32"));
    CHECK_THROWS_AS(campaign.share_trial_inputs(unknown), core::ValueError);
    CHECK_THROWS_AS(TrialInputCache("features.0", -1), core::ValueError);
}
