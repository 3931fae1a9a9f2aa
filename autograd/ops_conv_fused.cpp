// conv2d_fused: a convolution and what follows it in inference (batch norm, residual add,
// activation) as one op; the per-image loops are core::conv2d_forward's epilogue
// (core/conv_epilogue.hpp). Its checks decide only whether the fused path takes the arguments:
// everything it does not take runs the separate ops, which raise their own errors.
#include <cmath>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/ops_checks.hpp"
#include "core/batch_norm.hpp"
#include "core/conv2d.hpp"
#include "core/conv_epilogue.hpp"

namespace proact::autograd {

namespace {

Variable separate_ops(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride,
                      int64_t padding, const ConvTail& tail) {
    Variable y = conv2d(x, weight, bias, stride, padding);
    if (tail.batch_norm) {
        Tensor running_mean = tail.running_mean, running_var = tail.running_var;  // eval: read only
        y = batch_norm(y, tail.gamma, tail.beta, running_mean, running_var, /*training=*/false, tail.momentum,
                       tail.eps);
    }
    if (tail.residual.defined()) y = add(y, tail.residual);
    switch (tail.activation) {
        case ConvTail::Activation::none: break;
        case ConvTail::Activation::relu: y = relu(y); break;
        case ConvTail::Activation::clip: y = clip_activation(y, tail.threshold, tail.mode, tail.slope); break;
    }
    return y;
}

// Whether batch_norm in eval would take these (it fails otherwise, in the separate ops).
bool batch_norm_fits(const ConvTail& tail, int64_t channels) {
    const Shape one_per_channel{channels};
    return (!tail.gamma.defined() || tail.gamma.shape() == one_per_channel) &&
           (!tail.beta.defined() || tail.beta.shape() == one_per_channel) && tail.running_mean.defined() &&
           tail.running_mean.shape() == one_per_channel && tail.running_var.defined() &&
           tail.running_var.shape() == one_per_channel && tail.eps >= 0.0f && tail.momentum >= 0.0f &&
           tail.momentum <= 1.0f;
}

// Whether clip_activation would take these on y_shape (it fails otherwise).
bool clip_fits(const ConvTail& tail, const Shape& y_shape) {
    if (tail.mode == core::ClipMode::smooth &&
        !(std::isfinite(tail.slope) && tail.slope > 0.0f && tail.slope <= core::kMaxClipSlope))
        return false;
    return tail.threshold.defined() && detail::find_clip_granularity(y_shape, tail.threshold.shape()).has_value();
}

}  // namespace

Variable conv2d_fused(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride,
                      int64_t padding, const ConvTail& tail) {
    const core::Im2colShape shape = detail::validate_conv2d(x, weight, bias, stride, padding);
    const int64_t O = weight.size(0);
    const Shape y_shape{shape.batch, O, shape.out_h(), shape.out_w()};
    const bool clip = tail.activation == ConvTail::Activation::clip;
    if (needs_graph({&x, &weight, &bias, &tail.gamma, &tail.beta, &tail.residual, &tail.threshold}) ||
        (tail.batch_norm && !batch_norm_fits(tail, O)) ||
        (tail.residual.defined() && tail.residual.shape() != y_shape) || (clip && !clip_fits(tail, y_shape)))
        return separate_ops(x, weight, bias, stride, padding, tail);

    core::ConvEpilogue epilogue;
    std::vector<float> scale, shift;
    if (tail.batch_norm) {
        const Tensor gamma = tail.gamma.defined() ? tail.gamma.value().contiguous() : Tensor();
        const Tensor beta = tail.beta.defined() ? tail.beta.value().contiguous() : Tensor();
        const Tensor mean = tail.running_mean.contiguous(), var = tail.running_var.contiguous();
        scale.resize(static_cast<size_t>(O));
        shift.resize(static_cast<size_t>(O));
        core::batch_norm_eval_affine({gamma.defined() ? gamma.data() : nullptr}, {beta.defined() ? beta.data() : nullptr},
                                     {mean.data()}, {var.data()}, O, tail.eps, scale.data(), shift.data());
        epilogue.scale = scale.data();
        epilogue.shift = shift.data();
    }
    const Tensor residual = tail.residual.defined() ? tail.residual.value().contiguous() : Tensor();
    if (residual.defined()) epilogue.residual = residual.data();
    const Tensor threshold = clip ? tail.threshold.value().contiguous() : Tensor();
    if (tail.activation == ConvTail::Activation::relu) epilogue.activation = core::EpilogueActivation::relu;
    if (clip) {
        epilogue.activation = core::EpilogueActivation::clip;
        epilogue.threshold = threshold.data();
        epilogue.granularity = *detail::find_clip_granularity(y_shape, tail.threshold.shape());
        epilogue.mode = tail.mode;
        epilogue.slope = tail.slope;
    }

    const Tensor x_value = x.value().contiguous();
    const Tensor weight_value = weight.value().contiguous();
    const Tensor bias_value = bias.defined() ? bias.value().contiguous() : Tensor();
    Tensor out = Tensor::empty(y_shape);
    core::conv2d_forward(x_value.data(), weight_value.data(), bias_value.defined() ? bias_value.data() : nullptr,
                         shape, O, out.data(), nullptr, &epilogue);
    std::vector<Variable> inputs{x, weight};
    for (const Variable* v : {&bias, &tail.gamma, &tail.beta, &tail.residual, &tail.threshold})
        if (v->defined()) inputs.push_back(*v);
    return make_result(std::move(out), "conv2d_fused", std::move(inputs), nullptr);
}

}  // namespace proact::autograd
