// Ranger profiling: the largest value each ReLU puts out on a seeded subset of the training set
// (docs/METHOD.md "Ranger"), the starting thresholds of every method, and Ranger itself as the cheap
// hardening baseline (thresholds = those maxima, no training).
//
//   auto subset = ranger_subset(train.size(), 1024, seed);            // seeded, without repeats
//   auto profiles = profile_activations(*model, {1, 28, 28}, train.gather(subset));
//   ranger_harden(*model, {1, 28, 28}, profiles, HybridClip::parse("layer:hard"));
//
// Profiling runs in eval mode without a graph and changes nothing of the model: its hooks are
// removed however the pass ends and its mode is restored (the toolbox leaves its hooks behind, and
// its running max mixes channels from the third batch on: here each element keeps its own max).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "layers/hybrid_clip.hpp"

namespace proact::method {

using core::Shape;
using core::Tensor;

struct ActivationProfile {
    std::string path;        // of the ReLU, "features.1"
    Shape activation_shape;  // (C, ...) of one sample
    Tensor neuron_max;       // activation_shape: the max of each element over the images

    // [C]: the max over each channel's elements.
    Tensor channel_max() const;
    // The max over everything.
    float layer_max() const;
    // The threshold of ClippedReLU::threshold_shape(granularity, activation_shape) these maxima give.
    Tensor threshold(core::ClipGranularity granularity) const;
};

// The first `images` indices of a permutation of [0, count) drawn from Rng(seed, "ranger"), in
// ascending order (all of them when images >= count). ValueError for images < 1.
std::vector<int64_t> ranger_subset(int64_t count, int64_t images, uint64_t seed);

// Rows `indices` of `images` (N, ...) as a new contiguous tensor.
Tensor gather_images(const Tensor& images, std::span<const int64_t> indices);

// One profile per ReLU (or ClippedReLU) of `model`, in execution order, over `images` (N, ...)
// in batches of `batch_size`. ValueError for a model without ReLUs or no images.
std::vector<ActivationProfile> profile_activations(layers::Module& model, const Shape& input_shape,
                                                   const Tensor& images, int64_t batch_size = 256);

// profile_activations on the seeded ranger_subset of `train` (only those images are made float):
// the profiles every method starts from.
std::vector<ActivationProfile> profile_training_subset(layers::Module& model, const Shape& input_shape,
                                                       const datasets::Dataset& train, int64_t images, uint64_t seed);

// Clips `model` with `config` and sets every threshold from its layer's profile; returns the
// clipped layers in execution order. ValueError if the profiles are not those of the model's ReLUs.
std::vector<layers::ActivationSite> ranger_harden(layers::Module& model, const Shape& input_shape,
                                                  const std::vector<ActivationProfile>& profiles,
                                                  const layers::HybridClip& config);

}  // namespace proact::method
