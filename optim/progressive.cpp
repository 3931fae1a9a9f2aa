#include "optim/progressive.hpp"

#include <set>

#include "core/error.hpp"

namespace proact::optim {

using core::fail;

ProgressiveThresholdOptimizer::ProgressiveThresholdOptimizer(layers::Module& model, std::vector<ThresholdLayer> layers,
                                                             std::unique_ptr<Optimizer> optimizer)
    : model_(model), layers_(std::move(layers)), optimizer_(std::move(optimizer)) {
    if (!optimizer_) fail<core::ValueError>("ProgressiveThresholdOptimizer: no optimizer given");
    if (optimizer_->group_count() != 0)
        fail<core::ValueError>("ProgressiveThresholdOptimizer: the optimizer already has ", optimizer_->group_count(),
                               " parameter groups, expected none");
    if (layers_.empty()) fail<core::ValueError>("ProgressiveThresholdOptimizer: no threshold layers");
    std::set<const autograd::VariableData*> in_model;
    for (const auto& [name, parameter] : model_.named_parameters()) in_model.insert(parameter.id());
    for (const ThresholdLayer& layer : layers_) {
        if (layer.thresholds.empty())
            fail<core::ValueError>("ProgressiveThresholdOptimizer: layer ", layer.name, " has no thresholds");
        for (const auto& [name, parameter] : layer.thresholds)
            if (!in_model.count(parameter.id()))
                fail<core::ValueError>("ProgressiveThresholdOptimizer: ", name, " of layer ", layer.name,
                                       " is not a parameter of the model");
    }
    for (auto& [name, parameter] : model_.named_parameters()) parameter.set_requires_grad(false);
    for (const ThresholdLayer& layer : layers_) {
        ParamGroup group = optimizer_->defaults();
        group.params = layer.thresholds;
        group.lr = layer.lr;
        group.name = layer.name;
        optimizer_->add_param_group(std::move(group));  // ValueError for a parameter listed twice
    }
}

const ThresholdLayer& ProgressiveThresholdOptimizer::layer(size_t index) const {
    if (index >= layers_.size())
        fail<core::IndexError>("ProgressiveThresholdOptimizer: layer ", index, " of ", layers_.size());
    return layers_[index];
}

void ProgressiveThresholdOptimizer::activate(size_t index) {
    const ThresholdLayer& chosen = layer(index);
    for (ThresholdLayer& other : layers_)
        for (auto& [name, parameter] : other.thresholds) parameter.set_requires_grad(false);
    for (auto [name, parameter] : chosen.thresholds) parameter.set_requires_grad(true);
    active_ = index;
}

size_t ProgressiveThresholdOptimizer::active_group() const {
    if (!active_) fail<core::ValueError>("ProgressiveThresholdOptimizer: no layer is active (call activate first)");
    return *active_;  // groups were added in layer order
}

void ProgressiveThresholdOptimizer::set_weight_decay(float weight_decay) {
    optimizer_->param_group(active_group()).weight_decay = weight_decay;
}

void ProgressiveThresholdOptimizer::set_lr_factor(float factor) {
    const size_t group = active_group();
    optimizer_->set_lr(group, optimizer_->initial_lr(group) * factor);
}

void ProgressiveThresholdOptimizer::reset_active_state() {
    for (const auto& [name, parameter] : layers_[active_group()].thresholds) optimizer_->reset_state(parameter);
}

}  // namespace proact::optim
