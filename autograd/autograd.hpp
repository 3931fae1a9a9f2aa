// proact::autograd — reverse-mode automatic differentiation.
//
//   using namespace proact::autograd;
//   Variable w(Tensor::normal({10, 784}, 0, 0.01f, rng), /*requires_grad=*/true);
//   Variable b(Tensor::zeros({10}), true);
//   Variable loss = cross_entropy(linear(x, w, b), labels);
//   loss.backward();                 // w.grad(), b.grad() now hold d loss / d w, d loss / d b
//   { NoGradGuard no_grad; auto logits = linear(x, w, b); }   // inference: no graph is built
//
// variable.hpp: Variable, Node, backward, NoGradGuard.   ops.hpp: every differentiable op.
// gradcheck.hpp: central differences against backward().
#pragma once

#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "autograd/variable.hpp"
