// Element-wise kernels with NumPy broadcasting.
//
// Broadcasting aligns shapes at their last axis; an axis of size 1 (or a missing leading axis)
// repeats to match the other: [B, C, H, W] (op) [C, 1, 1] -> [B, C, H, W]. A threshold that is a
// scalar [], a per-channel vector [C, 1, 1] or a whole [C, H, W] tensor broadcasts over the batch.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include "core/tensor.hpp"
#include "core/threads.hpp"

namespace proact::core {

// The broadcast shape of a and b; ShapeError naming `op` if they do not broadcast.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);

// The strides that read `t` as if it had shape `target` (0 on broadcast axes). t must broadcast to target.
Shape broadcast_strides(const Tensor& t, const Shape& target, const char* op);

enum class BinaryOp { Add, Sub, Mul, Div, Max, Min, Pow };

// out = a (op) b, broadcasting. The result is contiguous with the broadcast shape.
Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op, const char* name);
// max(v, 0) as PyTorch's relu has it: NaN passes (NaN < 0 is false), -0 stays -0. The one
// definition: autograd::relu maps it, the fused convolution (conv_channels.hpp) applies it.
inline float relu_value(float v) { return v < 0.0f ? 0.0f : v; }
// relu's backward at one value: the gradient dy passes where the output y is above 0 (or NaN) and
// is +0 where y is at most 0.
inline float relu_grad_value(float dy, float y) { return y <= 0.0f ? 0.0f : dy; }

inline Tensor add(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::Add, "add"); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::Sub, "sub"); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::Mul, "mul"); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::Div, "div"); }

// a += b in place; b broadcasts to a's shape (a is not reshaped).
void add_(Tensor& a, const Tensor& b);
// a = a * scale in place.
void scale_(Tensor& a, float scale);
// a += alpha * b in place, same shapes (axpy).
void axpy_(Tensor& a, float alpha, const Tensor& b);

// out[i] = fn(x[i]) over every element; result contiguous, same shape as x.
template <class Fn>
Tensor map(const Tensor& x, Fn fn) {
    const Tensor in = x.contiguous();
    Tensor out = Tensor::empty(x.shape());
    const float* src = in.data();
    float* dst = out.data();
    const int64_t n = in.numel();
#pragma omp parallel for schedule(dynamic, kDynamicChunk) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) dst[i] = fn(src[i]);
    return out;
}

// out[i] = fn(x[i], y[i]) over same-shaped tensors (no broadcasting); result contiguous.
template <class Fn>
Tensor zip(const Tensor& x, const Tensor& y, Fn fn, const char* name) {
    if (x.shape() != y.shape())
        fail<ShapeError>(name, ": shapes ", shape_str(x.shape()), " and ", shape_str(y.shape()), " differ");
    const Tensor a = x.contiguous(), b = y.contiguous();
    Tensor out = Tensor::empty(x.shape());
    const float *pa = a.data(), *pb = b.data();
    float* dst = out.data();
    const int64_t n = a.numel();
#pragma omp parallel for schedule(dynamic, kDynamicChunk) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) dst[i] = fn(pa[i], pb[i]);
    return out;
}

// out[i] = fn(x[i], y[i], z[i]) over same-shaped tensors.
template <class Fn>
Tensor zip3(const Tensor& x, const Tensor& y, const Tensor& z, Fn fn, const char* name) {
    if (x.shape() != y.shape() || x.shape() != z.shape())
        fail<ShapeError>(name, ": shapes ", shape_str(x.shape()), ", ", shape_str(y.shape()), " and ",
                         shape_str(z.shape()), " differ");
    const Tensor a = x.contiguous(), b = y.contiguous(), c = z.contiguous();
    Tensor out = Tensor::empty(x.shape());
    const float *pa = a.data(), *pb = b.data(), *pc = c.data();
    float* dst = out.data();
    const int64_t n = a.numel();
#pragma omp parallel for schedule(dynamic, kDynamicChunk) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) dst[i] = fn(pa[i], pb[i], pc[i]);
    return out;
}

}  // namespace proact::core
