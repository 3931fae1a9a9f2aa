// The comparison experiment behind `proact reproduce`: trained models (replicates), each hardened
// by every method of the registry (methods.hpp) in turn, every hardened model put through the
// same fault campaign, the results side by side.
//
//   ComparisonOptions options;
//   options.methods = parse_method_list("unprotected,ranger,proact");
//   options.campaign.bers = {1e-4, 3e-4, 1e-3};   options.campaign.trials = 30;
//   options.run.seed = seed;
//   options.out_dir = "out";
//   Replicate one{"out/model.safetensors", load_comparison_data("fashion-mnist", "", {1, 28, 28}, 0.1, seed), seed};
//   ComparisonResult result = run_comparison({one}, options);
//   write_comparison_files(result, options);   // results.md, .csv, .json, .svg
//
// Per replicate and method, in the order asked: the trained checkpoint is loaded afresh; batch
// norm is folded into the convolutions (options.batch_norm "fold", as a deployment stores the
// model; "keep" leaves it a fault-free stage, the toolbox's setting); for any format but float32 the
// weights are quantised (so thresholds are trained against the weights the campaign will see);
// the method hardens it with the replicate's seed; every fault target, thresholds included, is
// quantised; the hardened model is saved (DIR/<method>.safetensors, the report in its metadata)
// and its campaign written (DIR/<method>.campaign.json). DIR is out_dir for one replicate, else
// out_dir/replicate-<r>. Every campaign runs with options.run.seed and the fault purpose
// "evaluation" (fault_thresholds on), so trial t flips the same weight bits in every model
// (injector.hpp) and the methods are compared trial by trial; FtClipAct's search runs on
// "search" faults, never those.
//
// Replicates: models trained with different seeds (same test images, same campaign faults); the
// results give each method's mean over replicates with a 95% CI over the replicate means beside
// the fault-sampling CI over all (replicate, trial) accuracies, and paired differences over all
// (replicate, trial) pairs.
//
// Resume: with options.resume a method's files are read back and checked against the run (the
// trained model's checksum, the method's settings, the campaign options, the hardened model's
// fault-free accuracy); what checks out is kept, anything missing, partial, corrupt or from other
// settings is computed again. A campaign is only kept together with the hardened model it ran on.
//
// Deterministic: the same seed gives the same files at any thread count, except the hardening
// seconds; options.times = false leaves them out (written as null) for a byte-for-byte check.
//
// Shards: with options.campaign.shard = i/n every campaign runs only trials i, i+n, ... (hardening
// is deterministic, so every shard hardens alike); comparison_shards.hpp writes a shard's manifest
// and merges the shards' folders into the results one unsharded run writes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/dataset.hpp"
#include "faults/campaign.hpp"
#include "layers/zoo.hpp"
#include "proact/methods.hpp"

