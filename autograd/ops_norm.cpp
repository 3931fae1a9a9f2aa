// batch_norm with PyTorch's semantics, for x (B,C) or (B,C,H,W).
//
// Viewing x as (B, C, S) with S = H*W (S = 1 for 2-D input), channel c has n = B*S values. In
// training, with the batch's mean and biased variance var_b,
//
//   y = (x - mean) / sqrt(var_b + eps) * gamma + beta
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var_b * n / (n - 1)   (unbiased)
//
// In eval, mean and var are running_mean and running_var and nothing is updated. Statistics are
// accumulated in double, one channel per loop iteration in a fixed order (parallel over channels),
// so results do not depend on the thread count. An undefined gamma / beta means 1 / 0 (no affine),
// undefined running statistics in training mean "do not track them".
//
// Backward, with xhat = (x - mean) * invstd and sums over the channel's n values:
//   training: dx = gamma * invstd * (dy - sum(dy)/n - xhat * sum(dy * xhat)/n)
//   eval:     dx = gamma * invstd * dy                      (mean, invstd are constants)
//   both:     dgamma = sum(dy * xhat),  dbeta = sum(dy)
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "autograd/ops.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace proact::autograd {

namespace {

using core::fail;
using core::shape_str;

// Sum of term(0..count) in a fixed order: eight double lanes, which the compiler keeps in one
// AVX-512 register instead of one serial chain of dependent additions.
template <class Term>
double fixed_order_sum(int64_t count, Term term) {
    constexpr int kLanes = 8;
    double lanes[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= count; i += kLanes)
        for (int lane = 0; lane < kLanes; ++lane) lanes[lane] += term(i + lane);
    double total = 0.0;
    for (int lane = 0; lane < kLanes; ++lane) total += lanes[lane];
    for (; i < count; ++i) total += term(i);
    return total;
}

void check_channel_vector(const char* what, const Shape& shape, int64_t channels) {
    if (shape != Shape{channels})
        fail<core::ShapeError>("batch_norm: ", what, " has shape ", shape_str(shape), ", expected [", channels,
                               "] (one per channel)");
}

// Element c of a 1-D tensor of any stride.
float& element(Tensor& t, int64_t c) { return t.data()[c * t.strides()[0]]; }
float element(const Tensor& t, int64_t c) { return t.data()[c * t.strides()[0]]; }

}  // namespace

Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum, float eps) {
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

    const Tensor input = x.value().contiguous();  // (B, C, S)
    const Tensor gamma_value = gamma.defined() ? gamma.value() : Tensor();
    const Tensor beta_value = beta.defined() ? beta.value() : Tensor();
    Tensor out = Tensor::empty(x.shape());
    // Per channel: the mean and 1/sqrt(var + eps) that normalised it, kept for backward.
    std::vector<double> mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
    {
        const float* src = input.data();
        float* dst = out.data();
#pragma omp parallel for schedule(static) if (x.numel() > core::kParallelGrain)
        for (int64_t c = 0; c < C; ++c) {
            double channel_mean, channel_var;
            if (training) {
                double total = 0.0;
                for (int64_t b = 0; b < B; ++b) {
                    const float* plane = src + (b * C + c) * S;
                    total += fixed_order_sum(S, [plane](int64_t i) { return double(plane[i]); });
                }
                channel_mean = total / double(n);
                double squares = 0.0;
                for (int64_t b = 0; b < B; ++b) {
                    const float* plane = src + (b * C + c) * S;
                    squares += fixed_order_sum(S, [plane, channel_mean](int64_t i) {
                        const double centred = double(plane[i]) - channel_mean;
                        return centred * centred;
                    });
                }
                channel_var = squares / double(n);  // biased: what normalises
                if (running_mean.defined()) {
                    const double m = momentum;
                    float& rm = element(running_mean, c);
                    float& rv = element(running_var, c);
                    rm = static_cast<float>((1.0 - m) * rm + m * channel_mean);
                    rv = static_cast<float>((1.0 - m) * rv + m * channel_var * double(n) / double(n - 1));
                }
            } else {
                channel_mean = element(running_mean, c);
                channel_var = element(running_var, c);
            }
            const double channel_invstd = 1.0 / std::sqrt(channel_var + double(eps));
            mean[static_cast<size_t>(c)] = channel_mean;
            invstd[static_cast<size_t>(c)] = channel_invstd;
            // y = x * scale + shift
            const double g = gamma_value.defined() ? element(gamma_value, c) : 1.0;
            const double bt = beta_value.defined() ? element(beta_value, c) : 0.0;
            const float scale = static_cast<float>(g * channel_invstd);
            const float shift = static_cast<float>(bt - channel_mean * g * channel_invstd);
            for (int64_t b = 0; b < B; ++b) {
                const float* in_plane = src + (b * C + c) * S;
                float* out_plane = dst + (b * C + c) * S;
                for (int64_t i = 0; i < S; ++i) out_plane[i] = in_plane[i] * scale + shift;
            }
        }
    }

    std::vector<Variable> inputs{x};
    if (gamma.defined()) inputs.push_back(gamma);
    if (beta.defined()) inputs.push_back(beta);
    if (!needs_graph({&x, &gamma, &beta}))
        return make_result(std::move(out), "batch_norm", std::move(inputs), nullptr);

    const bool x_needs_grad = x.requires_grad();
    const bool gamma_needs_grad = gamma.requires_grad();
    const bool beta_needs_grad = beta.requires_grad();
    const bool has_gamma = gamma.defined(), has_beta = beta.defined();
    const Tensor saved_gamma = x_needs_grad && has_gamma ? gamma_value : Tensor();
    auto backward = [input, saved_gamma, mean = std::move(mean), invstd = std::move(invstd), B, C, S, n, training,
                     x_needs_grad, gamma_needs_grad, beta_needs_grad, has_gamma,
                     has_beta](const Tensor& grad_output) -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B, C, S)
        Tensor dx = x_needs_grad ? Tensor::empty(input.shape()) : Tensor();
        Tensor dgamma = gamma_needs_grad ? Tensor::empty({C}) : Tensor();
        Tensor dbeta = beta_needs_grad ? Tensor::empty({C}) : Tensor();
        const float* x_data = input.data();
        const float* dy_data = dout.data();
        float* dx_data = x_needs_grad ? dx.data() : nullptr;
