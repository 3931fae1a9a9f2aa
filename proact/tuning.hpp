// Tuning a method's settings on the validation split under "tuning" faults, so that no default is
// ever chosen on the faults, seed or images of a reported campaign (`proact tune`).
//
//   TuneOptions options;
//   options.method = "proact";
//   options.grid = {parse_grid_axis("tolerance=0.5,1,1.5"), parse_grid_axis("lr_scalar=0.01,0.003")};
//   options.campaign.bers = {1e-5, 1e-4, 3e-4};  options.campaign.trials = 10;
//   TuneResult result = run_tuning("model.safetensors", train, validation, settings, options, RunSettings{seed});
//   std::puts(tuning_markdown(result).c_str());
//
// Every setting of the grid (the cartesian product of its axes, the first axis slowest) is run the
// same way: the trained model loaded afresh, batch norm folded (or kept), its weights put on the
// storage grid, hardened by the method with those settings on (train, validation), every fault
// target quantised, then one campaign on the VALIDATION images with fault purpose "tuning". Its
// score is curve_score (ftclipact.hpp): the mean accuracy over log10 BER, as FtClipAct scores
// its candidates. A setting is eligible when its clean validation accuracy is at most
// max_clean_drop points below the unclipped model's; the best is the eligible one with the highest
// score (ties: the first). `budget` bounds the settings evaluated, so that methods compared
// against each other are tuned with the same number of evaluations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "faults/campaign.hpp"
#include "proact/methods.hpp"

namespace proact::method {

struct GridAxis {
    std::string option;               // a MethodOption name of the method
    std::vector<std::string> values;  // as set_method_option takes them
};
// "name=v1,v2,..." -> {name, {v1, v2, ...}}. ValueError naming the text otherwise.
GridAxis parse_grid_axis(const std::string& text);

struct TuneOptions {
    std::string method;
    std::vector<GridAxis> grid;       // empty: the defaults alone
    faults::CampaignOptions campaign; // format, BERs, trials (seed: run.seed; purpose forced "tuning")
    std::string batch_norm = "fold";
    double max_clean_drop = 1.5;      // validation accuracy points
    int64_t budget = 0;               // settings at most (0: no bound); a larger grid is refused
};

struct TuneRow {
    std::vector<std::string> values;  // per axis
    double clean_accuracy = 0.0;      // validation, hardened, percent
    double clean_drop = 0.0;          // below the unclipped model's validation accuracy
    std::vector<double> accuracy;     // mean per BER, percent
    double score = 0.0;
    bool eligible = false;
    int64_t thresholds = 0;
    double seconds = 0.0;             // hardening
};

struct TuneResult {
    std::string method, model, format;
    std::vector<std::string> axes;
    std::vector<double> bers;
    int64_t trials = 0;
    uint64_t seed = 0;
    int64_t validation_images = 0;
    double original_accuracy = 0.0;   // validation, the unclipped model as stored
    double max_clean_drop = 0.0;
    std::vector<TuneRow> rows;
    int best = -1;                    // index into rows; -1: no setting eligible
};

// ValueError for an unknown method or option, a bad value, or a grid over the budget, before any
// setting runs. `on_row` sees each row as it is done.
TuneResult run_tuning(const std::string& checkpoint, const datasets::Dataset& train,
                      const datasets::Dataset& validation, const MethodSettings& settings, const TuneOptions& options,
                      const RunSettings& run, const std::function<void(const TuneRow&)>& on_row = {});

std::string tuning_markdown(const TuneResult& result);
std::string tuning_csv(const TuneResult& result);
std::string tuning_json(const TuneResult& result);

}  // namespace proact::method
