// The weight range guard (beyond the paper; kernel: core/range_guard.hpp, op: autograd::range_guard).
//
//   layers::apply_range_guard(*model);          // every Conv2d / Linear: bounds = fault-free [min, max]
//   // "features.0.weight_bounds" = [min, max] of features.0.weight, ".bias_bounds" of the bias
//   layers::save_checkpoint("guarded.safetensors", *model);   // metadata "range_guard" = "conv,linear"
//   auto again = layers::load_model("guarded.safetensors");   // guarded again, bounds loaded
//
// The bounds are parameters (2 values per tensor, requires_grad false) so they are saved, loaded
// and, like thresholds, fault targets by default (they sit in memory next to the weights: a flipped
// bound is part of the fault model; faults::select_targets with include_thresholds = false leaves
// them out too). The guard acts at forward time only: the stored weights are never edited, so a
// campaign that restores the bits it flipped restores the model. No gradient flows into the bounds
// (a guarded model is not trained further); the weights still get theirs where they are in range.
#pragma once

#include <map>
#include <string>

#include "layers/module.hpp"

namespace proact::layers {

// [min, max] of `values` as a [2] tensor. ValueError for an empty tensor or a non-finite value
// (the bounds are those of a fault-free model).
Tensor value_bounds(const Tensor& values);

// autograd::range_guard(values, bounds), or `values` itself when bounds is undefined (unguarded).
Variable guarded(const Variable& values, const Variable& bounds);
// The same on values, without a graph.
Tensor guarded_value(const Variable& values, const Variable& bounds);

// True for a parameter name the guard registers ("features.0.weight_bounds").
bool is_bounds_parameter(const std::string& name);

// Enables the guard on every Conv2d and Linear of `model` not guarded yet; returns the number of
// bound values the model holds afterwards (2 per guarded tensor). ValueError if it has none.
int64_t apply_range_guard(Module& model);
// Bound values of `model` (0 when unguarded).
int64_t range_guard_values(const Module& model);

// Checkpoint metadata: {"range_guard": "conv,linear"} when every Conv2d and Linear is guarded, {}
// when none is; ValueError for a partly guarded model (it could not be rebuilt from metadata).
std::map<std::string, std::string> guard_metadata(const Module& model);

// What load_model does before loading the weights: with a "range_guard" entry, apply_range_guard;
// then every "*_bounds" tensor of `tensors` must be a bounds parameter of the model with shape [2],
// and the other way round. FormatError naming `source` and the entry or tensor otherwise.
void apply_guard_metadata(Module& model, const std::map<std::string, std::string>& metadata,
                          const std::map<std::string, Tensor>& tensors, const std::string& source);

}  // namespace proact::layers