#pragma omp parallel for schedule(static) if (input.numel() > core::kParallelGrain)
        for (int64_t c = 0; c < C; ++c) {
            const double channel_mean = mean[static_cast<size_t>(c)];
            const double channel_invstd = invstd[static_cast<size_t>(c)];
            double sum_dy = 0.0, sum_dy_xhat = 0.0;
            for (int64_t b = 0; b < B; ++b) {
                const float* x_plane = x_data + (b * C + c) * S;
                const float* dy_plane = dy_data + (b * C + c) * S;
                sum_dy += fixed_order_sum(S, [dy_plane](int64_t i) { return double(dy_plane[i]); });
                sum_dy_xhat += fixed_order_sum(S, [=](int64_t i) {
                    return double(dy_plane[i]) * (double(x_plane[i]) - channel_mean);
                });
            }
            sum_dy_xhat *= channel_invstd;
            if (gamma_needs_grad) dgamma.data()[c] = static_cast<float>(sum_dy_xhat);
            if (beta_needs_grad) dbeta.data()[c] = static_cast<float>(sum_dy);
            if (!dx_data) continue;
            const double g = saved_gamma.defined() ? element(saved_gamma, c) : 1.0;
            const float dy_scale = static_cast<float>(g * channel_invstd);
            if (training) {
                // dx = dy_scale * (dy - sum_dy/n - (x - mean) * invstd * sum_dy_xhat/n), as x*a + dy*s + k
                const double mean_dy = sum_dy / double(n);
                const double mean_dy_xhat = sum_dy_xhat / double(n);
                const float x_coeff = static_cast<float>(-g * channel_invstd * channel_invstd * mean_dy_xhat);
                const float constant = static_cast<float>(
                    g * channel_invstd * (-mean_dy + channel_mean * channel_invstd * mean_dy_xhat));
                for (int64_t b = 0; b < B; ++b) {
                    const float* x_plane = x_data + (b * C + c) * S;
                    const float* dy_plane = dy_data + (b * C + c) * S;
                    float* dx_plane = dx_data + (b * C + c) * S;
                    for (int64_t i = 0; i < S; ++i)
                        dx_plane[i] = dy_plane[i] * dy_scale + x_plane[i] * x_coeff + constant;
                }
            } else {
                for (int64_t b = 0; b < B; ++b) {
                    const float* dy_plane = dy_data + (b * C + c) * S;
                    float* dx_plane = dx_data + (b * C + c) * S;
                    for (int64_t i = 0; i < S; ++i) dx_plane[i] = dy_plane[i] * dy_scale;
                }
            }
        }
        std::vector<Tensor> grads{dx};
        if (has_gamma) grads.push_back(dgamma);
        if (has_beta) grads.push_back(dbeta);
        return grads;
    };
    return make_result(std::move(out), "batch_norm", std::move(inputs), std::move(backward));
}

}  // namespace proact::autograd
