// Example 1: reverse-mode automatic differentiation, from scratch.
//
// We fit nothing here: we build one small computation, ask the library for its gradients with a
// single backward() call, and check them against the definition of a derivative (finite
// differences). Every training loop in this project rests on exactly this mechanism.
//
// The computation is one neuron layer and a squared-error loss:
//   x: (4, 3)  four samples, three features     w: (2, 3)  two output neurons     b: (2)
//   y = tanh(x w^T + b): (4, 2)                 loss = mean((y - target)^2): a scalar
#include <cmath>
#include <cstdio>

#include "autograd/autograd.hpp"
#include "core/rng.hpp"

using namespace proact;
using autograd::Variable;
using core::Tensor;

namespace {

// The loss as a plain function of w, so the finite differences below can re-evaluate it.
Variable loss_of(const Variable& x, const Variable& w, const Variable& b, const Variable& target) {
    const Variable y = autograd::tanh(autograd::linear(x, w, b));  // linear computes x w^T + b
    return autograd::mean(autograd::pow(y - target, 2.0f));
}

}  // namespace

int main() {
    // All randomness comes from a named, seeded stream: the same seed gives the same numbers.
    core::Rng rng(0, "example");
    const Variable x(Tensor::normal({4, 3}, 0.0f, 1.0f, rng));       // data: no gradient wanted
    const Variable target(Tensor::uniform({4, 2}, -0.5f, 0.5f, rng));
    Variable w(Tensor::normal({2, 3}, 0.0f, 0.5f, rng), /*requires_grad=*/true);  // leaves we differentiate
    Variable b(Tensor::zeros({2}), /*requires_grad=*/true);

    // Forward: every op records a graph node holding what its backward needs.
    Variable loss = loss_of(x, w, b, target);
    // Backward: the graph is walked from the loss to the leaves in reverse topological order, and
    // each node adds its share of d(loss)/d(input) into the inputs' .grad (accumulation with +=, so
    // a value used twice receives both contributions).
    loss.backward();
    std::printf("loss = %.6f\n", loss.item());

    // Check d(loss)/d(w) element by element: (loss(w + h) - loss(w - h)) / 2h. No graph is needed
    // for these evaluations, so NoGradGuard turns recording off.
    autograd::NoGradGuard no_grad;
    const double step = 1e-3;
    double worst = 0.0;
    for (int64_t i = 0; i < w.numel(); ++i) {
        float& weight = w.value().data()[i];
        const float saved = weight;
        weight = saved + float(step);
        const double up = loss_of(x, w, b, target).item();
        weight = saved - float(step);
        const double down = loss_of(x, w, b, target).item();
        weight = saved;
        const double numeric = (up - down) / (2 * step);
        const double analytic = w.grad().data()[i];
        std::printf("dloss/dw[%lld] analytic % .6f  numeric % .6f\n", static_cast<long long>(i), analytic, numeric);
        worst = std::max(worst, std::abs(analytic - numeric));
    }
    std::printf("dloss/db = [% .6f, % .6f]\n", b.grad().data()[0], b.grad().data()[1]);
    // float32 central differences agree to about 1e-4 here; anything larger means a wrong backward.
    if (worst > 1e-3) {
        std::printf("gradient check FAILED: largest difference %.3g\n", worst);
        return 1;
    }
    std::printf("gradient check passed: largest difference %.3g\n", worst);
    return 0;
}
