// Adam and AdamW, as torch.optim.Adam / torch.optim.AdamW (no amsgrad). Per parameter, with t its
// own step count (frozen steps do not count):
//
//   Adam:   g = grad + weight_decay * p               (L2: the decay goes through the moments)
//   AdamW:  g = grad;  p = p * (1 - lr * weight_decay) (decoupled, before the update)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g²
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#pragma once

#include "optim/optimizer.hpp"

namespace proact::optim {

struct AdamOptions {
    float lr = 1e-3f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 0.0f;
};

// AdamW's defaults differ from Adam's only in weight decay (PyTorch's 1e-2).
struct AdamWOptions {
    float lr = 1e-3f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 1e-2f;
};

class Adam : public Optimizer {
public:
    // No groups yet: add them with add_param_group.
    explicit Adam(AdamOptions options = {});
    // One group holding `params` (Module::named_parameters(); frozen ones are fine, they are skipped).
    Adam(NamedParameters params, AdamOptions options);

    const char* type_name() const override { return decoupled_weight_decay_ ? "AdamW" : "Adam"; }

protected:
    Adam(const AdamOptions& options, bool decoupled_weight_decay);
    std::string group_problem(const ParamGroup& group) const override;
    void update(const ParamGroup& group, std::span<float> value, std::span<const float> grad,
                ParamState& state) override;

private:
    bool decoupled_weight_decay_;
};

class AdamW : public Adam {
public:
    explicit AdamW(AdamWOptions options = {});
    AdamW(NamedParameters params, AdamWOptions options);
};

}  // namespace proact::optim
