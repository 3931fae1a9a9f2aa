// Bit-level comparisons of tensors, for the tests of fast paths that must give the plain
// computation's bits.
#pragma once

#include <cmath>
#include <cstring>

#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace proact::test {

// Values drawn uniformly from [lo, hi) by Rng(seed, stream, index): one test's reproducible data.
inline core::Tensor seeded_uniform(const core::Shape& shape, uint64_t seed, const char* stream, uint64_t index,
                                   float lo, float hi) {
    core::Rng rng(seed, stream, index);
    return core::Tensor::uniform(shape, lo, hi, rng);
}

inline bool same_bits(const core::Tensor& a, const core::Tensor& b) {
    return a.shape() == b.shape() &&
           std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

// The same bits, except that a NaN matches any NaN. When two NaNs meet in a sum, which one's sign
// and payload come out depends on the operand order the compiler picked in that loop (it may swap
// the operands of a float addition; the sanitizer build's -O2 and the release build's -O3 differ
// there): plain C++ loops over the same values can disagree in a NaN's sign. Nothing reads it.
inline bool same_bits_any_nan(const core::Tensor& a, const core::Tensor& b) {
    if (a.shape() != b.shape()) return false;
    for (int64_t i = 0; i < a.numel(); ++i) {
        const float x = a.data()[i], y = b.data()[i];
        if (std::isnan(x) != std::isnan(y)) return false;
        if (!std::isnan(x) && std::memcmp(&x, &y, sizeof(float)) != 0) return false;
    }
    return true;
}

}  // namespace proact::test
