// Linear: y = x W^T + b, the fully connected layer.
#pragma once

#include "core/rng.hpp"
#include "layers/module.hpp"

namespace proact::layers {

class Linear : public Module {
public:
    // weight (out_features, in_features) and bias (out_features), as PyTorch lays them out, drawn
    // from U(-1/sqrt(in_features), 1/sqrt(in_features)) like PyTorch's default initialisation.
    Linear(int64_t in_features, int64_t out_features, core::Rng& rng, bool bias = true);

    // x (B, in_features) -> (B, out_features).
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "Linear"; }
    std::string describe() const override;

    int64_t in_features() const { return in_features_; }
    int64_t out_features() const { return out_features_; }
    const Variable& weight() const { return weight_; }
    const Variable& bias() const { return bias_; }  // undefined without bias
    // Gives a layer built without bias a "bias" (out_features) of zeros, an ordinary parameter registered
    // after "weight" (as a layer built with bias has it) that trains like the weight (its
    // requires_grad) and is a fault target; fold_batch_norm (fold_batchnorm.hpp) writes the folded
    // shift into it. ValueError when the layer has a bias or is range-guarded (the guard has no
    // bounds for it: fold first, then guard).
    void add_bias();

    // Weight range guard (layers/range_guard.hpp): registers "weight_bounds" (and "bias_bounds")
    // [2] = the current [min, max], without gradient; from then on forward uses every weight outside
    // its bounds as 0. The stored weights are never edited. ValueError when guarded already.
    void enable_range_guard();
    bool range_guarded() const { return weight_bounds_.defined(); }
    const Variable& weight_bounds() const { return weight_bounds_; }
    const Variable& bias_bounds() const { return bias_bounds_; }  // undefined without bias
    // The weight and bias forward computes with: guarded copies when guarded, else the values.
    Tensor effective_weight() const;
    Tensor effective_bias() const;  // undefined without bias

private:
    int64_t in_features_, out_features_;
    Variable weight_, bias_;
    Variable weight_bounds_, bias_bounds_;
};

}  // namespace proact::layers
