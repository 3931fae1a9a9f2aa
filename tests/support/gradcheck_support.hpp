// Shared helpers for the gradient-check tests.
#pragma once

#include <doctest/doctest.h>

#include "autograd/autograd.hpp"
#include "core/core.hpp"

namespace proact::test {

using autograd::Variable;
using core::Shape;
using core::Tensor;

// Values in [lo, hi) from a fixed stream: distinct, away from kinks when lo > 0.
inline Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    core::Rng rng(seed, "test-input");
    return Tensor::uniform(shape, lo, hi, rng);
}

#define CHECK_GRADCHECK(...)                                                    \
    do {                                                                        \
        const auto gradcheck_result_ = ::proact::autograd::gradcheck(__VA_ARGS__); \
        CHECK_MESSAGE(gradcheck_result_.ok, gradcheck_result_.message);         \
    } while (0)

}  // namespace proact::test
