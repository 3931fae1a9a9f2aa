#include "core/range_guard.hpp"

#include "core/error.hpp"

namespace proact::core {

namespace {

inline bool kept(float value, float low, float high) { return low <= value && value <= high; }

}  // namespace

void range_guard_forward(std::span<const float> values, float low, float high, std::span<float> out) {
    if (out.size() != values.size())
        fail<ShapeError>("range_guard_forward: output has ", out.size(), " elements, values have ", values.size());
    const size_t count = values.size();
    for (size_t i = 0; i < count; ++i) out[i] = kept(values[i], low, high) ? values[i] : 0.0f;
}

void range_guard_backward(std::span<const float> values, float low, float high, std::span<const float> dy,
                          std::span<float> dvalues) {
    if (dy.size() != values.size() || dvalues.size() != values.size())
        fail<ShapeError>("range_guard_backward: values have ", values.size(), " elements, dy ", dy.size(),
                         ", dvalues ", dvalues.size());
    const size_t count = values.size();
    for (size_t i = 0; i < count; ++i) dvalues[i] = kept(values[i], low, high) ? dy[i] : 0.0f;
}

}  // namespace proact::core
