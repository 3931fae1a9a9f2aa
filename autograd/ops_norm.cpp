// batch_norm with PyTorch's semantics, for x (B,C) or (B,C,H,W), and batch_norm_relu (batch norm,
// residual add and ReLU as one op): validation and graph code; the loops and the formulas are
// core/batch_norm.hpp's.
#include <cstdint>
#include <vector>

#include "autograd/ops.hpp"
#include "core/batch_norm.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"

namespace proact::autograd {

namespace {

using core::fail;
using core::shape_str;

void check_channel_vector(const char* what, const Shape& shape, int64_t channels) {
    if (shape != Shape{channels})
        fail<core::ShapeError>("batch_norm: ", what, " has shape ", shape_str(shape), ", expected [", channels,
                               "] (one per channel)");
}

// A 1-D tensor of any stride as the kernels take it (undefined: absent).
core::ChannelParams channel_params(const Tensor& t) {
    return t.defined() ? core::ChannelParams{t.data(), t.strides()[0]} : core::ChannelParams{};
}
core::ChannelStats channel_stats(Tensor& t) {
    return t.defined() ? core::ChannelStats{t.data(), t.strides()[0]} : core::ChannelStats{};
}

}  // namespace

namespace {

// batch_norm, then, when `relu` is set, relu(y + residual) (residual undefined: relu(y)): the two
// public ops, named `name` in errors and in the graph.
Variable batch_norm_op(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                       Tensor& running_var, bool training, float momentum, float eps, const Variable& residual,
                       bool relu, const char* name) {
    if (!x.defined()) fail<core::ValueError>("batch_norm: input must be defined");
    if (x.dim() != 2 && x.dim() != 4)
        fail<core::ShapeError>("batch_norm: input must be (B,C) or (B,C,H,W), got shape ", shape_str(x.shape()));
    const int64_t B = x.size(0), C = x.size(1);
    const int64_t S = x.dim() == 4 ? x.size(2) * x.size(3) : 1;  // values per (image, channel)
    const int64_t n = B * S;                                        // values per channel
    if (gamma.defined()) check_channel_vector("gamma", gamma.shape(), C);
    if (beta.defined()) check_channel_vector("beta", beta.shape(), C);
    if (running_mean.defined() != running_var.defined())
        fail<core::ValueError>("batch_norm: running_mean and running_var must be both defined or both undefined");
    if (running_mean.defined()) {
        check_channel_vector("running_mean", running_mean.shape(), C);
        check_channel_vector("running_var", running_var.shape(), C);
    }
    if (!training && !running_mean.defined())
        fail<core::ValueError>("batch_norm: eval mode needs running_mean and running_var");
    if (training && n <= 1)
        fail<core::ValueError>("batch_norm: training needs more than one value per channel, got input shape ",
                               shape_str(x.shape()));
    if (!(eps >= 0.0f)) fail<core::ValueError>("batch_norm: eps must be >= 0, got ", eps);
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        fail<core::ValueError>("batch_norm: momentum must be in [0, 1], got ", momentum);
    if (residual.defined() && residual.shape() != x.shape())
        fail<core::ShapeError>(name, ": residual has shape ", shape_str(residual.shape()), ", expected the input's ",
                               shape_str(x.shape()));

    const Tensor input = x.value().contiguous();  // (B, C, S)
    const Tensor gamma_value = gamma.defined() ? gamma.value() : Tensor();
    const Tensor beta_value = beta.defined() ? beta.value() : Tensor();
    const Tensor residual_value = residual.defined() ? residual.value().contiguous() : Tensor();
    Tensor out = Tensor::empty(x.shape());
    // Per channel: the mean and 1/sqrt(var + eps) that normalised it, kept for backward.
    std::vector<double> mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
    const core::BatchNormShape shape{B, C, S};
    const core::BatchNormTail tail{residual.defined() ? residual_value.data() : nullptr, relu};
    core::batch_norm_forward(input.data(), shape, channel_params(gamma_value), channel_params(beta_value),
                             channel_stats(running_mean), channel_stats(running_var), training, momentum, eps,
                             out.data(), mean.data(), invstd.data(), tail);

    std::vector<Variable> inputs{x};
    if (gamma.defined()) inputs.push_back(gamma);
    if (beta.defined()) inputs.push_back(beta);
    if (residual.defined()) inputs.push_back(residual);
    if (!needs_graph({&x, &gamma, &beta, &residual})) return make_result(std::move(out), name, std::move(inputs), nullptr);

    const bool x_needs_grad = x.requires_grad();
    const bool gamma_needs_grad = gamma.requires_grad();
    const bool beta_needs_grad = beta.requires_grad();
    const bool residual_needs_grad = residual.requires_grad();
    const bool has_gamma = gamma.defined(), has_beta = beta.defined(), has_residual = residual.defined();
    const Tensor saved_gamma = x_needs_grad && has_gamma ? gamma_value : Tensor();
    const Tensor relu_out = relu ? out : Tensor();
    auto backward = [input, saved_gamma, relu_out, mean = std::move(mean), invstd = std::move(invstd), shape,
                     training, x_needs_grad, gamma_needs_grad, beta_needs_grad, residual_needs_grad, has_gamma,
                     has_beta, has_residual](const Tensor& grad_output) -> std::vector<Tensor> {
        Tensor dout = grad_output.contiguous();  // (B, C, S), the gradient at the op's output
        // The gradient at batch norm's output (and the residual's): relu's backward of dout. Where
        // the residual needs it, it is made once; else the kernel applies it as it reads dout.
        const float* relu_mask = nullptr;
        if (relu_out.defined() && residual_needs_grad) dout = core::zip(
            dout, relu_out, [](float dv, float y) { return core::relu_grad_value(dv, y); }, "relu");
        else if (relu_out.defined()) relu_mask = relu_out.data();
        Tensor dx = x_needs_grad ? Tensor::empty(input.shape()) : Tensor();
        Tensor dgamma = gamma_needs_grad ? Tensor::empty({shape.channels}) : Tensor();
        Tensor dbeta = beta_needs_grad ? Tensor::empty({shape.channels}) : Tensor();
        if (x_needs_grad || gamma_needs_grad || beta_needs_grad)
            core::batch_norm_backward(input.data(), dout.data(), shape, channel_params(saved_gamma), mean.data(),
                                      invstd.data(), training, x_needs_grad ? dx.data() : nullptr,
                                      gamma_needs_grad ? dgamma.data() : nullptr,
                                      beta_needs_grad ? dbeta.data() : nullptr, relu_mask);
        std::vector<Tensor> grads{dx};
        if (has_gamma) grads.push_back(dgamma);
        if (has_beta) grads.push_back(dbeta);
        if (has_residual) grads.push_back(residual_needs_grad ? dout : Tensor());
        return grads;
    };
    return make_result(std::move(out), name, std::move(inputs), std::move(backward));
}

}  // namespace

Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum, float eps) {
    return batch_norm_op(x, gamma, beta, running_mean, running_var, training, momentum, eps, Variable(), false,
                         "batch_norm");
}

Variable batch_norm_relu(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, bool training, float momentum, float eps, const Variable& residual) {
    return batch_norm_op(x, gamma, beta, running_mean, running_var, training, momentum, eps, residual, true,
                         "batch_norm_relu");
}

}  // namespace proact::autograd
