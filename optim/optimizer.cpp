#include "optim/optimizer.hpp"

#include <cmath>
#include <limits>

#include "core/threads.hpp"

namespace proact::optim {

using core::fail;

namespace {

ParamState deep_copy(const ParamState& state) {
    ParamState copy;
    copy.step = state.step;
    if (state.momentum_buffer.defined()) copy.momentum_buffer = state.momentum_buffer.clone();
    if (state.exp_avg.defined()) copy.exp_avg = state.exp_avg.clone();
    if (state.exp_avg_sq.defined()) copy.exp_avg_sq = state.exp_avg_sq.clone();
    return copy;
}

struct NonFinite {
    int64_t count = 0;
    int64_t first = -1;  // index of the first non-finite element
};

// Counts NaN/Inf in data[0, n) and finds the first one.
NonFinite find_non_finite(const float* data, int64_t n) {
    int64_t count = 0;
    int64_t first = std::numeric_limits<int64_t>::max();
#pragma omp parallel for schedule(static) reduction(+ : count) reduction(min : first) if (n > core::kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(data[i])) {
            ++count;
            if (i < first) first = i;
        }
    }
    return {count, count ? first : -1};
}

bool finite_non_negative(float x) { return std::isfinite(x) && x >= 0.0f; }

}  // namespace

Optimizer::Optimizer(ParamGroup defaults) : defaults_(std::move(defaults)) {
    defaults_.params.clear();
    defaults_.name.clear();
}

std::string Optimizer::group_label(size_t index) const {
    std::string label = std::string(type_name()) + " group " + std::to_string(index);
    if (index < groups_.size() && !groups_[index].name.empty()) label += " (\"" + groups_[index].name + "\")";
    return label;
}

std::string Optimizer::group_problem(const ParamGroup& group) const {
    if (!finite_non_negative(group.lr)) return concat("lr must be finite and >= 0, got ", group.lr);
    if (!finite_non_negative(group.weight_decay))
        return concat("weight_decay must be finite and >= 0, got ", group.weight_decay);
    return {};
}

void Optimizer::check_group(const ParamGroup& group, const std::string& where) const {
    if (std::string problem = group_problem(group); !problem.empty()) fail<core::ValueError>(where, ": ", problem);
}

size_t Optimizer::add_param_group(ParamGroup group) {
    const size_t index = groups_.size();
    std::string where = std::string(type_name()) + ".add_param_group (group " + std::to_string(index) +
                        (group.name.empty() ? std::string() : " \"" + group.name + "\"") + ")";
    check_group(group, where);
    if (!group.name.empty())
        for (size_t g = 0; g < groups_.size(); ++g)
            if (groups_[g].name == group.name)
                fail<core::ValueError>(where, ": the name \"", group.name, "\" is taken by group ", g);
    std::unordered_map<Key, size_t> added;
    for (size_t i = 0; i < group.params.size(); ++i) {
        const auto& [name, param] = group.params[i];
        if (!param.defined()) fail<core::ValueError>(where, ": parameter '", name, "' is an undefined Variable");
        if (!param.is_leaf())
            fail<core::ValueError>(where, ": parameter '", name, "' is not a leaf (it is the output of ",
                                   param.node()->op, "); optimise the leaf it was computed from");
        if (auto it = group_of_.find(param.id()); it != group_of_.end())
            fail<core::ValueError>(where, ": parameter '", name, "' is already in group ", it->second);
        if (!added.emplace(param.id(), i).second)
            fail<core::ValueError>(where, ": parameter '", name, "' appears twice in the group");
    }
    for (const auto& [key, unused] : added) group_of_.emplace(key, index);
    initial_lrs_.push_back(group.lr);
    groups_.push_back(std::move(group));
    return index;
}

size_t Optimizer::add_param_group(NamedParameters params, std::string name) {
    ParamGroup group = defaults_;
    group.params = std::move(params);
    group.name = std::move(name);
    return add_param_group(std::move(group));
}

size_t Optimizer::add_param_group(NamedParameters params, float lr, float weight_decay, std::string name) {
    ParamGroup group = defaults_;
    group.params = std::move(params);
    group.lr = lr;
    group.weight_decay = weight_decay;
    group.name = std::move(name);
    return add_param_group(std::move(group));
}

