// The weight range guard (beyond the paper): a stored weight tensor keeps its fault-free [low, high]
// and every decoded value outside it counts as 0, so a bit flip that blows a weight up (a high
// exponent or integer bit) removes that weight instead of ruining every activation after it.
//
// values, out: (count), may alias. out[i] = low <= values[i] <= high ? values[i] : 0.
// NaN and +-inf come out as 0 for finite bounds (every comparison with NaN is false); when a bound
// itself is NaN (a faulted bound), every value comes out as 0.
#pragma once

#include <span>

namespace proact::core {

// ShapeError if out.size() != values.size().
void range_guard_forward(std::span<const float> values, float low, float high, std::span<float> out);

// dvalues[i] = dy[i] where values[i] was kept, else 0 (the derivative of the forward almost
// everywhere; the bounds get none). values, dy, dvalues: (count); ShapeError for unequal sizes.
void range_guard_backward(std::span<const float> values, float low, float high, std::span<const float> dy,
                          std::span<float> dvalues);

}  // namespace proact::core
