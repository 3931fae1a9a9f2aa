// ProgressiveThresholdOptimizer: trains the thresholds of one clipped layer at a time, every other
// parameter of the model truly frozen (docs/METHOD.md "ProAct progressive training", step 3).
//
//   ProgressiveThresholdOptimizer progressive(*model, layers, std::make_unique<AdamW>(AdamWOptions{}));
//   progressive.activate(3);                       // only layer 3's thresholds are trainable
//   progressive.set_weight_decay(4e-1f);
//   OptimizerSnapshot before = progressive.snapshot();
//   ... zero_grad(), loss.backward(), step() ...
//   progressive.restore(before);                   // a rejected try: values, moments, step counts back
//
// Construction freezes every parameter of the model (requires_grad false) and puts each layer's
// thresholds in a parameter group of their own, named after the layer, with the layer's lr; the
// weights are never in the optimizer at all. activate(i) makes layer i's thresholds the only
// trainable parameters. The base Optimizer's freezing rule then guarantees that nothing else
// moves: a frozen parameter gets no update, no momentum and no decay, whatever state it holds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layers/module.hpp"
#include "optim/optimizer.hpp"

namespace proact::optim {

// One clipped layer's thresholds, trained together.
struct ThresholdLayer {
    std::string name;             // the layer's path, "classifier.3": the group's name
    NamedParameters thresholds;   // full names, "classifier.3.threshold"
    float lr = 1e-3f;
};

class ProgressiveThresholdOptimizer {
public:
    // `optimizer` must hold no groups yet. ValueError for no layers, a layer without thresholds,
    // a threshold that is not a parameter of `model`, or one listed twice.
    ProgressiveThresholdOptimizer(layers::Module& model, std::vector<ThresholdLayer> layers,
                                  std::unique_ptr<Optimizer> optimizer);

    size_t layer_count() const { return layers_.size(); }
    const ThresholdLayer& layer(size_t index) const;
    // Layer `index`'s thresholds trainable, every other parameter frozen. IndexError outside
    // [0, layer_count()).
    void activate(size_t index);
    std::optional<size_t> active() const { return active_; }

    // Of the active layer's group (ValueError when none is active).
    void set_weight_decay(float weight_decay);
    void set_lr_factor(float factor);  // lr = factor * the layer's lr

    void zero_grad() { optimizer_->zero_grad(); }
    void step() { optimizer_->step(); }
    // The whole optimizer's state and every threshold's value; restore puts both back.
    OptimizerSnapshot snapshot() const { return optimizer_->snapshot(/*with_values=*/true); }
    void restore(const OptimizerSnapshot& snapshot) { optimizer_->restore(snapshot); }
    // Forgets the active layer's moments and step counts (the next step is a first step).
    void reset_active_state();

    Optimizer& optimizer() { return *optimizer_; }

private:
    size_t active_group() const;

    layers::Module& model_;
    std::vector<ThresholdLayer> layers_;
    std::unique_ptr<Optimizer> optimizer_;
    std::optional<size_t> active_;
};

}  // namespace proact::optim
