#include "layers/linear.hpp"

#include <cmath>
#include <sstream>

#include "autograd/ops.hpp"
#include "layers/range_guard.hpp"

namespace proact::layers {

using core::fail;

Linear::Linear(int64_t in_features, int64_t out_features, core::Rng& rng, bool bias)
    : in_features_(in_features), out_features_(out_features) {
    if (in_features <= 0 || out_features <= 0)
        fail<core::ValueError>("Linear: features must be positive, got in_features=", in_features,
                               ", out_features=", out_features);
    // kaiming_uniform(a=sqrt(5)) on fan_in reduces to this bound; PyTorch's bias uses the same one.
    const float bound = 1.0f / std::sqrt(static_cast<float>(in_features));
    weight_ = register_parameter("weight", Tensor::uniform({out_features, in_features}, -bound, bound, rng));
    if (bias) bias_ = register_parameter("bias", Tensor::uniform({out_features}, -bound, bound, rng));
}

Variable Linear::forward(const Variable& input) {
    if (input.dim() != 2)
        fail<core::ShapeError>("linear: input must be (batch, features), got shape ", core::shape_str(input.shape()),
                               input.dim() > 2 ? " (add a Flatten before this layer)" : "");
    if (input.size(1) != in_features_)
        fail<core::ShapeError>("linear: input has ", input.size(1), " features, layer expects ", in_features_);
    return autograd::linear(input, guarded(weight_, weight_bounds_), guarded(bias_, bias_bounds_));
}

void Linear::enable_range_guard() {
    if (range_guarded()) fail<core::ValueError>("Linear: the range guard is enabled already");
    weight_bounds_ = register_parameter("weight_bounds", value_bounds(weight_.value()), false);
    if (bias_.defined()) bias_bounds_ = register_parameter("bias_bounds", value_bounds(bias_.value()), false);
}

void Linear::add_bias() {
    if (bias_.defined()) fail<core::ValueError>("Linear: add_bias on a layer that has a bias");
    if (range_guarded())
        fail<core::ValueError>("Linear: add_bias on a range-guarded layer (its guard has no bias bounds)");
    bias_ = register_parameter("bias", Tensor::zeros({out_features_}), weight_.requires_grad());
}

Tensor Linear::effective_weight() const { return guarded_value(weight_, weight_bounds_); }
Tensor Linear::effective_bias() const { return guarded_value(bias_, bias_bounds_); }

std::string Linear::describe() const {
    std::ostringstream out;
    out << "Linear(in_features=" << in_features_ << ", out_features=" << out_features_
        << ", bias=" << (bias_.defined() ? "true" : "false")
        << (range_guarded() ? ", range_guard=true" : "") << ")";
    return out.str();
}

}  // namespace proact::layers