void Optimizer::check_all_before_step() const {
    for (size_t g = 0; g < groups_.size(); ++g) {
        const ParamGroup& group = groups_[g];
        if (std::string problem = group_problem(group); !problem.empty())
            fail<core::ValueError>(type_name(), ".step: ", group_label(g), ": ", problem);
        for (const auto& [name, param] : group.params) {
            if (!param.requires_grad() || !param.has_grad()) continue;
            const Tensor& value = param.value();
            const Tensor& grad = param.grad();
            if (grad.shape() != value.shape())
                fail<core::ShapeError>(type_name(), ".step: gradient of parameter '", name, "' (", group_label(g),
                                       ") has shape ", core::shape_str(grad.shape()), ", the parameter has ",
                                       core::shape_str(value.shape()));
            if (!value.is_contiguous())
                fail<core::ValueError>(type_name(), ".step: parameter '", name, "' (", group_label(g),
                                       ") is not contiguous (shape ", core::shape_str(value.shape()),
                                       "); parameters must own contiguous storage");
            if (auto it = state_.find(param.id()); it != state_.end()) {
                for (const Tensor* buffer : {&it->second.momentum_buffer, &it->second.exp_avg, &it->second.exp_avg_sq})
                    if (buffer->defined() && buffer->numel() != value.numel())
                        fail<core::ShapeError>(type_name(), ".step: state of parameter '", name, "' has ",
                                               buffer->numel(), " elements, the parameter now has ", value.numel(),
                                               "; call reset_state(param) after resizing a parameter");
            }
            // Read in place when contiguous: even a Tensor handle copy allocates (its shape vectors).
            Tensor packed;
            const Tensor& checked = grad.is_contiguous() ? grad : (packed = grad.contiguous());
            const NonFinite bad = find_non_finite(checked.data(), checked.numel());
            if (bad.count > 0)
                fail<core::NumericError>(type_name(), ".step: gradient of parameter '", name, "' (", group_label(g),
                                         ", shape ", core::shape_str(value.shape()), ") has ", bad.count,
                                         " non-finite value(s), the first ", checked.data()[bad.first],
                                         " at element ", bad.first, "; no parameter was updated");
        }
    }
}

void Optimizer::step() {
    check_all_before_step();
    for (ParamGroup& group : groups_) {
        for (auto& [name, param] : group.params) {
            if (!param.requires_grad() || !param.has_grad()) continue;
            ParamState& state = state_[param.id()];
            ++state.step;
            const Tensor& grad = param.grad();
            // A non-contiguous gradient (a view from some op's backward) is copied once; the usual
            // contiguous one is read in place, so a steady-state step allocates nothing.
            if (grad.is_contiguous()) {
                update(group, param.value().span(), grad.span(), state);
            } else {
                const Tensor packed = grad.contiguous();
                update(group, param.value().span(), packed.span(), state);
            }
        }
    }
}

void Optimizer::zero_grad() {
    for (ParamGroup& group : groups_)
        for (auto& [name, param] : group.params) param.zero_grad();
}

ParamGroup& Optimizer::param_group(size_t index) {
    if (index >= groups_.size())
        fail<core::IndexError>(type_name(), ": group ", index, " requested, the optimizer has ", groups_.size());
    return groups_[index];
}

const ParamGroup& Optimizer::param_group(size_t index) const {
    return const_cast<Optimizer*>(this)->param_group(index);
}

ParamGroup& Optimizer::param_group(const std::string& name) {
    for (ParamGroup& group : groups_)
        if (!name.empty() && group.name == name) return group;
    std::string names;
    for (const ParamGroup& group : groups_)
        if (!group.name.empty()) names += (names.empty() ? "\"" : ", \"") + group.name + "\"";
    fail<core::ValueError>(type_name(), ": no parameter group named \"", name, "\" (named groups: ",
                           names.empty() ? std::string("none") : names, ")");
}

const ParamGroup& Optimizer::param_group(const std::string& name) const {
    return const_cast<Optimizer*>(this)->param_group(name);
}

