// HybridClip: the configuration that turns a model's ReLUs into ClippedReLUs, and the surgery that
// does it (docs/METHOD.md "ProAct progressive training", step 1).
//
//   HybridClip config;                                  // hybrid, smooth, k = 20: ProAct's
//   auto clipped = apply_clip(*model, {1, 28, 28}, config);
//   // clipped[i].path = "features.1", ...; "features.1.threshold" is a new parameter, every other
//   // parameter keeps its name
//
// Schemes: hybrid = layer-wise everywhere, neuron-wise in the last clipped layer in execution
// order; layer, channel, neuron = that granularity everywhere. The checkpoint metadata key
// "activation" records the configuration as HybridClip::to_string() ("hybrid:smooth:20",
// "layer:hard"), so load_model rebuilds the clipped model with no extra flags.
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "layers/clipped_relu.hpp"

namespace proact::layers {

enum class ClipScheme { hybrid, layer, channel, neuron };

struct HybridClip {
    ClipScheme scheme = ClipScheme::hybrid;
    core::ClipMode mode = core::ClipMode::smooth;
    float slope = 20.0f;  // smooth mode only

    // The granularity of clipped layer `index` of `count` (in execution order).
    core::ClipGranularity granularity_of(size_t index, size_t count) const;
    // "hybrid:smooth:20", "neuron:saturate": scheme, mode and, in smooth mode, the slope.
    std::string to_string() const;
    // The inverse of to_string; a missing slope is 20. ValueError naming the part and the choices.
    static HybridClip parse(std::string_view text);
};

// "hybrid" | "layer" | "channel" | "neuron"; ValueError otherwise.
ClipScheme parse_clip_scheme(std::string_view text);
const char* to_string(ClipScheme scheme);

// An activation site: a ReLU or ClippedReLU module, where it sits and the shape of one sample's
// activation there.
struct ActivationSite {
    std::string path;             // "features.1", "layer1.0.relu2"
    Shape activation_shape;       // (C, ...) of one sample
    std::shared_ptr<Module> module;
};

// The ReLU and ClippedReLU modules of `model` in execution order, from one forward pass of a zero
// batch of one sample of `input_shape` in eval mode (the model's mode is restored; nothing else
// changes). A module run twice is listed once, at its first run.
std::vector<ActivationSite> activation_sites(Module& model, const Shape& input_shape);

// Replaces every ReLU of `model` by a ClippedReLU configured by `config` (thresholds +inf until
// set) and returns the clipped layers in execution order. ValueError if the model has no ReLU.
std::vector<ActivationSite> apply_clip(Module& model, const Shape& input_shape, const HybridClip& config);

// The model's configuration, read from its ClippedReLUs (depth-first registration order, the
// execution order of every zoo model): nothing when it has none; ValueError when they fit no
// scheme or mix modes or slopes.
std::optional<HybridClip> clip_config_of(const Module& model);

// Checkpoint metadata: {"activation": config.to_string()} for a clipped model, {} otherwise.
std::map<std::string, std::string> clip_metadata(const Module& model);

// What load_model does between building the model and loading its weights: with an "activation"
// entry in `metadata`, apply_clip with that configuration; then every "*threshold" tensor of
// `tensors` must be a threshold of the model with its shape and the other way round. FormatError
// naming `source` and the entry or the tensor otherwise (nothing is loaded).
void apply_clip_metadata(Module& model, const Shape& input_shape, const std::map<std::string, std::string>& metadata,
                         const std::map<std::string, Tensor>& tensors, const std::string& source);

}  // namespace proact::layers
