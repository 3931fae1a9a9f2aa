// ReLU, Flatten and Identity as modules.
//
// Every activation of every network is a ReLU *module* registered as a child (never a bare call to
// autograd::relu inside a forward): hardening finds them by type, replaces each one with a clipped
// activation through Module::replace_child, and observes their outputs with forward hooks.
#pragma once

#include <string>
#include <utility>

#include "layers/module.hpp"

namespace proact::layers {

// y = max(x, 0), any shape: autograd::relu, PyTorch's (NaN passes, +inf stays, -inf becomes 0).
class ReLU : public Module {
public:
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "ReLU"; }
};

// y = x, any shape (the same Variable, no graph node). fold_batch_norm (fold_batchnorm.hpp) puts
// one where each batch norm it folded was, so the modules after it keep their names; `replaces`
// names that module's type ("BatchNorm2d"), empty for a plain Identity. It acts channel by channel
// (the fault campaign passes a channel subset through it).
class Identity : public Module {
public:
    explicit Identity(std::string replaces = "") : replaces_(std::move(replaces)) {}
    Variable forward(const Variable& input) override { return input; }
    std::string type_name() const override { return "Identity"; }
    std::string describe() const override;
    const std::string& replaces() const { return replaces_; }

private:
    std::string replaces_;
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
