// A hardening that goes layer by layer (ProAct), saved after every finished layer so that an
// interrupted run continues where it stopped and ends with the bytes an uninterrupted run writes
// (`proact harden --resume`).
//
//   LayerResume resume{.state_path = "hardened.safetensors.partial", .resume = true, .key = settings};
//   if (std::optional<LayerState> done = load_layer_state(resume)) ...   // layers finished before
//   save_layer_state(resume, model, logs);                                // after each layer
//
// The state is the model's "*threshold" tensors after the finished layers and each finished
// layer's log (the method's JSON of it, times included). Nothing else carries over from one layer
// to the next: a layer's tries restart its own thresholds and optimizer state, its shuffles are
// keyed by (seed, layer, epoch), and the inputs and settings are in the key. The file is a
// safetensors file, written atomically.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "layers/module.hpp"

namespace proact::method {

struct LayerResume {
    std::string state_path;                  // empty: nothing written or read
    bool resume = false;                     // continue from state_path when the file exists
    std::map<std::string, std::string> key;  // the caller's inputs and settings; must match the file's
};

struct LayerState {
    std::vector<std::string> layers;                 // per finished layer, its log (JSON), in the order visited
    std::map<std::string, core::Tensor> thresholds;  // every "*threshold" parameter after them
};

// Writes `model`'s thresholds and the logs of the layers finished so far to resume.state_path,
// atomically, with resume.key. Nothing when state_path is empty.
void save_layer_state(const LayerResume& resume, const layers::Module& model, const std::vector<std::string>& layers);

// The state in resume.state_path when resume.resume is set and the file exists; nothing otherwise.
// ValueError naming the file and the first setting that differs from resume.key; FormatError when
// the file is not a hardening state or is damaged.
std::optional<LayerState> load_layer_state(const LayerResume& resume);

}  // namespace proact::method
