// ReLU and Flatten as modules.
//
// Every activation of every network is a ReLU *module* registered as a child (never a bare call to
// autograd::relu inside a forward): hardening finds them by type, replaces each one with a clipped
// activation through Module::replace_child, and observes their outputs with forward hooks.
#pragma once

#include "layers/module.hpp"

namespace proact::layers {

// y = max(x, 0), any shape: autograd::relu, PyTorch's (NaN passes, +inf stays, -inf becomes 0).
class ReLU : public Module {
public:
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "ReLU"; }
};

// (B, d1, d2, ...) -> (B, d1*d2*...): axes from start_axis on are merged into one.
class Flatten : public Module {
public:
    explicit Flatten(int64_t start_axis = 1) : start_axis_(start_axis) {}
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "Flatten"; }
    std::string describe() const override;

private:
    int64_t start_axis_;
};

}  // namespace proact::layers