bool Optimizer::contains(const Variable& param) const { return param.defined() && group_of_.contains(param.id()); }

void Optimizer::set_lr(float lr) {
    if (!finite_non_negative(lr)) fail<core::ValueError>(type_name(), ".set_lr: lr must be finite and >= 0, got ", lr);
    for (ParamGroup& group : groups_) group.lr = lr;
}

void Optimizer::set_lr(size_t group, float lr) {
    if (!finite_non_negative(lr))
        fail<core::ValueError>(type_name(), ".set_lr: lr for group ", group, " must be finite and >= 0, got ", lr);
    param_group(group).lr = lr;
}

float Optimizer::initial_lr(size_t group) const {
    param_group(group);  // range check
    return initial_lrs_[group];
}

void Optimizer::set_lr_factor(float factor) {
    if (!finite_non_negative(factor))
        fail<core::ValueError>(type_name(), ".set_lr_factor: factor must be finite and >= 0, got ", factor);
    for (size_t g = 0; g < groups_.size(); ++g) groups_[g].lr = initial_lrs_[g] * factor;
}

const ParamState* Optimizer::state(const Variable& param) const {
    if (!param.defined()) return nullptr;
    auto it = state_.find(param.id());
    return it == state_.end() ? nullptr : &it->second;
}

int64_t Optimizer::step_count(const Variable& param) const {
    const ParamState* found = state(param);
    return found ? found->step : 0;
}

OptimizerSnapshot Optimizer::snapshot(bool with_values) const {
    OptimizerSnapshot snap;
    snap.groups = groups_;
    for (const ParamGroup& group : groups_) {
        for (const auto& [name, param] : group.params) {
            if (auto it = state_.find(param.id()); it != state_.end())
                snap.states.emplace_back(param, deep_copy(it->second));
            if (with_values) snap.values.emplace_back(param, param.value().clone());
        }
    }
    return snap;
}

void Optimizer::restore(const OptimizerSnapshot& snap) {
    const std::string where = std::string(type_name()) + ".restore";
    if (snap.groups.size() != groups_.size())
        fail<core::ValueError>(where, ": the snapshot has ", snap.groups.size(), " parameter groups, the optimizer has ",
                               groups_.size(), " (a snapshot restores only into the optimizer that took it)");
    for (size_t g = 0; g < groups_.size(); ++g) {
        const NamedParameters& now = groups_[g].params;
        const NamedParameters& then = snap.groups[g].params;
        if (now.size() != then.size())
            fail<core::ValueError>(where, ": ", group_label(g), " has ", now.size(), " parameters, the snapshot's has ",
                                   then.size());
        for (size_t i = 0; i < now.size(); ++i)
            if (!now[i].second.same(then[i].second))
                fail<core::ValueError>(where, ": parameter ", i, " of ", group_label(g), " is '", now[i].first,
                                       "', the snapshot's is a different Variable ('", then[i].first, "')");
    }
    for (const auto& [param, value] : snap.values) {
        if (!contains(param))
            fail<core::ValueError>(where, ": the snapshot holds a value for a parameter this optimizer does not have");
        if (param.value().shape() != value.shape())
            fail<core::ShapeError>(where, ": a parameter has shape ", core::shape_str(param.value().shape()),
                                   ", its value in the snapshot ", core::shape_str(value.shape()));
    }
    std::unordered_map<Key, ParamState> restored;
    for (const auto& [param, state] : snap.states) {
        if (!contains(param))
            fail<core::ValueError>(where, ": the snapshot holds state for a parameter this optimizer does not have");
        restored.emplace(param.id(), deep_copy(state));
    }
    // Checks done; from here nothing throws but allocation.
    for (size_t g = 0; g < groups_.size(); ++g) {
        NamedParameters params = std::move(groups_[g].params);
        groups_[g] = snap.groups[g];
        groups_[g].params = std::move(params);
    }
    state_ = std::move(restored);
    for (const auto& [param, value] : snap.values) {
        Variable target = param;
        target.value().copy_(value);
    }
}

void Optimizer::reset_state() { state_.clear(); }

void Optimizer::reset_state(const Variable& param) {
    if (param.defined()) state_.erase(param.id());
}

}  // namespace proact::optim
