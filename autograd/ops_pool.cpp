// Pooling ops: validation and graph code; the loops are core/pool.hpp's (which also gives the
// window convention: padding at most half the kernel, as in PyTorch).
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/ops_checks.hpp"
#include "core/error.hpp"
#include "core/pool.hpp"

namespace proact::autograd {

namespace {

using core::fail;
using core::shape_str;

core::PoolShape validate_pool(const char* op, const Variable& x, int64_t kernel, int64_t stride, int64_t padding) {
    if (!x.defined()) fail<core::ValueError>(op, ": input must be defined");
    return detail::validate_pool(op, x.shape(), kernel, stride, padding);
}

}  // namespace

core::PoolShape detail::validate_pool(const char* op, const core::Shape& x_shape, int64_t kernel, int64_t stride,
                                      int64_t padding) {
    if (x_shape.size() != 4) fail<core::ShapeError>(op, ": input must be 4-D (B,C,H,W), got shape ", shape_str(x_shape));
    if (kernel < 1) fail<core::ValueError>(op, ": kernel must be >= 1, got ", kernel);
    if (stride < 0) fail<core::ValueError>(op, ": stride must be >= 1 (or 0 for the kernel size), got ", stride);
    if (padding < 0) fail<core::ValueError>(op, ": padding must be >= 0, got ", padding);
    if (padding > kernel / 2)
        fail<core::ValueError>(op, ": padding ", padding, " is more than half the kernel size ", kernel,
                               " (at most ", kernel / 2, ", as in PyTorch)");
    if (stride == 0) stride = kernel;
    core::PoolShape shape{x_shape[0] * x_shape[1], x_shape[2], x_shape[3], kernel, stride, padding, 0, 0};
    if (shape.height + 2 * padding < kernel || shape.width + 2 * padding < kernel)
        fail<core::ShapeError>(op, ": kernel ", kernel, "x", kernel, " is larger than the padded input ",
                               shape.height + 2 * padding, "x", shape.width + 2 * padding, " (input ",
                               shape_str(x_shape), ", padding ", padding, ")");
    shape.out_h = (shape.height + 2 * padding - kernel) / stride + 1;
    shape.out_w = (shape.width + 2 * padding - kernel) / stride + 1;
    return shape;
}

Variable max_pool2d(const Variable& x, int64_t kernel, int64_t stride, int64_t padding) {
    const core::PoolShape s = validate_pool("max_pool2d", x, kernel, stride, padding);
    if (s.height * s.width > std::numeric_limits<int32_t>::max())
        fail<core::ShapeError>("max_pool2d: plane of ", s.height, "x", s.width, " pixels exceeds the int32 argmax range");
    const Tensor input = x.value().contiguous();
    Tensor out = Tensor::empty({x.size(0), x.size(1), s.out_h, s.out_w});

    const bool graph = needs_graph({&x});
    // argmax (B,C,OH,OW): the index within its (H,W) plane of the pixel each output came from.
    auto argmax = graph ? std::make_shared<std::vector<int32_t>>(static_cast<size_t>(s.planes * s.out_h * s.out_w))
                        : std::shared_ptr<std::vector<int32_t>>();
    core::max_pool2d_forward(input.data(), s, out.data(), argmax ? argmax->data() : nullptr);
    if (!graph) return make_result(std::move(out), "max_pool2d", {x}, nullptr);

    const Shape input_shape = x.shape();
    auto backward = [s, argmax, input_shape](const Tensor& grad_output) -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B,C,OH,OW)
        Tensor dx = Tensor::empty(input_shape);         // (B,C,H,W)
        core::max_pool2d_backward(dout.data(), argmax->data(), s, dx.data());
        return {dx};
    };
    return make_result(std::move(out), "max_pool2d", {x}, std::move(backward));
}

Variable avg_pool2d(const Variable& x, int64_t kernel, int64_t stride, int64_t padding) {
    const core::PoolShape s = validate_pool("avg_pool2d", x, kernel, stride, padding);
    const Tensor input = x.value().contiguous();
    Tensor out = Tensor::empty({x.size(0), x.size(1), s.out_h, s.out_w});
    core::avg_pool2d_forward(input.data(), s, out.data());
    const Shape input_shape = x.shape();
    auto backward = [s, input_shape](const Tensor& grad_output) -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B,C,OH,OW)
        Tensor dx = Tensor::empty(input_shape);         // (B,C,H,W)
        core::avg_pool2d_backward(dout.data(), s, dx.data());
        return {dx};
    };
    return make_result(std::move(out), "avg_pool2d", {x}, std::move(backward));
}

Variable global_avg_pool(const Variable& x) {
    if (!x.defined()) fail<core::ValueError>("global_avg_pool: input must be defined");
    if (x.dim() != 4)
        fail<core::ShapeError>("global_avg_pool: input must be 4-D (B,C,H,W), got shape ", shape_str(x.shape()));
    const int64_t B = x.size(0), C = x.size(1), plane = x.size(2) * x.size(3);
    if (plane == 0) fail<core::ShapeError>("global_avg_pool: input has empty planes, shape ", shape_str(x.shape()));
    const Tensor input = x.value().contiguous();
    Tensor out = Tensor::empty({B, C});
    core::global_avg_pool_forward(input.data(), B * C, plane, out.data());
    const Shape input_shape = x.shape();
    auto backward = [input_shape, B, C, plane](const Tensor& grad_output) -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B,C)
        Tensor dx = Tensor::empty(input_shape);         // (B,C,H,W)
        core::global_avg_pool_backward(dout.data(), B * C, plane, dx.data());
        return {dx};
    };
    return make_result(std::move(out), "global_avg_pool", {x}, std::move(backward));
}

}  // namespace proact::autograd
