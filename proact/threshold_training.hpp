// What threshold-only training shares (FitAct; ProAct, which caches the inputs of several layers
// at once in proact.cpp, uses the cap, the data checks and the guard): the frozen prefix's outputs computed once, accuracy of the trained suffix on
// them, a seeded training cap, and the guard that restores every parameter's requires_grad.
//
// The prefix (stages [0, stage) of a StageChain) holds no trained parameter and the model is in
// eval mode, so its output for the training and validation images is fixed: kept in memory when it
// fits the budget, else recomputed per batch from the images.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "datasets/dataset.hpp"
#include "proact/stage_chain.hpp"

namespace proact::method {

struct PrefixInputs {
    size_t stage = 0;
    bool cached = false;
    core::Tensor train_inputs, validation_inputs;  // (N, ...) at `stage`, when cached
};

// The inputs of `stage` for both sets, cached when they fit budget_bytes (stage 0: the images).
PrefixInputs prefix_inputs(const StageChain& chain, const datasets::Dataset& train, const datasets::Dataset& validation,
                           size_t stage, int64_t budget_bytes);
// The input of the prefix's stage for training rows `rows`, without a graph.
core::Tensor batch_input(const StageChain& chain, const datasets::Dataset& train, const PrefixInputs& prefix,
                         std::span<const int64_t> rows);
// Top-1 accuracy (percent) on `validation` of the suffix [prefix.stage, end) on the prefix inputs.
double suffix_accuracy(const StageChain& chain, const datasets::Dataset& validation, const PrefixInputs& prefix);

// `train` itself when max_images is 0 or covers it, else a seeded subset of max_images rows drawn
// from Rng(seed, stream), in ascending order.
datasets::Dataset capped_train_set(const datasets::Dataset& train, int64_t max_images, uint64_t seed,
                                   const char* stream);

// ValueError / ShapeError naming `method` and the set when `data` is empty or does not fit.
void check_data(const datasets::Dataset& data, const char* method, const char* what, const core::Shape& input_shape);

// Restores every parameter's requires_grad however hardening ends.
struct RequiresGradGuard {
    std::vector<std::pair<autograd::Variable, bool>> saved;
    explicit RequiresGradGuard(layers::Module& model);
    ~RequiresGradGuard();
};

}  // namespace proact::method
