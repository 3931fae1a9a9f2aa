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

private:
    int64_t in_features_, out_features_;
    Variable weight_, bias_;
};

}  // namespace proact::layers
