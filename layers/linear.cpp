#include "layers/linear.hpp"

#include <cmath>
#include <sstream>

#include "autograd/ops.hpp"

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
    return autograd::linear(input, weight_, bias_);
}

std::string Linear::describe() const {
    std::ostringstream out;
    out << "Linear(in_features=" << in_features_ << ", out_features=" << out_features_
        << ", bias=" << (bias_.defined() ? "true" : "false") << ")";
    return out.str();
}

}  // namespace proact::layers
