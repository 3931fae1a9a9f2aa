#include "layers/resnet_block.hpp"

#include <sstream>

#include "autograd/ops.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/conv_tail.hpp"
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
    // Children are looked up by name on each call so replace_child takes effect. In inference each
    // convolution and the modules after it run as one op where they allow it (conv_tail.hpp).
    const ModulePtr conv1 = child("conv1"), bn1 = child("bn1"), relu1 = child("relu1");
    const ModulePtr conv2 = child("conv2"), bn2 = child("bn2"), relu2 = child("relu2");
    const auto shortcut = [&] { return projection_ ? (*child("shortcut"))(input) : input; };
    Variable out = conv_tail(*conv1, bn1.get(), Variable(), relu1.get(), input);
    if (conv_tail_fuses(*conv2, bn2.get(), relu2.get(), out.shape()))
        return conv_tail(*conv2, bn2.get(), shortcut(), relu2.get(), out);
    // Otherwise (training) the modules in this order: conv2, bn2, the shortcut, the add, relu2; bn2,
    // the add and relu2 as one op where they allow it (bn2 runs after the shortcut then, which no
    // hook can see: batch_norm_relu_of takes only modules without one).
    out = (*conv2)(out);
    if (BatchNorm* bn = batch_norm_relu_of(bn2.get(), relu2.get())) {
        const Variable residual = shortcut();
        if (residual.shape() == out.shape()) return bn->forward_relu(out, residual);
        return (*relu2)(autograd::add((*bn2)(out), residual));
    }
    out = (*bn2)(out);
    return (*relu2)(autograd::add(out, shortcut()));
}

std::string BasicBlock::describe() const {
    std::ostringstream out;
    out << "BasicBlock(" << in_channels_ << ", " << out_channels_ << ", stride=" << stride_
        << (projection_ ? ", shortcut=conv1x1+bn" : ", shortcut=identity") << ")";
    return out.str();
}

}  // namespace proact::layers
