// Fault targets: the parameter tensors whose stored bits a campaign may flip.
//
// Default rule (docs/METHOD.md "Fault model"): the weights and biases of every Conv2d and Linear
// module, plus every parameter whose name ends in "threshold", scalars included (a clipping
// threshold is a stored word like any weight; the toolbox's shape-[0] scalars escape faults only by
// accident), and the weight range guard's bounds ("*_bounds", layers/range_guard.hpp), stored like
// thresholds. include_thresholds = false leaves the thresholds and bounds out (to fault a hardened
// model's weights alone). Batch-norm parameters and buffers are not targets unless a pattern names them.

// Patterns are shell globs on full PyTorch-style names ("features.*.weight", "classifier.4.*",
// "*threshold"): the targets are the parameters matched by any pattern, in the model's parameter
// order. A pattern that matches nothing is a typo and throws ValueError.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "layers/module.hpp"

namespace proact::faults {

struct FaultTarget {
    std::string name;                 // full parameter name, "features.0.weight"
    std::string module_path;          // dotted path of the module that registered it, "features.0"
    std::string module_type;          // "Conv2d", "Linear", "HybridClip", ...
    autograd::Variable parameter;     // shares storage with the model: writes go to the model
    int64_t numel() const { return parameter.numel(); }
    std::span<float> values() { return parameter.value().span(); }
};

// True for a parameter the default rule selects (see above), given the type of the module that
// registered it, the parameter's name on that module ("weight", "threshold") and its size.
bool is_default_target(const std::string& module_type, const std::string& local_name, int64_t numel,
                       bool include_thresholds = true);

// A clipping threshold ("*threshold") or a range-guard bound ("*_bounds"): what a hardening
// method adds to the stored model, as opposed to its weights.
bool is_protection_parameter(const std::string& name);

// The targets of `model`: by the default rule when `patterns` is empty, otherwise every parameter
// matched by some pattern. ValueError naming the pattern and some parameter names when a pattern
// matches nothing, or when the result is empty (a model without conv/linear layers). Every target
// must be contiguous (parameters always are). include_thresholds = false drops every "*threshold"
// and "*_bounds" parameter from the result, whichever rule selected it.
std::vector<FaultTarget> select_targets(layers::Module& model, const std::vector<std::string>& patterns = {},
                                        bool include_thresholds = true);

// Total elements over the targets.
int64_t target_values(const std::vector<FaultTarget>& targets);

}  // namespace proact::faults
