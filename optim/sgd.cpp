#include "optim/sgd.hpp"

#include <cmath>

#include "core/threads.hpp"

namespace proact::optim {

namespace {

ParamGroup sgd_defaults(const SgdOptions& options) {
    ParamGroup group;
    group.lr = options.lr;
    group.momentum = options.momentum;
    group.weight_decay = options.weight_decay;
    group.nesterov = options.nesterov;
    return group;
}

}  // namespace

SGD::SGD(SgdOptions options) : Optimizer(sgd_defaults(options)) {
    check_group(defaults(), "SGD options");
}

SGD::SGD(NamedParameters params, SgdOptions options) : SGD(options) { add_param_group(std::move(params)); }

std::string SGD::group_problem(const ParamGroup& group) const {
    if (std::string problem = Optimizer::group_problem(group); !problem.empty()) return problem;
    if (!std::isfinite(group.momentum) || group.momentum < 0.0f)
        return concat("momentum must be finite and >= 0, got ", group.momentum);
    if (group.nesterov && group.momentum <= 0.0f) return concat("nesterov needs momentum > 0, got momentum ", group.momentum);
    return {};
}

// value, grad, momentum buffer: [n], n = numel of the parameter.
void SGD::update(const ParamGroup& group, std::span<float> value, std::span<const float> grad, ParamState& state) {
    const int64_t n = static_cast<int64_t>(value.size());
    float* param = value.data();
    const float* dparam = grad.data();
    const float lr = group.lr, weight_decay = group.weight_decay, momentum = group.momentum;

    if (momentum == 0.0f) {
#pragma omp parallel for schedule(static) if (n > core::kParallelGrain)
        for (int64_t i = 0; i < n; ++i) {
            const float direction = weight_decay != 0.0f ? dparam[i] + weight_decay * param[i] : dparam[i];
            param[i] += -lr * direction;
        }
        return;
    }

    // PyTorch starts the buffer at the first (decayed) gradient rather than at zero.
    const bool first_momentum_update = !state.momentum_buffer.defined();
    if (first_momentum_update) state.momentum_buffer = Tensor::empty({n});
    float* buffer = state.momentum_buffer.data();
    const bool nesterov = group.nesterov;
#pragma omp parallel for schedule(static) if (n > core::kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        const float decayed = weight_decay != 0.0f ? dparam[i] + weight_decay * param[i] : dparam[i];
        const float velocity = first_momentum_update ? decayed : momentum * buffer[i] + decayed;
        buffer[i] = velocity;
        const float direction = nesterov ? decayed + momentum * velocity : velocity;
        param[i] += -lr * direction;
    }
}

}  // namespace proact::optim
