#include "layers/resnet_block.hpp"

#include <sstream>

#include "autograd/ops.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/sequential.hpp"

namespace proact::layers {

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, core::Rng& rng)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride),
      projection_(stride != 1 || in_channels != out_channels) {
    // Registration order = PyTorch's attribute order, so named_parameters() lists the same way.
    register_module("conv1", std::make_shared<Conv2d>(in_channels, out_channels, 3, rng, stride, 1, false));
    register_module("bn1", std::make_shared<BatchNorm2d>(out_channels));
    register_module("relu1", std::make_shared<ReLU>());
    register_module("conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, rng, 1, 1, false));
    register_module("bn2", std::make_shared<BatchNorm2d>(out_channels));
    if (projection_) {
        auto shortcut = std::make_shared<Sequential>();
        shortcut->add(std::make_shared<Conv2d>(in_channels, out_channels, 1, rng, stride, 0, false));
        shortcut->add(std::make_shared<BatchNorm2d>(out_channels));
        register_module("shortcut", shortcut);
    }
    register_module("relu2", std::make_shared<ReLU>());
}

Variable BasicBlock::forward(const Variable& input) {
    // Children are looked up by name on each call so replace_child takes effect.
    Variable out = (*child("conv1"))(input);
    out = (*child("bn1"))(out);
    out = (*child("relu1"))(out);
    out = (*child("conv2"))(out);
    out = (*child("bn2"))(out);
    const Variable identity = projection_ ? (*child("shortcut"))(input) : input;
    return (*child("relu2"))(autograd::add(out, identity));
}

std::string BasicBlock::describe() const {
    std::ostringstream out;
    out << "BasicBlock(" << in_channels_ << ", " << out_channels_ << ", stride=" << stride_
        << (projection_ ? ", shortcut=conv1x1+bn" : ", shortcut=identity") << ")";
    return out.str();
}

}  // namespace proact::layers
