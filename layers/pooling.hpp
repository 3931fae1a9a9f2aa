// Pooling layers over NCHW tensors: MaxPool2d, AvgPool2d (square windows) and GlobalAvgPool.
#pragma once

#include "layers/module.hpp"

namespace proact::layers {

class MaxPool2d : public Module {
public:
    // stride 0 means stride = kernel (PyTorch's default); padding is -inf.
    explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
    // x (B, C, H, W) -> (B, C, OH, OW), OH = (H + 2*padding - kernel) / stride + 1.
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "MaxPool2d"; }
    std::string describe() const override;
    int64_t output_size(int64_t input_size) const { return (input_size + 2 * padding_ - kernel_) / stride_ + 1; }
    int64_t kernel() const { return kernel_; }
    int64_t stride() const { return stride_; }
    int64_t padding() const { return padding_; }
    // forward's checks of its input's shape (ShapeError), without the pooling.
    void check_input(const core::Shape& input_shape) const;

private:
    int64_t kernel_, stride_, padding_;
};

class AvgPool2d : public Module {
public:
    // stride 0 means stride = kernel; zero padding is counted in the average (count_include_pad).
    explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
    // x (B, C, H, W) -> (B, C, OH, OW).
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "AvgPool2d"; }
    std::string describe() const override;
    int64_t output_size(int64_t input_size) const { return (input_size + 2 * padding_ - kernel_) / stride_ + 1; }

private:
    int64_t kernel_, stride_, padding_;
};

// The mean over each channel's plane: x (B, C, H, W) -> (B, C), ready for a Linear layer
// (PyTorch's CIFAR ResNets write it avg_pool2d(out, out.size(3)) followed by view(B, -1)).
class GlobalAvgPool : public Module {
public:
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "GlobalAvgPool"; }
};

}  // namespace proact::layers
