// The clipped activation op: graph code only, the loops are core::clip_forward / clip_backward.
#include <cmath>

#include "autograd/ops.hpp"
#include "autograd/ops_checks.hpp"
#include "core/clip.hpp"

namespace proact::autograd {

namespace core = proact::core;

namespace {

// x (B, C, ...) as (B, C, S).
core::ClipShape clip_shape_of(const Shape& x_shape, core::ClipGranularity granularity) {
    core::ClipShape shape;
    shape.batch = x_shape[0];
    shape.channels = x_shape.size() > 1 ? x_shape[1] : 1;
    shape.spatial = 1;
    for (size_t axis = 2; axis < x_shape.size(); ++axis) shape.spatial *= x_shape[axis];
    shape.granularity = granularity;
    return shape;
}

}  // namespace

std::optional<core::ClipGranularity> detail::find_clip_granularity(const Shape& x_shape, const Shape& threshold_shape) {
    if (x_shape.size() < 2) return std::nullopt;
    if (core::numel_of(threshold_shape) == 1) return core::ClipGranularity::layer;
    const Shape sample(x_shape.begin() + 1, x_shape.end());
    if (threshold_shape == sample) return core::ClipGranularity::neuron;
    Shape per_channel(sample.size(), 1);
    per_channel[0] = sample[0];
    if (threshold_shape == per_channel || threshold_shape == Shape{sample[0]}) return core::ClipGranularity::channel;
    return std::nullopt;
}

core::ClipGranularity clip_granularity_of(const Shape& x_shape, const Shape& threshold_shape) {
    if (x_shape.size() < 2)
        core::fail<core::ShapeError>("clip_activation: input of shape ", core::shape_str(x_shape),
                                     " has no channel axis (expected (B, C, ...))");
    if (const auto granularity = detail::find_clip_granularity(x_shape, threshold_shape)) return *granularity;
    const Shape sample(x_shape.begin() + 1, x_shape.end());
    Shape per_channel(sample.size(), 1);
    per_channel[0] = sample[0];
    core::fail<core::ShapeError>("clip_activation: threshold of shape ", core::shape_str(threshold_shape),
                                 " fits an input of shape ", core::shape_str(x_shape),
                                 " neither as one value, per channel ", core::shape_str(per_channel),
                                 " nor per neuron ", core::shape_str(sample));
}

Variable clip_activation(const Variable& x, const Variable& threshold, core::ClipMode mode, float slope) {
    if (mode == core::ClipMode::smooth && !(std::isfinite(slope) && slope > 0.0f && slope <= core::kMaxClipSlope))
        core::fail<core::ValueError>("clip_activation: slope must be in (0, ", core::kMaxClipSlope, "], got ", slope);
    const core::ClipShape shape = clip_shape_of(x.shape(), clip_granularity_of(x.shape(), threshold.shape()));
    const Tensor xv = x.value().contiguous();
    const Tensor bv = threshold.value().contiguous();
    Tensor out = Tensor::empty(x.shape());
    core::clip_forward(xv.data(), bv.data(), out.data(), shape, mode, slope);
    return make_result(out, "clip_activation", {x, threshold}, [x, threshold, xv, bv, shape, mode, slope](const Tensor& g) {
        const Tensor dy = g.contiguous();
        Tensor dx, dthreshold;
        if (x.requires_grad()) dx = Tensor::empty(xv.shape());
        if (threshold.requires_grad()) dthreshold = Tensor::empty(bv.shape());
        core::clip_backward(xv.data(), bv.data(), dy.data(), dx.defined() ? dx.data() : nullptr,
                            dthreshold.defined() ? dthreshold.data() : nullptr, shape, mode, slope);
        return std::vector<Tensor>{dx, dthreshold};
    });
}

}  // namespace proact::autograd
