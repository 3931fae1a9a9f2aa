// The result of a fault campaign: per point (one BER, or one k) the per-trial counts and their
// statistics, with the settings that produced them; and the merge of a sharded campaign's parts.
//
//   CampaignResult whole = merge_shards({shard0, shard1, shard2});  // == one unsharded run
//   double accuracy = whole.accuracy(whole.points[0].correct[3]);  // trial 3 of the first BER, in %
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "faults/campaign_options.hpp"
#include "faults/fault_model.hpp"
#include "faults/injector.hpp"
#include "faults/statistics.hpp"

namespace proact::faults {

// One point of the sweep (one BER, or one k).
struct PointResult {
    double rate = 0.0;               // the BER, or k for an exact campaign
    std::vector<int64_t> trial_ids;  // ascending; 0..n-1 for a whole campaign
    std::vector<int64_t> correct;    // correctly classified samples, per trial
    // Samples without a prediction (logits not all finite), per trial; counted wrong in `correct`.
    std::vector<int64_t> no_prediction;
    // Samples whose top-1 differs from the fault-free run's (silent data corruptions, campaign.hpp),
    // per trial; empty when the result has no outcomes (CampaignResult::outcomes). The masked
    // samples are the rest: samples - sdc - no_prediction.
    std::vector<int64_t> sdc;
    std::vector<int64_t> faults;     // faulty bits in the model, per trial
    bool stopped_early = false;      // ci_margin reached before `trials`
    AccuracyStats stats;             // over 100 * correct / samples
    AccuracyStats no_prediction_stats;  // over 100 * no_prediction / samples
    AccuracyStats sdc_stats;         // over 100 * sdc / samples (the SDC rate); trials 0 without outcomes
    double seconds = 0.0;            // time of this point's trials (not written to the files)
    double mean_faults() const;
};

struct CampaignResult {
    std::string label, model, dataset;
    std::string format;              // "Q15.16", "float32"
    FaultModelSpec fault_model;
    std::string bit_mask;            // BitMask::to_string(): positions, "0,1,...,31"
    std::vector<std::string> patterns;
    std::vector<std::string> targets;  // parameter names
    int64_t target_values = 0;
    uint64_t seed = 0;
    std::string purpose = "evaluation";  // CampaignOptions::purpose: whose fault streams (injector.hpp)
    std::string batch_norm = "fold";     // CampaignOptions::batch_norm: "fold" or "keep"
    std::string site = "weights";        // CampaignOptions::site: "weights", "activations" or "both"
    std::string activation_layers;       // the faulted layers' paths, comma-separated; "" for weights
    int64_t trials = 0;              // requested per point
    double ci_margin = 0.0;
    int64_t min_trials = 10;
    ShardSpec shard;
    int64_t samples = 0;             // size of the evaluation set
    uint64_t images_hash = 0;        // data_checksum of its images and labels (injector.hpp)
    int64_t fault_free_correct = 0;
    int64_t fault_free_no_prediction = 0;
    // Whether the points carry SDC counts: false only for a result read from a campaign JSON of
    // version 3, written before they were counted.
    bool outcomes = true;
    std::vector<PointResult> points;

    // Not written to the files (they would differ between machines and runs).
    double seconds = 0.0;            // all of it, set-up included
    double setup_seconds = 0.0;      // fault-free pass, stage cache, probe
    int64_t batch_size = 0;          // the inference batch used
    int64_t trials_evaluated = 0;    // trials that ran the model
    int64_t trials_reused = 0;       // trials that changed no bit and took the fault-free result
    int64_t cached_bytes = 0;
    std::vector<FaultLogEntry> fault_log;  // when options.log_faults

    double fault_free_accuracy() const { return accuracy(fault_free_correct); }
    // A count of samples as a percentage of the evaluation set.
    double accuracy(int64_t correct) const { return share(correct); }
    double share(int64_t count) const { return samples ? 100.0 * double(count) / double(samples) : 0.0; }
    bool is_exact() const { return fault_model.is_exact(); }
};

// Recomputes every point's stats from its per-trial counts.
void recompute_stats(CampaignResult& result);

// Joins the results of shards 0/n .. n-1/n of one campaign into the result of the whole campaign,
// equal to what one unsharded run gives. ValueError when the shards disagree on anything but the
// shard index, an index is missing or repeated, or the trials do not add up to 0..trials-1.
CampaignResult merge_shards(const std::vector<CampaignResult>& shards);

}  // namespace proact::faults
