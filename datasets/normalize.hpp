// Per-channel normalisation: x -> (x - mean[c]) / std[c], with c the index along axis 1 of the
// images (the channel of [N, C, H, W], the feature of tabular [N, F]).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "datasets/dataset.hpp"

namespace proact::datasets {

struct Normalization {
    std::vector<float> mean{};  // one per channel; both empty: no normalisation
    std::vector<float> std{};   // one per channel, each > 0
    bool enabled() const { return !mean.empty() || !std.empty(); }
};

// Mean and (population) standard deviation of every channel over the whole dataset, accumulated in
// double. Fashion-MNIST train gives mean 0.2860, std 0.3530.
Normalization channel_statistics(const Dataset& dataset);

// Checks that `normalization` has `channels` means and stds and every std is finite and > 0;
// ValueError naming `owner` otherwise.
void check_normalization(const Normalization& normalization, int64_t channels, const char* owner);

// samples is (count, channels, spatial) contiguous, normalised in place. Computes
// (x - mean) * (1 / std) per element, so results may differ from a true division in the last bit.
void normalize_samples(std::span<float> samples, int64_t count, int64_t channels, int64_t spatial,
                       const Normalization& normalization);

}  // namespace proact::datasets
