#include "layers/activation.hpp"

#include <algorithm>

#include "autograd/ops.hpp"

namespace proact::layers {

Variable ReLU::forward(const Variable& input) { return autograd::relu(input); }

Variable Flatten::forward(const Variable& input) {
    if (start_axis_ < 0 || start_axis_ >= std::max<int64_t>(input.dim(), 1))
        core::fail<core::ShapeError>("flatten: start axis ", start_axis_, " is outside an input of shape ",
                                     core::shape_str(input.shape()));
    return autograd::flatten(input, start_axis_);
}

std::string Flatten::describe() const { return "Flatten(start_axis=" + std::to_string(start_axis_) + ")"; }

std::string Identity::describe() const { return replaces_.empty() ? "Identity()" : "Identity(folded " + replaces_ + ")"; }

}  // namespace proact::layers
