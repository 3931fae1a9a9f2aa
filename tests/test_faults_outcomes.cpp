// Outcomes against the fault-free run (campaign.hpp): per trial, masked + SDC + no prediction add
// up to the images, the counts are those of a plain evaluation under the same faults, they do not
// depend on the labels, and a trial that changes no bit has no SDC, whichever path ran it.
#include <doctest/doctest.h>

#include "faults/campaign.hpp"
#include "faults/injector.hpp"
#include "layers/evaluate.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;
using faults_test::per_trial;
using faults_test::per_trial_outcomes;

namespace {

CampaignOptions quick_options() {
    CampaignOptions options;
    options.format = StorageFormat::float32();
    options.bers = {1e-3, 1e-2, 5e-2};
    options.trials = 30;
    options.seed = 5;
    options.progress = false;
    return options;
}

}  // namespace

TEST_CASE("outcomes: masked + SDC + no prediction = images, and the SDC counts of a plain evaluation") {
    layers::ModulePtr model = faults_test::tiny_cnn(12);
    faults_test::TinyData data = faults_test::tiny_data(*model, 130, 12);
    CampaignOptions options = quick_options();
    options.bers = {1e-3, 2e-2, 1e-1};
    options.batch_size = 64;
    options.trials = 12;
    Campaign campaign(*model, data.images, data.labels, options);
    // The fault-free top-1 is the plain evaluation's, image by image.
    const layers::EvalResult clean = layers::evaluate(*model, data.images, data.labels, 64);
    const std::vector<int64_t>& fault_free = campaign.fault_free_predictions();
    REQUIRE(fault_free.size() == 130);
    for (size_t i = 0; i < fault_free.size(); ++i) CHECK(fault_free[i] == clean.predictions[i]);
    std::vector<FaultTarget> targets = select_targets(*model);
    int64_t sdc_seen = 0, sdc_of_wrong = 0;
    for (size_t point = 0; point < campaign.point_count(); ++point)
        for (int64_t trial = 0; trial < options.trials; ++trial) {
            CAPTURE(point);
            CAPTURE(trial);
            const TrialOutcome outcome = campaign.run_trial(point, trial);
            CHECK(outcome.masked + outcome.sdc + outcome.no_prediction == 130);
            // The same faults through the whole model by layers::evaluate.
            const FaultMap map = draw_fault_map(targets, campaign.fault_model(point), options.format,
                                                FaultStreamKey{options.seed, options.purpose, campaign.point_rate(point)},
                                                trial);
            layers::EvalResult faulty;
            {
                ScopedFaults faults(targets, map, options.format);
                faulty = layers::evaluate(*model, data.images, data.labels, 64);
            }
            int64_t masked = 0, sdc = 0, none = 0;
            for (size_t i = 0; i < faulty.predictions.size(); ++i) {
                const int64_t top = faulty.predictions[i];
                if (top == layers::kNoPrediction) {
                    ++none;
                } else if (top == clean.predictions[i]) {
                    ++masked;
                } else {
                    ++sdc;
                    sdc_of_wrong += clean.predictions[i] != data.labels[i];
                }
            }
            CHECK(outcome.sdc == sdc);
            CHECK(outcome.masked == masked);
            CHECK(outcome.no_prediction == none);
            CHECK(outcome.correct == faulty.correct);
            sdc_seen += sdc;
        }
    CHECK(sdc_seen > 0);
    CHECK(sdc_of_wrong > 0);  // an image the fault-free model gets wrong can be an SDC too

    // Masked is about the fault-free run, not the labels: other labels, the same SDC counts.
    const CampaignResult labelled = run_campaign(*model, data.images, data.labels, options);
    const CampaignResult relabelled =
        run_campaign(*model, data.images, std::vector<int32_t>(data.labels.size(), 0), options);
    CHECK(per_trial_outcomes(labelled) == per_trial_outcomes(relabelled));
    CHECK(per_trial(labelled) != per_trial(relabelled));
}

TEST_CASE("faults that change no bit give SDC 0, reused or evaluated") {
    layers::ModulePtr model = faults_test::tiny_cnn(13);
    faults_test::TinyData data = faults_test::tiny_data(*model, 70, 13);
    CampaignOptions options = quick_options();
    options.trials = 3;
    options.bers = {0.0, 1.0};
    // Stuck-at-0 on bit 30, the exponent's top bit, which is 0 in every float below 2 in magnitude:
    // at BER 1 every weight gets the fault and none changes. BER 0 draws no fault at all.
    options.fault_model = FaultModelSpec::parse("stuck0");
    options.bit_mask = "30";
    for (bool reuse : {true, false}) {
        CAPTURE(reuse);
        options.reuse_fault_free = reuse;
        options.stage_cache = reuse;
        const CampaignResult result = run_campaign(*model, data.images, data.labels, options);
        for (const PointResult& point : result.points) {
            CHECK(point.sdc == std::vector<int64_t>(3, 0));
            CHECK(point.no_prediction == std::vector<int64_t>(3, 0));
            CHECK(point.correct == std::vector<int64_t>(3, result.fault_free_correct));
        }
        CHECK(result.points[1].mean_faults() == static_cast<double>(result.target_values));
        CHECK(result.trials_reused == (reuse ? 6 : 0));
    }
    // The same bit stuck at 1 makes every weight huge: answers change.
    options.fault_model = FaultModelSpec::parse("stuck1");
    options.bers = {1e-2};
    const CampaignResult stuck1 = run_campaign(*model, data.images, data.labels, options);
    CHECK(stuck1.points[0].sdc_stats.mean + stuck1.points[0].no_prediction_stats.mean > 0.0);
}
