// sum and mean over axes. The gradient broadcasts back: reshape to keepdim form, then expand.
#include "autograd/ops.hpp"
#include "core/elementwise.hpp"
#include "core/reduce.hpp"

namespace proact::autograd {

namespace core = proact::core;

namespace {

// g has the reduced shape (with or without keepdim); returns g * scale broadcast to `input_shape`.
Tensor expand_back(const Tensor& g, const Shape& input_shape, const std::vector<int64_t>& axes, float scale) {
    const Tensor kept = g.reshape(core::reduced_shape(input_shape, axes, true));
    const Tensor scaled = scale == 1.0f ? kept : core::map(kept, [scale](float v) { return v * scale; });
    return core::add(Tensor::zeros(input_shape), scaled);
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& axes) {
    return core::numel_of(shape) / std::max<int64_t>(core::numel_of(core::reduced_shape(shape, axes, true)), 1);
}

}  // namespace

Variable sum(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
    const Shape shape = x.shape();
    return make_result(core::sum(x.value(), axes, keepdim), "sum", {x}, [shape, axes](const Tensor& g) {
        return std::vector<Tensor>{expand_back(g, shape, axes, 1.0f)};
    });
}

Variable mean(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
    const Shape shape = x.shape();
    const int64_t count = reduced_count(shape, axes);
    const float scale = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
    return make_result(core::mean(x.value(), axes, keepdim), "mean", {x}, [shape, axes, scale](const Tensor& g) {
        return std::vector<Tensor>{expand_back(g, shape, axes, scale)};
    });
}

}  // namespace proact::autograd
