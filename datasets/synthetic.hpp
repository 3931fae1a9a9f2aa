// Synthetic tabular datasets for tests and toy experiments. Tabular sets use images of shape
// [N, F] (F features per sample) instead of [N, C, H, W]; the DataLoader batches them as [B, F].
// The same seed gives the same bytes: all randomness comes from core::Rng streams named
// (seed, "two_spirals") and (seed, "gaussian_blobs").
#pragma once

#include <cstdint>

#include "datasets/dataset.hpp"

namespace proact::datasets {

// Two interleaved spirals in the plane, 1.5 turns each, radius growing from 0 to 1; class 1 is
// class 0 rotated by half a turn. Points are evenly spaced along each spiral, then each coordinate
// gets Gaussian noise of standard deviation `noise`. images [2 * points_per_class, 2], samples
// ordered class 0 then class 1.
Dataset two_spirals(int64_t points_per_class, float noise, uint64_t seed);

// `num_classes` isotropic Gaussian clusters in `num_features` dimensions. Centres are drawn
// uniformly from [-center_range, center_range]^F, points from N(centre, stddev^2 I).
// images [num_classes * points_per_class, num_features], ordered by class.
Dataset gaussian_blobs(int64_t points_per_class, int num_classes, int num_features, float stddev, uint64_t seed,
                       float center_range = 5.0f);

}  // namespace proact::datasets
