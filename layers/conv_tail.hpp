// A convolution and the modules after it, run as one op in inference (autograd::conv2d_fused: each
// image's convolution output goes through batch norm, the residual add and the activation while it
// is still in cache; the same bits as the modules one by one). Sequential and BasicBlock use it:
//
//   Variable y = layers::conv_tail(conv, bn, residual, relu, x);   // relu(bn(conv(x)) + residual)
//
// It fuses when no graph is recorded (grad mode off) and every module is exactly of its type (not
// a subclass) with no forward hook: conv a Conv2d; norm a BatchNorm2d in eval mode that fits the
// convolution's output, an Identity, or null; activation a ReLU, a ClippedReLU that takes the
// output, or null. Otherwise it runs the convolution, then a plain BatchNorm2d with a plain ReLU
// (and a residual of the output's shape) as one op (BatchNorm::forward_relu, the path training
// takes: the same bits without the intermediate tensors), or else the modules one by one, hooks and
// checks included.
#pragma once

#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/module.hpp"

namespace proact::layers {

// `module` when it is a plain module of a kind the tail takes as its norm (BatchNorm2d, Identity)
// or its activation (ReLU, ClippedReLU), else null (also for null).
Module* tail_norm(Module* module);
Module* tail_activation(Module* module);

// `norm` as a batch norm that runs with `activation` as one op (BatchNorm::forward_relu: the same
// bits as the two modules and a residual add between them, without the intermediate tensors; the
// path training takes): a plain BatchNorm2d or BatchNorm1d followed by a plain ReLU; else null.
BatchNorm* batch_norm_relu_of(Module* norm, Module* activation);

// Whether conv_tail would fuse these for an input of shape x_shape.
bool conv_tail_fuses(Module& conv, Module* norm, Module* activation, const Shape& x_shape);

// activation(norm(conv(x)) + residual): norm, activation null and residual undefined for none.
Variable conv_tail(Module& conv, Module* norm, const Variable& residual, Module* activation, const Variable& x);

}  // namespace proact::layers
