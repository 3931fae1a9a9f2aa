// The comparison experiment behind `proact reproduce`: one trained model, hardened by each method
// in turn, every hardened model put through the same fault campaign, the results side by side.
//
//   ComparisonData data = load_comparison_data("fashion-mnist", "", {1, 28, 28}, 0.1, seed);
//   ComparisonOptions options;
//   options.methods = parse_method_list("unprotected,ranger,proact");
//   options.campaign.bers = {1e-4, 3e-4, 1e-3};   options.campaign.trials = 30;
//   options.campaign.seed = options.harden.seed = options.harden.proact.seed = seed;
//   options.out_dir = "out";
//   ComparisonResult result = run_comparison("out/model.safetensors", data, options);
//   write_comparison_files(result, options);   // results.md, .csv, .json, .svg
//
// Per method, in the order asked: the trained checkpoint is loaded afresh; for a fixed-point
// format its weights are quantised first (so thresholds are trained against the weights the
// campaign will see); the method hardens it; every fault target, thresholds included, is
// quantised; the hardened model is saved (DIR/<method>.safetensors, the report in its metadata)
// and its campaign written (DIR/<method>.campaign.json, with each trial's images left without a
// prediction). Every method sees the same campaign options (seed, BERs,
// trials, format) with the thresholds faulted, so trial t flips the same weight bits in every
// model (injector.hpp) and the methods can be compared trial by trial.
//
// Resume: with options.resume a method's files are read back and checked against the run (the
// trained model's checksum, the method's settings, the campaign options, the hardened model's
// fault-free accuracy); what checks out is kept, anything missing, partial, corrupt or from other
// settings is computed again. A campaign is only kept together with the hardened model it ran on.
//
// Deterministic: the same seed gives the same files at any thread count, except the hardening
// seconds; options.times = false leaves them out (written as null) for a byte-for-byte check.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/dataset.hpp"
#include "faults/campaign.hpp"
#include "layers/zoo.hpp"
#include "proact/fitact.hpp"
#include "proact/proact.hpp"

namespace proact::method {

// ---------------------------------------------------------------------------------------------
// Methods, looked up by name in one table.

// What a hardening function may use besides the model.
struct HardenContext {
    core::Shape input_shape;                       // one sample's (C, H, W)
    const datasets::Dataset* train = nullptr;      // training split (the validation part held out)
    const datasets::Dataset* validation = nullptr;
    faults::StorageFormat format = faults::StorageFormat::fixed_point(15, 16);
    ProActOptions proact;                          // ProAct's settings (seed, progress, profile_images: below)
    FitActOptions fitact;                          // FitAct's settings (seed, progress, profile_images: below)
    layers::HybridClip ranger_clip = layers::HybridClip::parse("layer:hard");
    int64_t profile_images = 1024;                 // the Ranger maxima's subset of the training split (all methods)
    uint64_t seed = 0;
    bool progress = true;
    std::function<void(const std::string&)> log;   // a progress line (per layer); may be empty
};

struct HardenReport {
    int64_t thresholds = 0;       // clipping threshold values in the hardened model
    int64_t guards = 0;           // guard values (weight range guards); 0 for the others
    double seconds = 0.0;         // hardening wall time
    std::string settings;         // what was done, "hybrid:smooth:20, 0.8 CE + 0.1 KD ..."
    double clean_accuracy = 0.0;  // percent, the quantised hardened model on the evaluation set
};

struct ComparisonMethod {
    std::string name;             // "proact"
    std::string summary;          // one line for --help
    // The settings the result depends on (the run key of resume): same text, same hardening.
    std::function<std::string(const HardenContext&)> settings;
    // Hardens `model` in place (a fresh copy of the trained model, quantised weights; with a base,
    // the base method's hardened model) and reports this step alone.
    std::function<HardenReport(layers::Module& model, const HardenContext& context)> harden;
    // A method this one continues ("proact" for "proact+guard"): its hardened checkpoint from this
    // run (or kept by resume) is the starting point, else it is hardened first; the report adds up
    // both steps (thresholds, guards, seconds, settings).
    std::string base = {};
};

// Every method this build knows, in the order of the comparison's tables.
const std::vector<ComparisonMethod>& comparison_methods();
// ValueError naming `name` and listing the known methods.
const ComparisonMethod& find_comparison_method(const std::string& name);
// "unprotected, ranger, proact"
std::string comparison_method_names();
// "all" or comma-separated names, each known and at most once. ValueError otherwise.
std::vector<std::string> parse_method_list(std::string_view text);

// Clipping threshold values of `model` (parameters named "*threshold").
int64_t threshold_count(const layers::Module& model);

// ---------------------------------------------------------------------------------------------
// Data and defaults.

struct ComparisonData {
    datasets::Dataset train, validation, test;
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
    std::vector<std::string> methods;  // names from comparison_methods(); empty: all of them
    // The same for every method; label is set to the method name and fault_thresholds forced on.
    faults::CampaignOptions campaign;
    HardenContext harden;              // train, validation and format are filled in from the data
    std::string out_dir;
    bool resume = false;
    bool times = true;                 // harden_seconds in results.json / .md (off: null)
    bool progress = true;              // phase lines on stderr, the campaign's progress bar
};

struct MethodOutcome {
    std::string method;
    HardenReport report;
    faults::CampaignResult campaign;
    bool hardening_kept = false;       // read back from out_dir by resume
    bool campaign_kept = false;
};

struct ComparisonResult {
    std::string model, dataset, format;
    uint64_t seed = 0;
    int64_t samples = 0;               // evaluation images
    std::vector<double> bers;
    std::vector<MethodOutcome> methods;
    double seconds = 0.0;              // the whole run (never written to results.json)
};

// Runs every method on the checkpoint `trained_checkpoint` (see the top of this file), writing the
// per-method files into options.out_dir. ValueError for an unknown method or bad campaign options
// before anything runs; IoError when out_dir cannot be written.
ComparisonResult run_comparison(const std::string& trained_checkpoint, const ComparisonData& data,
                                const ComparisonOptions& options);

// ---------------------------------------------------------------------------------------------
// Results (comparison_report.cpp).

// Percent of the images without a prediction over all trials of point `point`.
double no_prediction_share(const MethodOutcome& outcome, size_t point);

std::string results_markdown(const ComparisonResult& result, bool times);
// The same records without the settings (in .json and .md), one line each.
std::string results_csv(const ComparisonResult& result, bool times);
// {"model", ..., "records": [one per method and BER: method, format, ber, trials, mean_accuracy,
// std, ci95, no_prediction, clean_accuracy, thresholds, guards, harden_seconds, settings,
// paired_vs_proact]}; harden_seconds is null without times, an undefined CI null.
std::string results_json(const ComparisonResult& result, bool times);
std::string results_svg(const ComparisonResult& result);
// The four files above into options.out_dir.
void write_comparison_files(const ComparisonResult& result, const ComparisonOptions& options);

}  // namespace proact::method
