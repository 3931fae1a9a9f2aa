// Differentiable ops. Each is a free function that computes its value with core kernels and
// returns make_result(value, name, inputs, backward) — the backward closure sits next to the
// forward in the op's .cpp file and captures only what it needs.
//
// Broadcasting ops (add, sub, mul, div, where, pow with a tensor exponent) reduce each input's
// gradient back to that input's shape with core::sum_to, so a threshold of shape [], [C, 1, 1] or
// [C, H, W] broadcast over a batch gets the summed gradient it should.
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.hpp"
#include "core/clip.hpp"
#include "core/rng.hpp"

namespace proact::autograd {

// ---- element-wise (ops_elementwise.cpp) ----
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable add(const Variable& a, float b);
Variable mul(const Variable& a, float b);
Variable neg(const Variable& x);
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable pow(const Variable& x, float exponent);
Variable sqrt(const Variable& x);
// max(x, 0) as PyTorch has it: NaN passes, relu(+inf) = +inf, relu(-inf) = 0; gradient g where the
// output is not <= 0 (so also at NaN), else 0.
Variable relu(const Variable& x);
Variable sigmoid(const Variable& x);
Variable tanh(const Variable& x);
// min(max(x, lo), hi); gradient 1 strictly inside (lo, hi), 0 outside.
Variable clamp(const Variable& x, float lo, float hi);
// condition ? a : b, element-wise with broadcasting; condition is a 0/1 mask (not differentiated).
Variable where(const Tensor& condition, const Variable& a, const Variable& b);

inline Variable operator+(const Variable& a, const Variable& b) { return add(a, b); }
inline Variable operator-(const Variable& a, const Variable& b) { return sub(a, b); }
inline Variable operator*(const Variable& a, const Variable& b) { return mul(a, b); }
inline Variable operator/(const Variable& a, const Variable& b) { return div(a, b); }
inline Variable operator-(const Variable& x) { return neg(x); }
inline Variable operator+(const Variable& a, float b) { return add(a, b); }
inline Variable operator-(const Variable& a, float b) { return add(a, -b); }
inline Variable operator*(const Variable& a, float b) { return mul(a, b); }
inline Variable operator*(float a, const Variable& b) { return mul(b, a); }

// ---- reductions (ops_reduce.cpp); empty axes = all axes ----
Variable sum(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Variable mean(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);

// ---- shape (ops_shape.cpp) ----
Variable reshape(const Variable& x, const Shape& shape);
Variable flatten(const Variable& x, int64_t start_axis = 1);
Variable transpose(const Variable& x, int64_t axis_a, int64_t axis_b);
Variable permute(const Variable& x, const std::vector<int64_t>& order);
Variable concat(const std::vector<Variable>& parts, int64_t axis);

// ---- linear algebra (ops_matmul.cpp) ----
// (M,K) x (K,N) or batched (...,M,K) x (...,K,N) / (K,N).
Variable matmul(const Variable& a, const Variable& b);
// x (B,in) , weight (out,in) , bias (out) or undefined -> (B,out). Fused x W^T + b.
Variable linear(const Variable& x, const Variable& weight, const Variable& bias);

// ---- activations and losses (ops_nn.cpp) ----
Variable softmax(const Variable& x, int64_t axis = -1);
Variable log_softmax(const Variable& x, int64_t axis = -1);
// logits (B,K), labels B integers in [0,K): mean over the batch of -log softmax(logits)[label].
Variable cross_entropy(const Variable& logits, const std::vector<int32_t>& labels);
// mean((a - b)^2) over all elements.
Variable mse(const Variable& a, const Variable& b);
// Inverted dropout: in training, zero each element with probability p and scale the rest by
// 1/(1-p); the mask comes from `rng` (seeded by the caller). Identity when !training or p == 0.
Variable dropout(const Variable& x, float p, bool training, core::Rng& rng);

// ---- convolution and pooling (ops_conv.cpp, ops_pool.cpp); NCHW layout ----
// x (B,C,H,W), weight (O,C,KH,KW), bias (O) or undefined -> (B,O,OH,OW),
// OH = (H + 2*padding - KH) / stride + 1.
Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride = 1,
                int64_t padding = 0);
// max_pool2d(relu(conv2d(x, weight, bias, stride, padding)), pool_kernel, pool_stride,
// pool_padding) as one op, in the bits of the three, with their checks and errors. Without a graph
// (grad mode off, or nothing requiring a gradient) and where core::conv2d_direct_applies, one image
// at a time (core::conv2d_relu_max_pool2d_direct: the convolution's output stays in cache); else,
// and always with a graph, the three ops.
Variable conv2d_relu_max_pool2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride,
                                int64_t padding, int64_t pool_kernel, int64_t pool_stride = 0,
                                int64_t pool_padding = 0);
