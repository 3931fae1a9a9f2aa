// SGD with momentum, Nesterov momentum and L2 weight decay, as torch.optim.SGD (dampening 0):
//
//   d   = grad + weight_decay * p
//   buf = d                          on the parameter's first momentum update
//   buf = momentum * buf + d         afterwards
//   d   = d + momentum * buf         (nesterov)   or   d = buf   (momentum > 0)
//   p   = p - lr * d
#pragma once

#include "optim/optimizer.hpp"

namespace proact::optim {

struct SgdOptions {
    float lr = 1e-3f;
    float momentum = 0.0f;
    float weight_decay = 0.0f;
    bool nesterov = false;  // needs momentum > 0
};

class SGD : public Optimizer {
public:
    // No groups yet: add them with add_param_group.
    explicit SGD(SgdOptions options = {});
    // One group holding `params` (Module::named_parameters(); frozen ones are fine, they are skipped).
    SGD(NamedParameters params, SgdOptions options);

    const char* type_name() const override { return "SGD"; }

protected:
    std::string group_problem(const ParamGroup& group) const override;
    void update(const ParamGroup& group, std::span<float> value, std::span<const float> grad,
                ParamState& state) override;
};

}  // namespace proact::optim
