// batch_norm loops with PyTorch's semantics, for x viewed as (B, C, S): S = H*W for (B,C,H,W)
// input, 1 for (B,C). autograd/ops_norm.cpp validates the inputs and holds the graph code.
//
// Channel c has n = B*S values. In training, with the batch's mean and biased variance var_b,
//
//   y = (x - mean) / sqrt(var_b + eps) * gamma + beta
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var_b * n / (n - 1)   (unbiased)
//
// In eval, mean and var are running_mean and running_var and nothing is updated. Statistics are
// accumulated in double, one channel per loop iteration in a fixed order (parallel over channels),
// so results do not depend on the thread count. An absent gamma / beta means 1 / 0 (no affine),
// absent running statistics in training mean "do not track them".
//
// Backward, with xhat = (x - mean) * invstd and sums over the channel's n values:
//   training: dx = gamma * invstd * (dy - sum(dy)/n - xhat * sum(dy * xhat)/n)
//   eval:     dx = gamma * invstd * dy                      (mean, invstd are constants)
//   both:     dgamma = sum(dy * xhat),  dbeta = sum(dy)
#pragma once

#include <cstdint>

namespace proact::core {

// A per-channel vector (C) stored with a stride (a module's parameter may be a view); data null:
// absent.
struct ChannelParams {
    const float* data = nullptr;
    int64_t stride = 1;
    float operator[](int64_t c) const { return data[c * stride]; }
};
// ... and one that the forward updates in place (running statistics).
struct ChannelStats {
    float* data = nullptr;
    int64_t stride = 1;
    float& operator[](int64_t c) const { return data[c * stride]; }
};

struct BatchNormShape {
    int64_t batch = 0;     // B
    int64_t channels = 0;  // C
    int64_t plane = 1;     // S, values per (image, channel)
};

// What may follow batch norm in the same pass over its output (autograd::batch_norm_relu):
// out = relu(y + residual), each part optional, with the separate ops' arithmetic (core::add's
// y + residual, then relu_value), so the bits are those of the ops one after another.
struct BatchNormTail {
    const float* residual = nullptr;  // (B, C, S), or null
    bool relu = false;
};

// x (B, C, S) -> out (B, C, S), followed by `tail`; mean, invstd (C): the statistics that
// normalised each channel, kept for backward. training needs n = B*S > 1; eval needs running
// statistics.
void batch_norm_forward(const float* x, const BatchNormShape& shape, ChannelParams gamma, ChannelParams beta,
                        ChannelStats running_mean, ChannelStats running_var, bool training, float momentum, float eps,
                        float* out, double* mean, double* invstd, const BatchNormTail& tail = {});

// What batch_norm_forward applies to channel c, y = x * scale + shift (a rounded product, then a
// rounded sum), from the channel's mean and 1/sqrt(var + eps): scale = gamma * invstd and
// shift = beta - mean * gamma * invstd, in double, each rounded once to float.
struct ChannelAffine {
    float scale = 1.0f;
    float shift = 0.0f;
    float operator()(float x) const { return x * scale + shift; }
};
ChannelAffine batch_norm_affine(ChannelParams gamma, ChannelParams beta, int64_t c, double mean, double invstd);
double batch_norm_invstd(double var, float eps);  // 1 / sqrt(var + eps)

// Eval mode's affine of every channel, from the running statistics: scale, shift (C) such that
// batch_norm_forward(training = false) gives y = x * scale[c] + shift[c] (ChannelAffine), the same
// bits. For a caller that applies it elsewhere (core/conv_epilogue.hpp).
void batch_norm_eval_affine(ChannelParams gamma, ChannelParams beta, ChannelParams running_mean,
                            ChannelParams running_var, int64_t channels, float eps, float* scale, float* shift);

// x, dy (B, C, S), the forward's mean and invstd -> dx (B, C, S), dgamma (C), dbeta (C), each null
// when not wanted. gamma: the forward's (absent: 1); read only for dx. relu_out (B, C, S), when not
// null, is the output of a ReLU that followed batch norm (BatchNormTail without a residual), and dy
// the gradient at that output: each value of dy counts where relu_out is above 0 and is +0 where
// it is at most 0, as relu's backward passes it (a NaN output passes dy).
void batch_norm_backward(const float* x, const float* dy, const BatchNormShape& shape, ChannelParams gamma,
                         const double* mean, const double* invstd, bool training, float* dx, float* dgamma,
                         float* dbeta, const float* relu_out = nullptr);

}  // namespace proact::core
