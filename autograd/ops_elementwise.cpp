// Element-wise ops and their gradients. Broadcast gradients are summed back with core::sum_to.
#include <cmath>

#include "autograd/ops.hpp"
#include "core/elementwise.hpp"
#include "core/reduce.hpp"

namespace proact::autograd {

namespace core = proact::core;

namespace {

// The gradient for an input of `shape`, or undefined when it needs none.
Tensor grad_for(const Variable& input, const Tensor& g) {
    if (!input.requires_grad()) return Tensor();
    return core::sum_to(g, input.shape());
}

}  // namespace

Variable add(const Variable& a, const Variable& b) {
    return make_result(core::add(a.value(), b.value()), "add", {a, b}, [a, b](const Tensor& g) {
        return std::vector<Tensor>{grad_for(a, g), grad_for(b, g)};
    });
}

Variable sub(const Variable& a, const Variable& b) {
    return make_result(core::sub(a.value(), b.value()), "sub", {a, b}, [a, b](const Tensor& g) {
        Tensor db;
        if (b.requires_grad()) db = core::sum_to(core::map(g, [](float v) { return -v; }), b.shape());
        return std::vector<Tensor>{grad_for(a, g), db};
    });
}

Variable mul(const Variable& a, const Variable& b) {
    const Tensor av = a.value(), bv = b.value();
    return make_result(core::mul(av, bv), "mul", {a, b}, [a, b, av, bv](const Tensor& g) {
        Tensor da, db;
        if (a.requires_grad()) da = core::sum_to(core::mul(g, bv), a.shape());
        if (b.requires_grad()) db = core::sum_to(core::mul(g, av), b.shape());
        return std::vector<Tensor>{da, db};
    });
}

Variable div(const Variable& a, const Variable& b) {
    const Tensor av = a.value(), bv = b.value();
    Tensor out = core::div(av, bv);
    return make_result(out, "div", {a, b}, [a, b, bv, out](const Tensor& g) {
        Tensor da, db;
        if (a.requires_grad()) da = core::sum_to(core::div(g, bv), a.shape());
        // d(a/b)/db = -(a/b)/b
        if (b.requires_grad())
            db = core::sum_to(core::map(core::div(core::mul(g, out), bv), [](float v) { return -v; }), b.shape());
        return std::vector<Tensor>{da, db};
    });
}

Variable add(const Variable& a, float b) {
    return make_result(core::map(a.value(), [b](float v) { return v + b; }), "add_scalar", {a},
                       [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Variable mul(const Variable& a, float b) {
    return make_result(core::map(a.value(), [b](float v) { return v * b; }), "mul_scalar", {a},
                       [b](const Tensor& g) {
                           return std::vector<Tensor>{core::map(g, [b](float v) { return v * b; })};
                       });
}

Variable neg(const Variable& x) { return mul(x, -1.0f); }

Variable exp(const Variable& x) {
    Tensor out = core::map(x.value(), [](float v) { return std::exp(v); });
    return make_result(out, "exp", {x}, [out](const Tensor& g) { return std::vector<Tensor>{core::mul(g, out)}; });
}

Variable log(const Variable& x) {
    const Tensor xv = x.value();
    return make_result(core::map(xv, [](float v) { return std::log(v); }), "log", {x},
                       [xv](const Tensor& g) { return std::vector<Tensor>{core::div(g, xv)}; });
}

Variable pow(const Variable& x, float exponent) {
    const Tensor xv = x.value();
    return make_result(core::map(xv, [exponent](float v) { return std::pow(v, exponent); }), "pow", {x},
                       [xv, exponent](const Tensor& g) {
                           return std::vector<Tensor>{core::zip(
                               g, xv,
                               [exponent](float dv, float v) { return dv * exponent * std::pow(v, exponent - 1.0f); },
                               "pow")};
                       });
}

Variable sqrt(const Variable& x) {
    Tensor out = core::map(x.value(), [](float v) { return std::sqrt(v); });
    return make_result(out, "sqrt", {x}, [out](const Tensor& g) {
        return std::vector<Tensor>{core::zip(g, out, [](float dv, float s) { return dv * 0.5f / s; }, "sqrt")};
    });
}

// PyTorch's relu, clamp_min(x, 0): only a value below 0 becomes 0, so NaN passes through (a fault's
// NaN stays visible downstream), +inf stays +inf, -inf becomes 0 and -0 stays -0. Its backward is
// PyTorch's threshold_backward(g, y, 0): 0 where y <= 0, else g, so the gradient also passes at a
// NaN output (NaN <= 0 is false). The clipped ReLUs (core/clip.hpp) map non-finite inputs to 0 instead.
Variable relu(const Variable& x) {
    Tensor out = core::map(x.value(), [](float v) { return core::relu_value(v); });
    return make_result(out, "relu", {x}, [out](const Tensor& g) {
        return std::vector<Tensor>{core::zip(
            g, out, [](float dv, float y) { return core::relu_grad_value(dv, y); }, "relu")};
    });
}

Variable sigmoid(const Variable& x) {
    Tensor out = core::map(x.value(), [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
    return make_result(out, "sigmoid", {x}, [out](const Tensor& g) {
        return std::vector<Tensor>{
            core::zip(g, out, [](float dv, float s) { return dv * s * (1.0f - s); }, "sigmoid")};
    });
}

Variable tanh(const Variable& x) {
    Tensor out = core::map(x.value(), [](float v) { return std::tanh(v); });
    return make_result(out, "tanh", {x}, [out](const Tensor& g) {
        return std::vector<Tensor>{core::zip(g, out, [](float dv, float t) { return dv * (1.0f - t * t); }, "tanh")};
    });
}

Variable clamp(const Variable& x, float lo, float hi) {
    if (lo > hi) core::fail<core::ValueError>("clamp: lower bound ", lo, " above upper bound ", hi);
    const Tensor xv = x.value();
    return make_result(core::map(xv, [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); }), "clamp", {x},
                       [xv, lo, hi](const Tensor& g) {
                           return std::vector<Tensor>{core::zip(
                               g, xv, [lo, hi](float dv, float v) { return v > lo && v < hi ? dv : 0.0f; }, "clamp")};
                       });
}

Variable where(const Tensor& condition, const Variable& a, const Variable& b) {
    const core::Shape shape =
        core::broadcast_shape(core::broadcast_shape(condition.shape(), a.shape(), "where"), b.shape(), "where");
    // Broadcast everything to the common shape through adds with zeros (simple and exact).
    const Tensor zeros = Tensor::zeros(shape);
    const Tensor mask = core::add(zeros, condition);
    const Tensor av = core::add(zeros, a.value()), bv = core::add(zeros, b.value());
    Tensor out = core::zip3(mask, av, bv, [](float m, float x, float y) { return m != 0.0f ? x : y; }, "where");
    return make_result(out, "where", {a, b}, [a, b, mask](const Tensor& g) {
        Tensor da, db;
        if (a.requires_grad())
            da = core::sum_to(core::zip(g, mask, [](float dv, float m) { return m != 0.0f ? dv : 0.0f; }, "where"),
                              a.shape());
        if (b.requires_grad())
            db = core::sum_to(core::zip(g, mask, [](float dv, float m) { return m != 0.0f ? 0.0f : dv; }, "where"),
                              b.shape());
        return std::vector<Tensor>{da, db};
    });
}

}  // namespace proact::autograd
