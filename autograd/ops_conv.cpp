// conv2d: validation and graph code; the loops (im2col + GEMM per group of images, and backward)
// are core::conv2d_forward / conv2d_backward (core/conv2d.hpp has the plan and its measurements).
#include <cstdint>
#include <limits>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/ops_checks.hpp"
#include "core/conv2d.hpp"
#include "core/conv_channels.hpp"
#include "core/error.hpp"
#include "core/im2col.hpp"

namespace proact::autograd {

namespace {

using core::fail;
using core::shape_str;

// Above this size the forward's cols are not kept for backward but rebuilt from x there: a
// ResNet-20 stage at batch 128 would otherwise hold over a gigabyte of columns across the network.
constexpr int64_t kMaxSavedColsBytes = int64_t(32) << 20;

}  // namespace

core::Im2colShape detail::validate_conv2d(const Variable& x, const Variable& weight, const Variable& bias,
                                          int64_t stride, int64_t padding) {
    if (!x.defined() || !weight.defined()) fail<core::ValueError>("conv2d: input and weight must be defined");
    if (x.dim() != 4)
        fail<core::ShapeError>("conv2d: input must be 4-D (B,C,H,W), got shape ", shape_str(x.shape()));
    if (weight.dim() != 4)
        fail<core::ShapeError>("conv2d: weight must be 4-D (O,C,KH,KW), got shape ", shape_str(weight.shape()));
    if (x.size(1) != weight.size(1))
        fail<core::ShapeError>("conv2d: input has ", x.size(1), " channels, weight expects ", weight.size(1));
    if (bias.defined() && bias.shape() != Shape{weight.size(0)})
        fail<core::ShapeError>("conv2d: bias has shape ", shape_str(bias.shape()), ", expected [", weight.size(0),
                               "] (one per output channel)");
    if (stride < 1) fail<core::ValueError>("conv2d: stride must be >= 1, got ", stride);
    if (padding < 0) fail<core::ValueError>("conv2d: padding must be >= 0, got ", padding);
    if (weight.size(0) < 1 || weight.size(2) < 1 || weight.size(3) < 1)
        fail<core::ShapeError>("conv2d: weight needs at least one 1x1 filter, got shape ", shape_str(weight.shape()));

    core::Im2colShape shape;
    shape.batch = x.size(0);
    shape.channels = x.size(1);
    shape.height = x.size(2);
    shape.width = x.size(3);
    shape.kernel_h = weight.size(2);
    shape.kernel_w = weight.size(3);
    shape.stride = stride;
    shape.padding = padding;
    if (shape.height + 2 * padding < shape.kernel_h || shape.width + 2 * padding < shape.kernel_w)
        fail<core::ShapeError>("conv2d: kernel ", shape.kernel_h, "x", shape.kernel_w,
                               " is larger than the padded input ", shape.height + 2 * padding, "x",
                               shape.width + 2 * padding, " (input ", shape_str(x.shape()), ", padding ", padding,
                               ")");
    return shape;
}

using detail::validate_conv2d;

Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride, int64_t padding) {
    const core::Im2colShape shape = validate_conv2d(x, weight, bias, stride, padding);
    const int64_t B = shape.batch, C = shape.channels, O = weight.size(0);
    const int64_t CKK = shape.col_rows(), N = shape.col_cols();

    const Tensor x_value = x.value().contiguous();
    const Tensor weight_value = weight.value().contiguous();
    const Tensor bias_value = bias.defined() ? bias.value().contiguous() : Tensor();

    const bool graph = needs_graph({&x, &weight, &bias});
    const bool x_needs_grad = graph && x.requires_grad();
    const bool weight_needs_grad = graph && weight.requires_grad();
    const bool bias_needs_grad = graph && bias.requires_grad();
    // dweight needs cols: keep them if small, else rebuild them from x (alive through the graph
    // anyway). Where the forward runs the direct convolution (no im2col), they are rebuilt too:
    // backward's im2col of one group at a time stays in cache, and the forward skips writing them.
    const bool save_cols = weight_needs_grad && CKK * N * int64_t(sizeof(float)) <= kMaxSavedColsBytes &&
                           !core::conv2d_direct_applies(shape, O);
    Tensor saved_cols = save_cols ? Tensor::empty({CKK * N}) : Tensor();

    Tensor out = Tensor::empty({B, O, shape.out_h(), shape.out_w()});
    core::conv2d_forward(x_value.data(), weight_value.data(), bias_value.defined() ? bias_value.data() : nullptr,
                         shape, O, out.data(), save_cols ? saved_cols.data() : nullptr);

    std::vector<Variable> inputs{x, weight};
    if (bias.defined()) inputs.push_back(bias);
    if (!graph) return make_result(std::move(out), "conv2d", std::move(inputs), nullptr);

    const Tensor saved_x = weight_needs_grad && !save_cols ? x_value : Tensor();
    const Tensor saved_weight = x_needs_grad ? weight_value : Tensor();
    const bool has_bias = bias.defined();
    auto backward = [shape, B, C, O, x_needs_grad, weight_needs_grad, bias_needs_grad, has_bias, saved_cols, saved_x,
                     saved_weight](const Tensor& grad_output) -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B,O,OH,OW)
        Tensor dx = x_needs_grad ? Tensor::empty({B, C, shape.height, shape.width}) : Tensor();
        Tensor dweight = weight_needs_grad ? Tensor::empty({O, C, shape.kernel_h, shape.kernel_w}) : Tensor();
        Tensor dbias = bias_needs_grad ? Tensor::empty({O}) : Tensor();
        core::conv2d_backward(dout.data(), saved_x.defined() ? saved_x.data() : nullptr,
                              saved_cols.defined() ? saved_cols.data() : nullptr,
                              saved_weight.defined() ? saved_weight.data() : nullptr, shape, O,
                              x_needs_grad ? dx.data() : nullptr, weight_needs_grad ? dweight.data() : nullptr,
                              bias_needs_grad ? dbias.data() : nullptr);
        std::vector<Tensor> grads{dx, dweight};
        if (has_bias) grads.push_back(dbias);
        return grads;
    };
    return make_result(std::move(out), "conv2d", std::move(inputs), std::move(backward));
}

