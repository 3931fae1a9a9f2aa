// The weight range guard op: graph code only, the loop is core::range_guard_forward / _backward.
#include "autograd/ops.hpp"
#include "core/range_guard.hpp"

namespace proact::autograd {

namespace core = proact::core;

Variable range_guard(const Variable& values, const Variable& bounds) {
    if (bounds.shape() != Shape{2})
        core::fail<core::ShapeError>("range_guard: bounds must be [2] (low, high), got ", core::shape_str(bounds.shape()));
    const Tensor xv = values.value().contiguous();
    const Tensor bv = bounds.value().contiguous();
    const float low = bv.data()[0], high = bv.data()[1];
    Tensor out = Tensor::empty(values.shape());
    core::range_guard_forward(xv.span(), low, high, out.span());
    return make_result(out, "range_guard", {values, bounds}, [values, bounds, xv, low, high](const Tensor& g) {
        Tensor dvalues, dbounds;
        if (values.requires_grad()) {
            const Tensor dy = g.contiguous();
            dvalues = Tensor::empty(xv.shape());
            core::range_guard_backward(xv.span(), low, high, dy.span(), dvalues.span());
        }
        if (bounds.requires_grad()) dbounds = Tensor::zeros({2});
        return std::vector<Tensor>{dvalues, dbounds};
    });
}

}  // namespace proact::autograd
