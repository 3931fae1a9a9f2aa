#include "layers/clipped_relu.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "autograd/ops.hpp"

namespace proact::layers {

using core::fail;

Shape ClippedReLU::threshold_shape(core::ClipGranularity granularity, const Shape& activation_shape) {
    switch (granularity) {
        case core::ClipGranularity::layer: return {1};
        case core::ClipGranularity::neuron: return activation_shape;
        case core::ClipGranularity::channel: {
            Shape shape(activation_shape.size(), 1);
            shape[0] = activation_shape[0];
            return shape;
        }
    }
    return {1};
}

ClippedReLU::ClippedReLU(core::ClipGranularity granularity, const Shape& activation_shape, core::ClipMode mode,
                         float slope)
    : granularity_(granularity), activation_shape_(activation_shape), mode_(mode), slope_(slope) {
    if (activation_shape.empty())
        fail<core::ValueError>("ClippedReLU: activation shape is empty, expected (C, ...) of one sample");
    for (int64_t size : activation_shape)
        if (size <= 0)
            fail<core::ValueError>("ClippedReLU: activation shape ", core::shape_str(activation_shape),
                                   " has a non-positive size");
    if (mode == core::ClipMode::smooth && !(std::isfinite(slope) && slope > 0.0f && slope <= core::kMaxClipSlope))
        fail<core::ValueError>("ClippedReLU: slope must be in (0, ", core::kMaxClipSlope, "], got ", slope);
    threshold_ = register_parameter(
        "threshold", Tensor::full(threshold_shape(granularity, activation_shape), std::numeric_limits<float>::infinity()));
}

Variable ClippedReLU::forward(const Variable& input) {
    // One threshold fits any channel count: the fault campaign passes channel subsets through.
    const Shape sample(input.shape().begin() + (input.dim() > 0 ? 1 : 0), input.shape().end());
    if (granularity_ != core::ClipGranularity::layer && sample != activation_shape_)
        fail<core::ShapeError>("ClippedReLU: input of shape ", core::shape_str(input.shape()),
                               ", expected (B, ", core::shape_str(activation_shape_).substr(1));
    return autograd::clip_activation(input, threshold_, mode_, slope_);
}

std::string ClippedReLU::describe() const {
    std::ostringstream out;
    out << "ClippedReLU(" << core::to_string(granularity_) << ' ' << core::shape_str(threshold_.shape()) << ", "
        << core::to_string(mode_);
    if (mode_ == core::ClipMode::smooth) out << " k=" << slope_;
    out << ')';
    return out.str();
}

}  // namespace proact::layers