Variable conv2d_relu_max_pool2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride,
                                int64_t padding, int64_t pool_kernel, int64_t pool_stride, int64_t pool_padding) {
    const core::Im2colShape shape = validate_conv2d(x, weight, bias, stride, padding);
    const int64_t O = weight.size(0);
    // a plane past max_pool2d's int32 argmax range: the three ops, for max_pool2d's error
    const bool huge_plane = shape.out_h() * shape.out_w() > std::numeric_limits<int32_t>::max();
    if (needs_graph({&x, &weight, &bias}) || !core::conv2d_direct_applies(shape, O) || huge_plane)
        return max_pool2d(relu(conv2d(x, weight, bias, stride, padding)), pool_kernel, pool_stride, pool_padding);
    const core::PoolShape pool = detail::validate_pool(
        "max_pool2d", {shape.batch, O, shape.out_h(), shape.out_w()}, pool_kernel, pool_stride, pool_padding);
    const Tensor x_value = x.value().contiguous();
    const Tensor weight_value = weight.value().contiguous();
    const Tensor bias_value = bias.defined() ? bias.value().contiguous() : Tensor();
    Tensor out = Tensor::empty({shape.batch, O, pool.out_h, pool.out_w});
    core::PoolShape image_pool = pool;
    image_pool.planes = O;  // one image's
    core::conv2d_relu_max_pool2d_direct(x_value.data(), weight_value.data(),
                                        bias_value.defined() ? bias_value.data() : nullptr, shape, O, image_pool,
                                        out.data());
    std::vector<Variable> inputs{x, weight};
    if (bias.defined()) inputs.push_back(bias);
    return make_result(std::move(out), "conv2d_relu_max_pool2d", std::move(inputs), nullptr);
}

}  // namespace proact::autograd
