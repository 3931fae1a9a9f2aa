// FtClipAct (METHOD.md "FtClipAct"): layer-wise hard-zero thresholds, each found by a search driven
// by fault campaigns.
//
//   FtClipActOptions options;                 // Q15.16, BER, the toolbox's 5 search BERs
//   options.campaign.bers = evaluation_bers;  // search where the model will be judged
//   FtClipActResult result = ftclipact_harden(*model, {1, 28, 28}, train, validation, options,
//                                             core::ClipMode::hard, RunSettings{seed});
//   layers::save_checkpoint("ftclipact.safetensors", *model);
//
// What it does to `model`:
//  1. every ReLU becomes a layer-wise hard-zero ClippedReLU at its Ranger maximum (profiled on a
//     seeded subset of `train`, the same subset the campaigns run on);
//  2. the fault targets are put on options.campaign.format's grid (faults::quantize_targets), once:
//     the search must score the model as it will be stored, a fixed-point campaign refuses an
//     unquantised model, and quantising is idempotent, so `proact inject` sees the same model. The
//     caller's weights therefore change in place for any format but float32, as inject would change them;
//  3. the clipped layers are visited FIRST to LAST. For each: the interval [0, Ranger max]; per
//     round `candidates` equally spaced thresholds (both ends included), each quantised to the
//     format, written into the layer's threshold, and scored by a fault campaign on the subset: the
//     area under mean accuracy vs log10(BER) (trapezoids), divided by the log10 span, so a score is a
//     mean accuracy in percent (one BER: its accuracy); the interval narrows to the best candidate's
//     neighbours; the search stops once the round's scores differ by at most `score_tolerance`
//     after at least `min_rounds` rounds, or after `max_rounds`. The best candidate seen is written
//     into the layer and stays there (the toolbox's candidates never reach the layer and its result
//     is overwritten by fresh Ranger maxima: neither happens here, and the tests check it).
// Campaign trials are paired across candidates: trial t flips the same weight bits for every
// candidate (injector.hpp), so scores differ by the thresholds, not by luck. The search campaigns
// run with run.seed and the fault purpose "search": their faults are never those of a reported
// ("evaluation") campaign with the same seed, so thresholds are not chosen on the faults they are
// then judged on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "core/clip.hpp"
#include "faults/campaign.hpp"
#include "layers/module.hpp"
#include "proact/run_settings.hpp"
#include "proact/threshold_training.hpp"

namespace proact::method {

// The search campaigns' defaults: the toolbox's BERs 1e-7, 1e-6, 3e-6, 1e-5, 3e-5, 5 trials, Q15.16
// bit flips, thresholds faulted, no progress bar of their own. The comparison replaces the BERs
// by its evaluation BERs (search_bers_for).
faults::CampaignOptions ftclipact_default_campaign();

// At most `count` of `evaluation_bers` (ascending): all of them when they are that few, else the
// window of `count` consecutive ones in which `accuracy_at` (the unprotected model's mean accuracy
// at a BER, on search faults) falls the most: the range where the method will be judged and
// where clipping decides anything. Ties go to the lower window.
std::vector<double> search_bers_for(const std::vector<double>& evaluation_bers, size_t count,
                                    const std::function<double(double)>& accuracy_at);

struct FtClipActOptions {
    // Fault model, storage format, BERs and trials of the search campaigns (their seed is the
    // run's, their purpose "search", progress ignored).
    faults::CampaignOptions campaign = ftclipact_default_campaign();
    int64_t subset_images = 1024;    // seeded training subset for Ranger and the campaigns
    int candidates = 4;              // per round
    int min_rounds = 3;
    // 6 from `proact tune` (4 settings, as ProAct and FitAct; LeNet-5 of seed 100, validation
    // split, "tuning" faults): 60.95 against 60.88 for the toolbox's 4 (docs/METHOD.md).
    int max_rounds = 6;
    double score_tolerance = 0.2;    // accuracy points between the round's best and worst score
    // More search BERs than this: only the window of this many where the unprotected model falls
    // the most on the search faults of the subset (search_bers_for), so that every BER searched
    // at costs its campaigns where they decide something.
    int max_search_bers = 5;
    // Memory for each search trial's faulty input of the stage holding the layer searched, kept
    // across that layer's candidates (faults::TrialInputCache): their campaigns differ only from
    // that stage on, so later candidates rerun only the rest of the model. The same results; the
    // run's --cache-budget-mb.
    int64_t cache_budget_bytes = kDefaultCacheBudgetBytes;
};

// ValueError naming the option, its allowed range and the value (the campaign options included).
void validate_options(const FtClipActOptions& options);

struct SearchRound {
    float low = 0, high = 0;                  // the interval searched
    std::vector<float> thresholds;            // the candidates (quantised)
    std::vector<double> scores;               // percent
};

struct SearchResult {
    std::vector<SearchRound> rounds;
    float best_threshold = 0;
    double best_score = 0;
};

// The interval search alone, on any score(threshold) (a campaign in ftclipact_harden; a formula in
// tests): rounds as described above, each candidate passed through `quantize` first (identity for
// float32). on_candidate(round, candidate) runs before each score. Ties go to the lower threshold.
SearchResult search_threshold(float high, const FtClipActOptions& options, const std::function<float(float)>& quantize,
                              const std::function<double(float)>& score,
                              const std::function<void(int, int)>& on_candidate = {});

struct FtClipActLayer {
    std::string path;
    float ranger_max = 0;
    SearchResult search;
};

struct FtClipActResult {
    std::string activation;                   // "layer:hard" (or "layer:saturate")
    std::string format;                       // of the campaigns, "Q15.16"
    uint64_t seed = 0;                        // the run's
    std::vector<double> search_bers;          // the BERs searched at
    int64_t threshold_count = 0;
    int64_t subset_images = 0;
    int64_t campaigns = 0;                    // one per candidate
    int64_t quantized_values = 0;             // fault-target values put on the grid (changed)
    double original_accuracy = 0.0;           // validation, the unclipped (quantised) model
    double ranger_accuracy = 0.0;             // validation, clipped at the Ranger maxima
    double final_accuracy = 0.0;              // validation, hardened
    std::vector<FtClipActLayer> layers;       // first to last
    double seconds = 0.0;
};

// One line for a searched layer: "features.1  threshold 4.18 -> 3.561  score 88.92%  4 rounds".
std::string layer_summary(const FtClipActLayer& layer);

// Hardens `model` in place (see above); `mode` is hard (FtClipAct) or saturate. ValueError for bad
// options or a model without ReLUs, before the model changes.
FtClipActResult ftclipact_harden(layers::Module& model, const core::Shape& input_shape, const datasets::Dataset& train,
                                 const datasets::Dataset& validation, const FtClipActOptions& options,
                                 core::ClipMode mode, const RunSettings& run,
                                 const std::function<void(const FtClipActLayer&)>& on_layer = {});

// Area under mean accuracy vs log10(rate) over a campaign's points, divided by the log10 span
// (one point: its accuracy): a mean accuracy in percent.
double curve_score(const faults::CampaignResult& campaign);

// The score of `model` as it is: curve_score of a campaign over `campaign`'s BERs on (images,
// labels). The search's scoring, for callers and tests. With `shared`, the campaign's trials keep
// and reuse their faulty inputs there (faults::TrialInputCache: the same score).
double campaign_score(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                      const faults::CampaignOptions& campaign, faults::TrialInputCache* shared = nullptr);

std::string ftclipact_json(const FtClipActResult& result, const FtClipActOptions& options, bool with_times = false);

}  // namespace proact::method
