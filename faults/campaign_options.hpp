// The settings of a fault campaign, their parsing from command-line text and their validation.
//
//   CampaignOptions options;                                  // BERs 1e-7..1e-4, 100 trials, Q15.16
//   options.fault_model = FaultModelSpec::parse("ber-floor");  // the toolbox's count
//   options.bers = parse_ber_list("1e-6,1e-5");
//   options.shard = parse_shard("0/4");
//   validate_options(options);                                // what the Campaign constructor checks
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "faults/fault_model.hpp"
#include "faults/storage_format.hpp"

namespace proact::faults {

// The BERs of the toolbox's experiments: 1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4.
std::vector<double> default_bers();
// "1e-6,1e-5" -> {1e-6, 1e-5}. ValueError naming the item for a non-number or a BER outside [0, 1].
std::vector<double> parse_ber_list(std::string_view text);

// CampaignOptions::batch_norm's values.
inline constexpr std::array<std::string_view, 2> kBatchNormModes = {"fold", "keep"};
// ValueError naming `batch_norm` and the allowed values unless it is one of kBatchNormModes.
void check_batch_norm(std::string_view batch_norm);

// CampaignOptions::site's values: stored weights, computed activations (activation_faults.hpp), both.
inline constexpr std::array<std::string_view, 3> kFaultSites = {"weights", "activations", "both"};
// ValueError naming `site` and the allowed values unless it is one of kFaultSites.
void check_fault_site(std::string_view site);

struct ShardSpec {
    int index = 0;
    int count = 1;
    std::string to_string() const { return std::to_string(index) + "/" + std::to_string(count); }  // "i/n"
};
// "i/n" with 0 <= i < n. ValueError naming the text otherwise ("3/2": index 3 is not below 2).
ShardSpec parse_shard(std::string_view text);

struct CampaignOptions {
    FaultModelSpec fault_model;                  // default: flips at a BER, Binomial count
    std::vector<double> bers = default_bers();   // one point per BER (every spec but exact)
    std::vector<int64_t> exact_counts = {1};     // one point per k (exact spec)
    StorageFormat format = StorageFormat::fixed_point(15, 16);  // the toolbox's default
    std::string bit_mask = "all";                // BitMask::parse syntax: "sign", "exponent", "integer", "0,31"
    std::vector<std::string> patterns;           // target parameter globs; empty: the default targets
    bool fault_thresholds = true;                // off: no "*threshold" parameter is a target
    int64_t trials = 100;                        // per point (upper bound when ci_margin > 0)
    uint64_t seed = 0;
    // > 0: stop a point once the 95% CI half-width of its mean accuracy is at most ci_margin
    // percentage points, after at least min_trials trials, in trial order 0, 1, 2, ...
    double ci_margin = 0.0;
    int64_t min_trials = 10;
    ShardSpec shard;                             // run trials t with t % count == index
    // Inference batch; 0: automatic, the whole set in equal batches whose largest activation stays
    // under 4 MB, and at least one batch per thread (layers::auto_batch_rows). Any choice gives
    // the same bits: an image's logits do not depend on its batch (core::GemmSums).
    int64_t batch_size = 0;
    int64_t cache_budget_bytes = int64_t(1) << 30;  // stage-input cache
    bool stage_cache = true;                     // off: every trial runs the whole model
    bool channel_sparse = true;                  // off: the first faulted stage is recomputed whole
    bool reuse_fault_free = true;                // off: fault-free trials are evaluated again
    bool progress = true;                        // progress bar over the trials
    bool log_faults = false;                     // fill CampaignResult::fault_log
    // What the faults are for: "evaluation" (a reported campaign), "search" (FtClipAct's threshold
    // search) or "tuning" (hyper-parameter tuning), kFaultPurposes; each draws its own faults, so a
    // search never tunes against the faults of the evaluation that reports it (injector.hpp).
    std::string purpose = "evaluation";
    // Whether batch norm was folded into the convolutions before the campaign ("fold") or kept as
    // layers of its own ("keep"), kBatchNormModes. Descriptive: carried into the result and its
    // files, so that campaigns of differently built models are not compared trial by trial.
    std::string batch_norm = "fold";
    // Where the faults strike, kFaultSites: "weights" (the stored targets), "activations" (the
    // outputs of activation_layers, per image: activation_faults.hpp) or "both" (each drawn as
    // alone, from streams of their own). With exactly k faults, k per weight tensor and k per image.
    std::string site = "weights";
    std::vector<std::string> activation_layers;  // module globs; empty: every Conv2d and Linear
    // Descriptions carried into the result and its files.
    std::string label;                           // legend of the plot; default "<model> <format>"
    std::string model_name;
    std::string dataset_name;
};

// ValueError for a BER outside [0, 1], an empty point list, trials < 1, a negative exact count,
// a bad shard, ci_margin < 0, min_trials < 2, ci_margin with more than one shard (the stopping
// point would depend on trials other shards run), batch_size < 0, a bit mask the format has no
// such bits for, an unknown purpose, batch_norm or site, activation layers with site weights. Run by the Campaign constructor; the
// command line calls it early.
void validate_options(const CampaignOptions& options);

}  // namespace proact::faults
