// Conv2d: 2-d cross-correlation over NCHW tensors, square kernels, equal stride and padding on
// both axes.
#pragma once

#include "autograd/ops.hpp"
#include "core/rng.hpp"
#include "layers/module.hpp"
#include "layers/pooling.hpp"

namespace proact::layers {

class Conv2d : public Module {
public:
    // weight (out_channels, in_channels, kernel, kernel) (PyTorch's OIHW) and bias (out_channels),
    // drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels * kernel * kernel,
    // like PyTorch's default initialisation.
    Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, core::Rng& rng, int64_t stride = 1,
           int64_t padding = 0, bool bias = true);

    // x (B, in_channels, H, W) -> (B, out_channels, OH, OW), OH = (H + 2*padding - kernel) / stride + 1.
    Variable forward(const Variable& input) override;
    // pool(ReLU(forward(x))) as one op (autograd::conv2d_relu_max_pool2d: without a graph, one image
    // at a time), with the three layers' checks and errors: what a Sequential runs for a Conv2d,
    // ReLU, MaxPool2d in a row when no graph is recorded and no hook observes them.
    Variable forward_relu_max_pool(const Variable& input, const MaxPool2d& pool);
    // tail(forward(x)) as one op (autograd::conv2d_fused), with this layer's checks: what
    // layers::conv_tail runs (conv_tail.hpp).
    Variable forward_fused(const Variable& input, const autograd::ConvTail& tail);
    std::string type_name() const override { return "Conv2d"; }
    std::string describe() const override;

    // The output size along one spatial axis for an input size along it (may be <= 0: too small).
    int64_t output_size(int64_t input_size) const { return (input_size + 2 * padding_ - kernel_) / stride_ + 1; }

    int64_t in_channels() const { return in_channels_; }
    int64_t out_channels() const { return out_channels_; }
    int64_t kernel() const { return kernel_; }
    int64_t stride() const { return stride_; }
    int64_t padding() const { return padding_; }
    const Variable& weight() const { return weight_; }
    const Variable& bias() const { return bias_; }  // undefined without bias
    // Gives a layer built without bias a "bias" (out_channels) of zeros, an ordinary parameter registered
    // after "weight" (as a layer built with bias has it) that trains like the weight (its
    // requires_grad) and is a fault target; fold_batch_norm (fold_batchnorm.hpp) writes the folded
    // shift into it. ValueError when the layer has a bias or is range-guarded (the guard has no
    // bounds for it: fold first, then guard).
    void add_bias();

    // Weight range guard (layers/range_guard.hpp): registers "weight_bounds" (and "bias_bounds")
    // [2] = the current [min, max], without gradient; from then on forward uses every weight outside
    // its bounds as 0. The stored weights are never edited. ValueError when guarded already.
    void enable_range_guard();
    bool range_guarded() const { return weight_bounds_.defined(); }
    const Variable& weight_bounds() const { return weight_bounds_; }
    const Variable& bias_bounds() const { return bias_bounds_; }  // undefined without bias
    // The weight and bias forward computes with: guarded copies when guarded, else the values.
    Tensor effective_weight() const;
    Tensor effective_bias() const;  // undefined without bias

private:
    // forward's checks of its input (ShapeError).
    void check_input(const Variable& input) const;

    int64_t in_channels_, out_channels_, kernel_, stride_, padding_;
    Variable weight_, bias_;
    Variable weight_bounds_, bias_bounds_;
};

}  // namespace proact::layers
