// Shape ops. Forward values are views where the tensor allows it; gradients undo the view.
#include "autograd/ops.hpp"

namespace proact::autograd {

namespace core = proact::core;

Variable reshape(const Variable& x, const Shape& shape) {
    const Shape original = x.shape();
    return make_result(x.value().reshape(shape), "reshape", {x},
                       [original](const Tensor& g) { return std::vector<Tensor>{g.reshape(original)}; });
}

Variable flatten(const Variable& x, int64_t start_axis) {
    const Shape original = x.shape();
    return make_result(x.value().flatten(start_axis), "flatten", {x},
                       [original](const Tensor& g) { return std::vector<Tensor>{g.reshape(original)}; });
}

Variable transpose(const Variable& x, int64_t axis_a, int64_t axis_b) {
    return make_result(x.value().transpose(axis_a, axis_b), "transpose", {x}, [axis_a, axis_b](const Tensor& g) {
        return std::vector<Tensor>{g.transpose(axis_a, axis_b).contiguous()};
    });
}

Variable permute(const Variable& x, const std::vector<int64_t>& order) {
    const Tensor out = x.value().permute(order);  // validates the order
    std::vector<int64_t> inverse(order.size());
    for (size_t i = 0; i < order.size(); ++i)
        inverse[core::normalize_axis(order[i], x.dim(), "permute")] = static_cast<int64_t>(i);
    return make_result(out, "permute", {x}, [inverse](const Tensor& g) {
        return std::vector<Tensor>{g.permute(inverse).contiguous()};
    });
}

Variable concat(const std::vector<Variable>& parts, int64_t axis_in) {
    if (parts.empty()) core::fail<core::ValueError>("concat: no tensors given");
    const int64_t ndim = parts[0].dim();
    const int64_t axis = core::normalize_axis(axis_in, ndim, "concat");
    Shape shape = parts[0].shape();
    shape[axis] = 0;
    for (const Variable& part : parts) {
        Shape expected = parts[0].shape();
        expected[axis] = part.dim() == ndim ? part.size(axis) : -1;
        if (part.shape() != expected)
            core::fail<core::ShapeError>("concat: part of shape ", core::shape_str(part.shape()),
                                         " does not match ", core::shape_str(parts[0].shape()),
                                         " outside axis ", axis);
        shape[axis] += part.size(axis);
    }
    Tensor out = Tensor::empty(shape);
    // View `out` as (outer, total, inner) and copy each part into its band of the middle axis.
    std::vector<int64_t> offsets;
    int64_t offset = 0;
    for (const Variable& part : parts) {
        offsets.push_back(offset);
        Tensor band = out.transpose(0, axis).slice(offset, offset + part.size(axis)).transpose(0, axis);
        band.copy_(part.value());
        offset += part.size(axis);
    }
    return make_result(out, "concat", parts, [offsets, parts, axis](const Tensor& g) {
        std::vector<Tensor> grads;
        for (size_t i = 0; i < parts.size(); ++i) {
            if (!parts[i].requires_grad()) {
                grads.emplace_back();
                continue;
            }
            grads.push_back(
                g.transpose(0, axis).slice(offsets[i], offsets[i] + parts[i].size(axis)).transpose(0, axis).contiguous());
        }
        return grads;
    });
}

}  // namespace proact::autograd
