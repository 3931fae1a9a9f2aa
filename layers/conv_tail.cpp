#include "layers/conv_tail.hpp"

#include "autograd/ops.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/clipped_relu.hpp"

namespace proact::layers {

namespace {

// The convolution's output shape for x_shape, or empty when conv does not take it (its own
// forward then raises the error).
Shape conv_output_shape(const Conv2d& conv, const Shape& x_shape) {
    if (x_shape.size() != 4 || x_shape[1] != conv.in_channels()) return {};
    const int64_t OH = conv.output_size(x_shape[2]), OW = conv.output_size(x_shape[3]);
    if (OH <= 0 || OW <= 0) return {};
    return {x_shape[0], conv.out_channels(), OH, OW};
}

bool norm_fits(Module* norm, const Shape& y_shape) {
    if (!norm) return true;
    const BatchNorm2d* bn = plain_module<BatchNorm2d>(norm);
    return bn ? !bn->is_training() && bn->num_features() == y_shape[1] : tail_norm(norm) != nullptr;
}

bool activation_fits(Module* activation, const Shape& y_shape) {
    if (!activation) return true;
    const ClippedReLU* clip = plain_module<ClippedReLU>(activation);
    if (!clip) return tail_activation(activation) != nullptr;
    const Shape sample(y_shape.begin() + 1, y_shape.end());
    return clip->granularity() == core::ClipGranularity::layer || sample == clip->activation_shape();
}

autograd::ConvTail tail_of(Module* norm, const Variable& residual, Module* activation) {
    autograd::ConvTail tail;
    if (auto* bn = plain_module<BatchNorm2d>(norm)) {
        tail.batch_norm = true;
        tail.gamma = bn->weight();
        tail.beta = bn->bias();
        tail.running_mean = bn->running_mean();
        tail.running_var = bn->running_var();
        tail.momentum = bn->momentum();
        tail.eps = bn->eps();
    }
    tail.residual = residual;
    if (plain_module<ReLU>(activation)) tail.activation = autograd::ConvTail::Activation::relu;
    if (auto* clip = plain_module<ClippedReLU>(activation)) {
        tail.activation = autograd::ConvTail::Activation::clip;
        tail.threshold = clip->threshold();
        tail.mode = clip->mode();
        tail.slope = clip->slope();
    }
    return tail;
}

}  // namespace

Module* tail_norm(Module* module) {
    return plain_module<BatchNorm2d>(module) || plain_module<Identity>(module) ? module : nullptr;
}

Module* tail_activation(Module* module) {
    return plain_module<ReLU>(module) || plain_module<ClippedReLU>(module) ? module : nullptr;
}

BatchNorm* batch_norm_relu_of(Module* norm, Module* activation) {
    if (!plain_module<ReLU>(activation)) return nullptr;
    if (BatchNorm2d* bn = plain_module<BatchNorm2d>(norm)) return bn;
    return plain_module<BatchNorm1d>(norm);
}

bool conv_tail_fuses(Module& conv, Module* norm, Module* activation, const Shape& x_shape) {
    if (autograd::grad_enabled()) return false;
    const Conv2d* c = plain_module<Conv2d>(&conv);
    if (!c) return false;
    const Shape y_shape = conv_output_shape(*c, x_shape);
    return !y_shape.empty() && norm_fits(norm, y_shape) && activation_fits(activation, y_shape);
}

Variable conv_tail(Module& conv, Module* norm, const Variable& residual, Module* activation, const Variable& x) {
    if (conv_tail_fuses(conv, norm, activation, x.shape()))
        return static_cast<Conv2d&>(conv).forward_fused(x, tail_of(norm, residual, activation));
    Variable y = conv(x);
    BatchNorm* bn = batch_norm_relu_of(norm, activation);
    if (bn && (!residual.defined() || residual.shape() == y.shape())) return bn->forward_relu(y, residual);
    if (norm) y = (*norm)(y);
    if (residual.defined()) y = autograd::add(y, residual);
    return activation ? (*activation)(y) : y;
}

}  // namespace proact::layers
