// Example 3: hardening a trained model with ProAct and measuring it under bit flips, through the
// library API (what `proact harden` and `proact inject` do for you).
//
// Why: a bit flip in a stored weight can turn it into a huge value whose activation ruins the
// output. ProAct clips every ReLU at a trained threshold (one per layer, and one per neuron in the
// last clipped layer), so such values stop where they start. A fault campaign flips random bits
// of the stored words at a bit error rate (BER) and measures the accuracy, many trials per BER.
//
// Data: four Gaussian blobs in 16 dimensions, samples (N, 16). Model: 16 -> 64 -> 64 -> 4 MLP.
#include <cstdio>
#include <memory>

#include "datasets/split.hpp"
#include "datasets/synthetic.hpp"
#include "faults/campaign.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"
#include "layers/activation.hpp"
#include "layers/linear.hpp"
#include "layers/sequential.hpp"
#include "proact/method.hpp"

using namespace proact;

namespace {

// The same architecture every time; the weights are whatever the caller loads into it.
layers::ModulePtr make_mlp(uint64_t seed) {
    core::Rng init(seed, "init");
    auto model = std::make_shared<layers::Sequential>();
    model->add(std::make_shared<layers::Linear>(16, 64, init));
    model->add(std::make_shared<layers::ReLU>());
    model->add(std::make_shared<layers::Linear>(64, 64, init));
    model->add(std::make_shared<layers::ReLU>());
    model->add(std::make_shared<layers::Linear>(64, 4, init));
    return model;
}

}  // namespace

int main() {
    const uint64_t seed = 0;
    // One draw of the blobs split three ways: test for the campaign, validation for ProAct's tries.
    auto [rest, test] = datasets::split(datasets::gaussian_blobs(400, 4, 16, 2.0f, seed), 0.25, seed);
    auto [train, validation] = datasets::split(rest, 0.2, seed);

    layers::ModulePtr unprotected = make_mlp(seed);
    train::TrainOptions training;
    training.epochs = 5;
    training.progress = false;
    train::train_classifier(*unprotected, train, &validation, training);

    // Q15.16 fixed point: a 32-bit word with 16 fraction bits. Weights go onto that grid BEFORE
    // hardening, so the thresholds are trained against the weights the campaign will fault.
    const faults::StorageFormat format = faults::StorageFormat::fixed_point(15, 16);
    auto weights = faults::select_targets(*unprotected);
    faults::quantize_targets(weights, format);

    // A second model with the same (quantised) weights, hardened in place by ProAct.
    layers::ModulePtr hardened = make_mlp(seed);
    hardened->load_state_dict(unprotected->state_dict());
    method::ProActOptions proact;
    proact.profile_images = 256;  // Ranger's maxima, ProAct's starting thresholds
    const method::ProActResult result = method::proact_harden(*hardened, {16}, train, validation, proact, method::RunSettings{seed, false});
    std::printf("ProAct: %lld thresholds (%s); validation accuracy %.2f%% -> %.2f%%\n",
                static_cast<long long>(result.threshold_count), result.activation.c_str(), result.original_accuracy,
                result.final_accuracy);
    // The thresholds are stored words too: onto the grid, and faulted like the weights.
    auto all_targets = faults::select_targets(*hardened);
    faults::quantize_targets(all_targets, format);

    // The same campaign on both: trial t flips the same weight bits in both models (its faults come
    // from (seed, t, parameter name)), so the difference between them is the clipping alone.
    faults::CampaignOptions campaign;
    campaign.format = format;
    campaign.bers = {1e-3, 1e-2};
    campaign.trials = 20;
    campaign.seed = seed;
    campaign.progress = false;
    campaign.label = "unprotected";
    const faults::CampaignResult before = faults::run_campaign(*unprotected, test.images(), test.labels, campaign);
    campaign.label = "proact";
    const faults::CampaignResult after = faults::run_campaign(*hardened, test.images(), test.labels, campaign);
    std::printf("%s\n%s", faults::campaign_table(before).c_str(), faults::campaign_table(after).c_str());

    // Clipping must not cost clean accuracy beyond ProAct's tolerance (1.5 points on validation).
    const bool clean_kept = after.fault_free_accuracy() >= before.fault_free_accuracy() - 5.0;
    std::printf("clean accuracy %.2f%% unprotected, %.2f%% hardened\n", before.fault_free_accuracy(),
                after.fault_free_accuracy());
    return clean_kept ? 0 : 1;
}
