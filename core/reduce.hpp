// Reductions over axes. `axes` may be negative; an empty list means every axis. With keepdim the
// reduced axes stay as size 1 (so the result broadcasts back against the input).
// Sums accumulate in double and in a fixed order: the result does not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace proact::core {

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);  // NaN over an empty axis
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);   // ValueError if empty
Tensor min(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);

// Index of the largest element along `axis` (first one on ties), for every position of the other
// axes, in row-major order of those axes. ValueError if the axis is empty.
std::vector<int64_t> argmax(const Tensor& x, int64_t axis);
// The same over `count` floats `stride` apart: the one argmax loop (a NaN is never the largest,
// except at index 0, where nothing compares above it). count must be >= 1.
int64_t argmax(const float* values, int64_t count, int64_t stride = 1);

// Sums a broadcast result back to `shape` (the reverse of broadcasting): leading axes are summed
// away, axes where `shape` has 1 are summed with keepdim. Used by gradients of broadcasting ops.
Tensor sum_to(const Tensor& x, const Shape& shape);

// The shape after reducing `axes` of `shape`.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& axes, bool keepdim);

}  // namespace proact::core