namespace proact::method {

// ---------------------------------------------------------------------------------------------
// Data and defaults.

struct ComparisonData {
    datasets::Dataset train, validation, test;
};

// One trained model of the comparison: its checkpoint, its data (the validation split is the one
// it was trained with), and the seed its hardening runs with (its training seed).
struct Replicate {
    std::string checkpoint;
    ComparisonData data;
    uint64_t seed = 0;
};

// The training split of `dataset` cut into (train, validation) as `proact train` does with the same
// seed and fraction, and the test split. ShapeError when the images are not `input_shape`.
ComparisonData load_comparison_data(const std::string& dataset, const std::string& data_dir,
                                    const core::Shape& input_shape, double validation_fraction, uint64_t seed);

// BERs where the methods separate: LeNet-5 1e-5, 1e-4, 3e-4, 1e-3 (below, every clipping method
// keeps nearly all its accuracy); other 28x28 models 1e-6 ... 3e-4; 32x32 models the paper's
// 1e-7 ... 3e-5.
std::vector<double> default_comparison_bers(const layers::ModelInfo& info);

// ---------------------------------------------------------------------------------------------
// The experiment.

struct ComparisonOptions {
    std::vector<std::string> methods;  // names from methods(); empty: all of them
    // The same for every method and replicate; label is set to the method name, seed to run.seed,
    // purpose to "evaluation" and fault_thresholds forced on.
    faults::CampaignOptions campaign;
    MethodSettings settings;
    RunSettings run;                   // the campaigns' seed; progress of everything
    std::string batch_norm = "fold";   // fold | keep (see above)
    std::string out_dir;
    bool resume = false;
    bool times = true;                 // harden_seconds in results.json / .md (off: null)
};

struct MethodOutcome {
    std::string method;
    HardenReport report;
    uint64_t hardened_checksum = 0;    // faults::model_checksum of the hardened model, as stored
    faults::CampaignResult campaign;
    bool hardening_kept = false;       // read back from out_dir by resume
    bool campaign_kept = false;
};

struct ReplicateResult {
    uint64_t seed = 0;
    std::string checkpoint;
    uint64_t trained_checksum = 0;       // faults::model_checksum of the trained model as hardening loads it
    double trained_accuracy = 0.0;       // the trained model as the campaigns store it, clean, percent
    std::vector<MethodOutcome> methods;  // in the order of ComparisonResult::methods
};

struct ComparisonResult {
    std::string model, dataset, format;
    uint64_t seed = 0;
    int64_t samples = 0;               // evaluation images
    std::vector<double> bers;
    std::vector<std::string> methods;
    std::vector<ReplicateResult> replicates;
    // The settings every reader of the numbers needs (results.json "settings").
    std::string batch_norm;            // fold | keep
    std::string tolerance_reference;   // ProAct's: original | previous-layer
    std::string site;                  // where the campaigns' faults strike: weights | activations | both
    std::string ftclipact_search_bers; // "evaluation BERs" or the list given
    double seconds = 0.0;              // the whole run (never written to results.json)
};

// Runs every method on every replicate (see the top of this file), writing the per-method files.
// ValueError for an unknown method, bad campaign options, no replicates, or replicates whose test
// sets differ, before anything runs; IoError when out_dir cannot be written.
ComparisonResult run_comparison(const std::vector<Replicate>& replicates, const ComparisonOptions& options);

// The folder of replicate `r`'s files: out_dir for a single replicate, else out_dir/replicate-<r>.
std::string replicate_dir(const std::string& out_dir, size_t replicate, size_t replicates);

// A method's files in a replicate's folder: DIR/<method>.safetensors and DIR/<method>.campaign.json.
struct MethodFiles {
    std::string checkpoint, campaign;
};
MethodFiles method_files(const std::string& dir, const std::string& method);

// ---------------------------------------------------------------------------------------------
// Results (comparison_report.cpp).

// One method at one BER over every replicate.
struct PointSummary {
    double mean = 0.0;                 // mean over replicates of the mean over trials
    double ci95_trials = 0.0;          // fault sampling: over all (replicate, trial) accuracies; NaN < 2
    double ci95_replicates = 0.0;      // over the replicate means; NaN for one replicate
    double no_prediction = 0.0;        // percent of images, mean over all trials
    // Percent of images whose top-1 differs from the fault-free model's (faults/campaign.hpp), mean
    // over all trials; NaN when a campaign holds no SDC counts (read from a version-3 file).
    double sdc = 0.0;
    bool has_paired = false;           // against ProAct, over all (replicate, trial) pairs
    double paired_mean = 0.0, paired_ci95 = 0.0;
};

struct MethodSummary {
    std::string method;
    double clean_accuracy = 0.0;       // mean over replicates
    double clean_drop = 0.0;           // points below the unprotected model, mean over replicates
    int64_t thresholds = 0, guards = 0;  // of the first replicate (the architecture decides them)
    double seconds = 0.0;              // mean hardening time
    std::string settings;
    std::vector<PointSummary> points;  // one per BER
};

// Every method's summary, in the result's order. The clean drop is against the trained model of
// the same replicate as the campaigns store it (the unprotected model's clean accuracy).
std::vector<MethodSummary> summarize(const ComparisonResult& result);

std::string results_markdown(const ComparisonResult& result, bool times);
// The same records without the settings (in .json and .md), one line each.
std::string results_csv(const ComparisonResult& result, bool times);
// {"experiment", "model", ..., "settings": {batch_norm, replicates, seed, tolerance_reference,
// ftclipact_search_bers, ...}, "records": [one per method and BER: method, format, ber, trials,
// replicates, mean_accuracy, ci95, ci95_replicates, no_prediction, sdc, clean_accuracy, clean_drop,
// thresholds, guards, harden_seconds, settings, paired_vs_proact]}; harden_seconds is null
// without times, an undefined CI or SDC rate null.
std::string results_json(const ComparisonResult& result, bool times);
std::string results_svg(const ComparisonResult& result);
// The four files above into options.out_dir.
void write_comparison_files(const ComparisonResult& result, const ComparisonOptions& options);

}  // namespace proact::method
