// Internal to autograd/ops_*.cpp: the argument checks that more than one op runs (the fused
// convolution, ops_conv.cpp, checks its pooling as max_pool2d does). Nothing here is for use
// outside the ops files.
#pragma once

#include <cstdint>
#include <optional>

#include "autograd/variable.hpp"
#include "core/clip.hpp"
#include "core/im2col.hpp"
#include "core/pool.hpp"

namespace proact::autograd::detail {

// conv2d's checks (ops_conv.cpp); the convolution's shape.
core::Im2colShape validate_conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride,
                                  int64_t padding);

// A pooling op's checks on an input of shape x_shape (ops_pool.cpp), the error messages naming
// `op`; the pooling's shape (stride 0 = the kernel).
core::PoolShape validate_pool(const char* op, const core::Shape& x_shape, int64_t kernel, int64_t stride,
                              int64_t padding);

// The granularity of a clip threshold of threshold_shape on an input of x_shape (B, C, ...), as
// clip_granularity_of finds it; nothing when it fits none (clip_granularity_of then fails).
std::optional<core::ClipGranularity> find_clip_granularity(const core::Shape& x_shape,
                                                           const core::Shape& threshold_shape);

}  // namespace proact::autograd::detail
