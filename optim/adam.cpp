#include "optim/adam.hpp"

#include <cmath>

#include "core/threads.hpp"

namespace proact::optim {

namespace {

ParamGroup adam_defaults(const AdamOptions& options) {
    ParamGroup group;
    group.lr = options.lr;
    group.beta1 = options.beta1;
    group.beta2 = options.beta2;
    group.eps = options.eps;
    group.weight_decay = options.weight_decay;
    return group;
}

AdamOptions as_adam(const AdamWOptions& options) {
    return {options.lr, options.beta1, options.beta2, options.eps, options.weight_decay};
}

}  // namespace

Adam::Adam(const AdamOptions& options, bool decoupled_weight_decay)
    : Optimizer(adam_defaults(options)), decoupled_weight_decay_(decoupled_weight_decay) {
    check_group(defaults(), std::string(type_name()) + " options");
}

Adam::Adam(AdamOptions options) : Adam(options, false) {}

Adam::Adam(NamedParameters params, AdamOptions options) : Adam(options, false) {
    add_param_group(std::move(params));
}

AdamW::AdamW(AdamWOptions options) : Adam(as_adam(options), true) {}

AdamW::AdamW(NamedParameters params, AdamWOptions options) : Adam(as_adam(options), true) {
    add_param_group(std::move(params));
}

std::string Adam::group_problem(const ParamGroup& group) const {
    if (std::string problem = Optimizer::group_problem(group); !problem.empty()) return problem;
    if (!(group.beta1 >= 0.0f && group.beta1 < 1.0f)) return concat("beta1 must be in [0, 1), got ", group.beta1);
    if (!(group.beta2 >= 0.0f && group.beta2 < 1.0f)) return concat("beta2 must be in [0, 1), got ", group.beta2);
    if (!(std::isfinite(group.eps) && group.eps >= 0.0f)) return concat("eps must be finite and >= 0, got ", group.eps);
    return {};
}

// value, grad, exp_avg, exp_avg_sq: [n], n = numel of the parameter.
void Adam::update(const ParamGroup& group, std::span<float> value, std::span<const float> grad, ParamState& state) {
    const int64_t n = static_cast<int64_t>(value.size());
    if (!state.exp_avg.defined()) {
        state.exp_avg = Tensor::zeros({n});
        state.exp_avg_sq = Tensor::zeros({n});
    }
    float* param = value.data();
    const float* dparam = grad.data();
    float* exp_avg = state.exp_avg.data();
    float* exp_avg_sq = state.exp_avg_sq.data();

    // Scalars in double, then rounded once to float, as PyTorch does with its Python-float
    // hyper-parameters.
    const double lr = group.lr, beta1 = group.beta1, beta2 = group.beta2;
    const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(state.step));
    const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(state.step));
    const float step_size = static_cast<float>(lr / bias_correction1);
    const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
    const float beta1_f = group.beta1, beta2_f = group.beta2, eps = group.eps;
    const float one_minus_beta1 = static_cast<float>(1.0 - beta1);
    const float one_minus_beta2 = static_cast<float>(1.0 - beta2);
    const float weight_decay = group.weight_decay;
    const bool decoupled = decoupled_weight_decay_;
    const float decay_factor = static_cast<float>(1.0 - lr * static_cast<double>(group.weight_decay));

#pragma omp parallel for schedule(static) if (n > core::kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        float g = dparam[i];
        if (weight_decay != 0.0f) {
            if (decoupled) {
                param[i] *= decay_factor;
            } else {
                g += weight_decay * param[i];
            }
        }
        const float m = beta1_f * exp_avg[i] + one_minus_beta1 * g;
        const float v = beta2_f * exp_avg_sq[i] + one_minus_beta2 * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        const float denom = std::sqrt(v) / bias_correction2_sqrt + eps;
        param[i] += -step_size * m / denom;
    }
}

}  // namespace proact::optim
