#include "layers/conv.hpp"

#include <cmath>
#include <sstream>

#include "autograd/ops.hpp"
#include "layers/range_guard.hpp"

namespace proact::layers {

using core::fail;

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, core::Rng& rng, int64_t stride,
               int64_t padding, bool bias)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel), stride_(stride), padding_(padding) {
    if (in_channels <= 0 || out_channels <= 0)
        fail<core::ValueError>("Conv2d: channels must be positive, got in_channels=", in_channels,
                               ", out_channels=", out_channels);
    if (kernel <= 0) fail<core::ValueError>("Conv2d: kernel must be positive, got ", kernel);
    if (stride <= 0) fail<core::ValueError>("Conv2d: stride must be positive, got ", stride);
    if (padding < 0) fail<core::ValueError>("Conv2d: padding must be >= 0, got ", padding);
    const float bound = 1.0f / std::sqrt(static_cast<float>(in_channels * kernel * kernel));
    weight_ = register_parameter(
        "weight", Tensor::uniform({out_channels, in_channels, kernel, kernel}, -bound, bound, rng));
    if (bias) bias_ = register_parameter("bias", Tensor::uniform({out_channels}, -bound, bound, rng));
}

void Conv2d::check_input(const Variable& input) const {
    if (input.dim() != 4)
        fail<core::ShapeError>("conv2d: input must be (batch, channels, height, width), got shape ",
                               core::shape_str(input.shape()));
    if (input.size(1) != in_channels_)
        fail<core::ShapeError>("conv2d: input has ", input.size(1), " channels, layer expects ", in_channels_);
    if (output_size(input.size(2)) <= 0 || output_size(input.size(3)) <= 0)
        fail<core::ShapeError>("conv2d: input of ", input.size(2), "x", input.size(3), " pixels is smaller than the ",
                               kernel_, "x", kernel_, " kernel with padding ", padding_);
}

Variable Conv2d::forward(const Variable& input) {
    check_input(input);
    return autograd::conv2d(input, guarded(weight_, weight_bounds_), guarded(bias_, bias_bounds_), stride_, padding_);
}

Variable Conv2d::forward_relu_max_pool(const Variable& input, const MaxPool2d& pool) {
    check_input(input);
    pool.check_input({input.size(0), out_channels_, output_size(input.size(2)), output_size(input.size(3))});
    return autograd::conv2d_relu_max_pool2d(input, guarded(weight_, weight_bounds_), guarded(bias_, bias_bounds_),
                                            stride_, padding_, pool.kernel(), pool.stride(), pool.padding());
}

Variable Conv2d::forward_fused(const Variable& input, const autograd::ConvTail& tail) {
    check_input(input);
    return autograd::conv2d_fused(input, guarded(weight_, weight_bounds_), guarded(bias_, bias_bounds_), stride_,
                                  padding_, tail);
}

void Conv2d::enable_range_guard() {
    if (range_guarded()) fail<core::ValueError>("Conv2d: the range guard is enabled already");
    weight_bounds_ = register_parameter("weight_bounds", value_bounds(weight_.value()), false);
    if (bias_.defined()) bias_bounds_ = register_parameter("bias_bounds", value_bounds(bias_.value()), false);
}

void Conv2d::add_bias() {
    if (bias_.defined()) fail<core::ValueError>("Conv2d: add_bias on a layer that has a bias");
    if (range_guarded())
        fail<core::ValueError>("Conv2d: add_bias on a range-guarded layer (its guard has no bias bounds)");
    bias_ = register_parameter("bias", Tensor::zeros({out_channels_}), weight_.requires_grad());
}

Tensor Conv2d::effective_weight() const { return guarded_value(weight_, weight_bounds_); }
Tensor Conv2d::effective_bias() const { return guarded_value(bias_, bias_bounds_); }

std::string Conv2d::describe() const {
    std::ostringstream out;
    out << "Conv2d(" << in_channels_ << ", " << out_channels_ << ", kernel_size=" << kernel_ << ", stride=" << stride_
        << ", padding=" << padding_ << ", bias=" << (bias_.defined() ? "true" : "false")
        << (range_guarded() ? ", range_guard=true" : "") << ")";
    return out.str();
}

}  // namespace proact::layers
