// Seeded permutations and train/validation splits.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/rng.hpp"
#include "datasets/dataset.hpp"

namespace proact::datasets {

// A uniformly random permutation of [0, count) (Fisher-Yates over rng.below).
std::vector<int64_t> random_permutation(int64_t count, core::Rng& rng);

// Splits `dataset` into (train, validation): round(validation_fraction * N) samples, chosen by a
// permutation drawn from Rng(seed, "split"), go to validation, the rest to train. Together the two
// parts hold every sample exactly once; each part keeps the samples in their original order. Both
// are views (Dataset::subset): they share the stored pixels of `dataset`.
// Not stratified. ValueError unless 0 <= validation_fraction <= 1.
std::pair<Dataset, Dataset> split(const Dataset& dataset, double validation_fraction, uint64_t seed);

}  // namespace proact::datasets
