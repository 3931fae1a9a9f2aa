// Optimizer: what SGD, Adam and AdamW share — parameter groups, per-parameter state, the freezing
// rule, gradient checks, snapshots.
//
// The freezing rule. In step(), a parameter whose requires_grad() is false, or that has no gradient
// (grad undefined), is not touched at all: no weight decay, no momentum or moment update, and its
// own step count (Adam's bias correction) does not advance. When it is unfrozen, it resumes from the
// state it had. A frozen parameter that still holds a gradient (zero or stale, as after
// Module::freeze) is skipped too: that is the reference toolbox's bug (Adam momentum moving
// zero-gradient thresholds) made impossible. A defined gradient of zeros on a trainable parameter
// is a gradient, as in PyTorch: momentum and decay still move it.
//
// Gradients are checked before anything moves: one NaN or Inf anywhere makes step() throw
// core::NumericError naming the parameter, with every parameter and every state left as it was.
//
// State is kept per parameter, keyed by the Variable's identity (Variable::id()), so the same
// optimizer can freeze and unfreeze parameters one layer at a time, try several weight decays
// (param_group(name).weight_decay = ...), and go back with snapshot()/restore() or reset_state().
#pragma once

#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "autograd/variable.hpp"

namespace proact::optim {

using autograd::Variable;
using core::Tensor;

// (full name, parameter), as Module::named_parameters() returns them.
using NamedParameters = std::vector<std::pair<std::string, Variable>>;

// Parameters sharing hyper-parameters. Each optimizer reads the fields it needs and ignores the
// rest (SGD: momentum, nesterov; Adam/AdamW: beta1, beta2, eps). Defaults are PyTorch's.
struct ParamGroup {
    NamedParameters params;
    float lr = 1e-3f;
    float weight_decay = 0.0f;
    std::string name;  // optional; param_group(name) finds the group, error messages quote it
    // SGD (dampening is always 0)
    float momentum = 0.0f;
    bool nesterov = false;
    // Adam, AdamW
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
};

// What an optimizer remembers about one parameter between steps. Buffers are flat, [numel] of
// the parameter, and undefined until the first update that needs them.
struct ParamState {
    int64_t step = 0;         // updates applied to this parameter (Adam's bias correction uses it)
    Tensor momentum_buffer;   // SGD with momentum
    Tensor exp_avg;           // Adam: first moment estimate
    Tensor exp_avg_sq;        // Adam: second moment estimate
};

// A deep copy of an optimizer's state, from Optimizer::snapshot(). Restorable any number of times
// into the optimizer that took it (restore copies again).
struct OptimizerSnapshot {
    std::vector<ParamGroup> groups;                       // hyper-parameters; params only to check identity
    std::vector<std::pair<Variable, ParamState>> states;  // per-parameter state, deep copies
    std::vector<std::pair<Variable, Tensor>> values;      // parameter values, deep copies; empty unless with_values
    bool has_values() const { return !values.empty(); }
};

class Optimizer {
public:
    virtual ~Optimizer() = default;
    // State is keyed by parameter identity and buffers are shared handles: a copy would alias them.
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;
    Optimizer(Optimizer&&) = default;
    Optimizer& operator=(Optimizer&&) = default;

    // "SGD", "Adam", "AdamW": for messages.
    virtual const char* type_name() const = 0;

    // Adds a group and returns its index. ValueError if a parameter is undefined, not a leaf, or
    // already in this optimizer, if a non-empty name is taken, or if a hyper-parameter is out of range.
    // This overload takes every field as given: start from defaults() to inherit the optimizer's.
    size_t add_param_group(ParamGroup group);
    // With the optimizer's defaults, optionally overriding lr and weight decay.
    size_t add_param_group(NamedParameters params, std::string name = "");
    size_t add_param_group(NamedParameters params, float lr, float weight_decay, std::string name = "");
    // The hyper-parameters given at construction (params empty).
    const ParamGroup& defaults() const { return defaults_; }

    // One update of every trainable parameter that has a gradient (see the freezing rule above).
    // NumericError on a non-finite gradient, ShapeError if a gradient's shape is not its
    // parameter's, ValueError on a bad hyper-parameter: in every case nothing is modified.
    void step();
    // Makes every gradient undefined (frozen parameters' too).
    void zero_grad();

    // Groups. Change hyper-parameters through these references; the params lists are fixed once added.
    size_t group_count() const { return groups_.size(); }
    ParamGroup& param_group(size_t index);
    const ParamGroup& param_group(size_t index) const;
    ParamGroup& param_group(const std::string& name);  // ValueError if no group has that name
    const ParamGroup& param_group(const std::string& name) const;
    const std::vector<ParamGroup>& param_groups() const { return groups_; }
    bool contains(const Variable& param) const;

    // Learning rate. set_lr(lr) sets every group. set_lr_factor(f) sets each group to f times the
    // lr it had when added, for one schedule over groups with different rates (Schedule::factor_at).
    void set_lr(float lr);
    void set_lr(size_t group, float lr);
    float lr(size_t group = 0) const { return param_group(group).lr; }
    float initial_lr(size_t group) const;
    void set_lr_factor(float factor);

    // Per-parameter state: null / 0 while the parameter has never been updated.
    const ParamState* state(const Variable& param) const;
    int64_t step_count(const Variable& param) const;

    // Deep copy of the groups' hyper-parameters and every parameter's state; with_values also copies
    // the parameters' values. restore() puts all of it back (values in place, so modules see them) and
    // drops state taken since; which parameters are frozen is the model's business and is left as
    // it is. ValueError if the snapshot's groups are not this optimizer's, ShapeError if a value's
    // shape changed; nothing is modified then.
    OptimizerSnapshot snapshot(bool with_values = false) const;
    void restore(const OptimizerSnapshot& snapshot);
    // Drops momentum buffers, Adam moments and step counts: the next step is a first step again.
    void reset_state();
    void reset_state(const Variable& param);

protected:
    explicit Optimizer(ParamGroup defaults);

    // What is wrong with the group's hyper-parameters ("lr must be finite and >= 0, got -1"), or ""
    // if nothing is: step() asks every time, so the good case builds no string. The base checks lr
    // and weight_decay; optimizers extend it (ask the base first).
    virtual std::string group_problem(const ParamGroup& group) const;
    // ValueError "<where>: <problem>" if group_problem finds one.
    void check_group(const ParamGroup& group, const std::string& where) const;
    template <class... Parts>
    static std::string concat(const Parts&... parts) {
        std::ostringstream out;
        (out << ... << parts);
        return out.str();
    }

    // Applies one update to one parameter whose checks passed. value and grad are contiguous, same
    // length; state.step has already been incremented. Must not throw (it runs after the checks).
    virtual void update(const ParamGroup& group, std::span<float> value, std::span<const float> grad,
                        ParamState& state) = 0;

    // "SGD group 1 ("thresholds")": for messages.
    std::string group_label(size_t index) const;

private:
    using Key = const autograd::VariableData*;
    void check_all_before_step() const;

    ParamGroup defaults_;
    std::vector<ParamGroup> groups_;
    std::vector<float> initial_lrs_;               // one per group, the lr at add time
    std::unordered_map<Key, size_t> group_of_;     // every parameter -> its group
    std::unordered_map<Key, ParamState> state_;    // parameters updated at least once
};

}  // namespace proact::optim
