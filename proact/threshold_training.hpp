// What threshold-only training (ProAct, FitAct) shares: the frozen prefix's outputs computed once,
// accuracy of the trained suffix on them, a seeded training cap, how both start, what both report,
// and the guard that restores every parameter's requires_grad.
//
// The prefix (stages [0, stage) of a layers::StageChain) holds no trained parameter and the model
// is in eval mode, so its output for the training and validation images is fixed: kept in memory
// when it fits the budget, else recomputed per batch from the images. FitAct trains the layers
// after one prefix, ProAct one layer after another and so the prefixes of several stages.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "datasets/dataset.hpp"
#include "proact/ranger.hpp"
#include "layers/stage_chain.hpp"

namespace proact::method {

// The input of one stage for the training and the validation images.
struct PrefixInputs {
    size_t stage = 0;
    bool cached = false;
    core::Tensor train_inputs, validation_inputs;  // (N, ...) at `stage`, when cached
};

// The inputs of each of `stages` (any order, repeats allowed) for both sets, keyed by stage, from
// one pass over each set of the model as it is now. Cached later stages first (they are smaller,
// and the last layers are trained first) while budget_bytes lasts; stage 0's input is the images
// themselves and costs nothing.
std::map<size_t, PrefixInputs> prefix_inputs(const layers::StageChain& chain, const datasets::Dataset& train,
                                             const datasets::Dataset& validation, const std::vector<size_t>& stages,
                                             int64_t budget_bytes);
// The input of the prefix's stage for training rows `rows`, without a graph.
core::Tensor batch_input(const layers::StageChain& chain, const datasets::Dataset& train, const PrefixInputs& prefix,
                         std::span<const int64_t> rows);
// Top-1 accuracy (percent) on `validation` of the suffix [prefix.stage, end) on the prefix inputs.
double suffix_accuracy(const layers::StageChain& chain, const datasets::Dataset& validation,
                       const PrefixInputs& prefix);

// `train` itself when max_images is 0 or covers it, else a seeded subset of max_images rows drawn
// from Rng(seed, stream), in ascending order.
datasets::Dataset capped_train_set(const datasets::Dataset& train, int64_t max_images, uint64_t seed,
                                   const char* stream);

// ValueError / ShapeError naming `method` and the set when `data` is empty or does not fit.
void check_data(const datasets::Dataset& data, const char* method, const char* what, const core::Shape& input_shape);

// What ProAct's and FitAct's results both hold.
struct ThresholdTrainingResult {
    std::string activation;             // HybridClip::to_string()
    int64_t threshold_count = 0;
    int64_t train_images = 0, validation_images = 0, profile_images = 0;
    double original_accuracy = 0.0;     // validation, the unclipped model
    double ranger_accuracy = 0.0;       // validation, after the Ranger initialisation
    double final_accuracy = 0.0;        // validation, hardened
    uint64_t seed = 0;                  // the run's (RunSettings)
    double seconds = 0.0;               // all of it (in the JSON only with times: it differs per run)
};

// {"method", then the fields above but the seconds, in that order}: the head of both JSON logs.
nlohmann::ordered_json result_json_head(const char* method, const ThresholdTrainingResult& result);

// How ProAct and FitAct start, with the model in eval mode (their layers::ModeGuard): `full_train`
// and `validation` checked against input_shape (errors name `method`), Ranger's profiles of the
// seeded subset, the training set capped by max_images (Rng stream `stream`), and in `result`
// the sizes and the unclipped model's validation accuracy.
struct TrainingStart {
    std::vector<ActivationProfile> profiles;
    datasets::Dataset train;
};
TrainingStart start_threshold_training(layers::Module& model, const core::Shape& input_shape,
                                       const datasets::Dataset& full_train, const datasets::Dataset& validation,
                                       int64_t profile_images, int64_t max_images, uint64_t seed, const char* method,
                                       const char* stream, ThresholdTrainingResult& result);

// Restores every parameter's requires_grad however hardening ends.
struct RequiresGradGuard {
    std::vector<std::pair<autograd::Variable, bool>> saved;
    explicit RequiresGradGuard(layers::Module& model);
    ~RequiresGradGuard();
};

}  // namespace proact::method
