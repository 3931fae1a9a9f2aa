// What the zoo benchmarks share: a steady-clock timer and the FLOP count of one forward pass.
#pragma once

#include <chrono>

#include "autograd/ops.hpp"
#include "core/core.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "layers/module.hpp"

namespace proact::bench {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Multiply-adds x 2 of every Conv2d and Linear in one forward pass of one image (eval mode, no graph).
inline double forward_flops_per_image(layers::Module& model, const core::Shape& input_shape) {
    double macs = 0.0;
    layers::ForwardHookScope hooks;
    for (auto& [name, module] : model.named_modules()) {
        if (auto* conv = dynamic_cast<layers::Conv2d*>(module.get())) {
            hooks.add(*conv, [&macs, conv](layers::Module&, const autograd::Variable&, const autograd::Variable& out) {
                // every output value is in_channels * kernel^2 multiply-adds
                macs += double(out.value().numel()) * double(conv->in_channels() * conv->kernel() * conv->kernel());
            });
        } else if (auto* linear = dynamic_cast<layers::Linear*>(module.get())) {
            hooks.add(*linear, [&macs, linear](layers::Module&, const autograd::Variable&, const autograd::Variable& out) {
                macs += double(out.value().numel()) * double(linear->in_features());
            });
        }
    }
    layers::ModeGuard eval_mode(model, /*training=*/false);
    autograd::NoGradGuard no_grad;
    core::Shape one = {1};
    one.insert(one.end(), input_shape.begin(), input_shape.end());
    model(autograd::Variable(core::Tensor::zeros(one)));
    return 2.0 * macs;
}

}  // namespace proact::bench
