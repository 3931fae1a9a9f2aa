// The sweep of a campaign (campaign.hpp): its points one after another, each point's trials in
// order with the ci_margin rule, and the result they fill. The trials themselves, the stage cache
// and the fast paths are campaign.cpp.
#include <chrono>
#include <cstdio>
#include <string>

#include "core/progress.hpp"
#include "faults/campaign.hpp"

namespace proact::faults {

CampaignResult Campaign::settings_result() const {
    CampaignResult result;
    result.model = options_.model_name;
    result.dataset = options_.dataset_name;
    result.format = options_.format.to_string();
    result.label = !options_.label.empty() ? options_.label
                                           : (result.model.empty() ? std::string("model") : result.model) + " " +
                                                 result.format;
    result.fault_model = options_.fault_model;
    result.bit_mask = mask_.to_string();
    result.patterns = options_.patterns;
    for (const FaultTarget& target : targets_) result.targets.push_back(target.name);
    result.target_values = target_values(targets_);
    result.seed = options_.seed;
    result.purpose = options_.purpose;
    result.batch_norm = options_.batch_norm;
    result.site = options_.site;
    if (activations_) result.activation_layers = activations_->describe();
    result.trials = options_.trials;
    result.ci_margin = options_.ci_margin;
    result.min_trials = options_.min_trials;
    result.shard = options_.shard;
    result.samples = images_.size(0);
    result.images_hash = images_hash_;
    result.fault_free_correct = fault_free_.correct;
    result.fault_free_no_prediction = fault_free_.no_prediction;
    result.cached_bytes = cached_bytes();
    result.batch_size = batch_size_;
    result.setup_seconds = setup_seconds_;
    return result;
}

PointResult Campaign::run_point(size_t p, CampaignResult& result, core::ProgressBar& bar, int64_t& done) {
    const auto point_start = std::chrono::steady_clock::now();
    std::vector<FaultLogEntry>* log = options_.log_faults ? &result.fault_log : nullptr;
    PointResult point;
    point.rate = point_rate(p);
    std::vector<double> accuracies;
    double sdc_sum = 0.0;
    char status[128];
    for (int64_t trial = options_.shard.index; trial < options_.trials; trial += options_.shard.count) {
        const TrialOutcome outcome = run_trial(p, trial, log);
        point.trial_ids.push_back(trial);
        point.correct.push_back(outcome.correct);
        point.no_prediction.push_back(outcome.no_prediction);
        point.sdc.push_back(outcome.sdc);
        point.faults.push_back(outcome.faults);
        accuracies.push_back(result.accuracy(outcome.correct));
        (outcome.reused ? result.trials_reused : result.trials_evaluated) += 1;
        ++done;
        double sum = 0.0;
        for (double accuracy : accuracies) sum += accuracy;
        sdc_sum += result.share(outcome.sdc);
        std::snprintf(status, sizeof status, "%s %g  mean %.2f%%  SDC %.2f%%", result.is_exact() ? "k" : "BER",
                      point.rate, sum / static_cast<double>(accuracies.size()),
                      sdc_sum / static_cast<double>(accuracies.size()));
        bar.update(done, done, status);
        if (options_.ci_margin > 0.0 && static_cast<int64_t>(accuracies.size()) >= options_.min_trials &&
            accuracy_stats(accuracies).ci95_half_width <= options_.ci_margin) {
            point.stopped_early = trial + options_.shard.count < options_.trials;
            break;
        }
    }
    point.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - point_start).count();
    return point;
}

CampaignResult Campaign::run() {
    const auto start_time = std::chrono::steady_clock::now();
    CampaignResult result = settings_result();
    const int64_t shard_trials =
        (options_.trials - options_.shard.index + options_.shard.count - 1) / options_.shard.count;
    core::ProgressBar bar("inject", shard_trials * static_cast<int64_t>(point_count()), options_.progress);
    bar.set_unit("trials/s");
    int64_t done = 0;
    for (size_t p = 0; p < point_count(); ++p) {
        result.points.push_back(run_point(p, result, bar, done));
        done = shard_trials * static_cast<int64_t>(p + 1);
    }
    bar.finish();
    recompute_stats(result);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    return result;
}

CampaignResult run_campaign(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                            const CampaignOptions& options) {
    Campaign campaign(model, images, labels, options);
    CampaignResult result = campaign.run();
    result.seconds += campaign.setup_seconds();
    return result;
}

}  // namespace proact::faults