// What conv2d_fused runs after the convolution y: each part optional, in this order.
struct ConvTail {
    // batch_norm(y, gamma, beta, running_mean, running_var, /*training=*/false, momentum, eps)
    bool batch_norm = false;
    Variable gamma, beta;
    Tensor running_mean, running_var;
    float momentum = 0.1f, eps = 1e-5f;
    Variable residual;  // add(y, residual); undefined: none
    enum class Activation { none, relu, clip } activation = Activation::none;
    // clip: clip_activation(y, threshold, mode, slope)
    Variable threshold;
    core::ClipMode mode = core::ClipMode::hard;
    float slope = 20.0f;
};
// conv2d(x, weight, bias, stride, padding) and then `tail` as one op, in the bits of the separate
// ops, with their checks and errors. Without a graph (grad mode off, or nothing requiring a
// gradient), each image's convolution output goes through the tail while it is still in cache
// (core/conv_epilogue.hpp); else, and for what that path does not take (a residual that only
// broadcasts, ...), the separate ops.
Variable conv2d_fused(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride,
                      int64_t padding, const ConvTail& tail);
// x (B,C,H,W) -> (B,C,OH,OW); stride defaults to the kernel size; padding with -inf (max) or
// zeros counted in the average (avg, like PyTorch's count_include_pad=true).
Variable max_pool2d(const Variable& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Variable avg_pool2d(const Variable& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
// x (B,C,H,W) -> (B,C): the mean over H and W.
Variable global_avg_pool(const Variable& x);

// ---- normalisation (ops_norm.cpp) ----
// x (B,C) or (B,C,H,W); gamma, beta (C). In training, normalises with the batch's statistics and
// updates running_mean / running_var in place (momentum as in PyTorch: new = (1-m)*old + m*batch,
// running_var uses the unbiased batch variance); in eval, normalises with the running statistics.
Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);
// relu(add(batch_norm(x, ...), residual)) as one op (residual undefined: relu(batch_norm(...))):
// the same values, gradients and running statistics, bit for bit, as the three ops, with their
// checks, in one pass over the output and without the two intermediate tensors (what training a
// ResNet or a VGG with batch norm runs after each convolution). The residual must have x's shape
// (ShapeError otherwise: the add that broadcasts is the separate ops').
Variable batch_norm_relu(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, bool training, float momentum, float eps, const Variable& residual);

}  // namespace proact::autograd

// ---- clipped activation (ops_clip.cpp; kernels in core/clip.hpp) ----
namespace proact::autograd {

// x (B, C, ...) clipped at `threshold`, whose shape says its granularity: one element (layer),
// [C] or [C, 1, ..., 1] (channel), or x's shape without the batch axis (neuron). Gradients flow to
// x and to the threshold (summed over its broadcast positions; none in hard mode, whose
// derivative in b is zero almost everywhere). ShapeError for any other threshold shape;
// ValueError for a slope outside (0, core::kMaxClipSlope] in smooth mode.
Variable clip_activation(const Variable& x, const Variable& threshold, core::ClipMode mode, float slope = 20.0f);

// The granularity `threshold` has against an activation of `x_shape` (with the batch axis), as
// clip_activation reads it; ShapeError naming both shapes if it fits none.
core::ClipGranularity clip_granularity_of(const Shape& x_shape, const Shape& threshold_shape);

}  // namespace proact::autograd

// ---- weight range guard (ops_range_guard.cpp; kernel in core/range_guard.hpp) ----
namespace proact::autograd {

// values (any shape) with every element outside [bounds[0], bounds[1]] (NaN, inf included) set to
// 0; bounds is [2]. The gradient flows to values where they were kept; the bounds get a zero one
// (hardened models are not trained further, so nothing needs it). ShapeError for bounds not [2].
Variable range_guard(const Variable& values, const Variable& bounds);

}  // namespace proact::autograd
