// Gradient check: analytic gradients from backward() against central differences.
//
//   auto result = gradcheck([](const std::vector<Variable>& in) { return mul(in[0], in[1]); },
//                           {Tensor::normal({3, 4}, 0, 1, rng), Tensor::normal({4}, 0, 1, rng)});
//   CHECK_MESSAGE(result.ok, result.message);
//
// The function's output (any shape) is reduced to a scalar L = sum(output * R) with a fixed random
// R, so every output element takes part. For every element of every input, dL/dx is compared with
// (L(x+eps) - L(x-eps)) / (2 eps); the check passes when |analytic - numeric| <=
// atol + rtol * |numeric| everywhere. It fails when the analytic gradient of an input is all zero
// (a missing backward must not pass) unless that input is listed in `allow_zero`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.hpp"

namespace proact::autograd {

struct GradcheckOptions {
    float eps = 1e-3f;
    float rtol = 2e-2f;
    float atol = 2e-3f;
    uint64_t seed = 1234;              // for the projection R
    std::vector<size_t> allow_zero;    // inputs whose gradient may legitimately be all zero
};

struct GradcheckResult {
    bool ok = false;
    std::string message;      // the worst element when failing; a summary when passing
    double max_abs_error = 0.0;
};

using GradcheckFn = std::function<Variable(const std::vector<Variable>&)>;

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace proact::autograd
