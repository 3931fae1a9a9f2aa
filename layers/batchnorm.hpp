// Batch normalisation, PyTorch's BatchNorm1d (input (B, C)) and BatchNorm2d (input (B, C, H, W)).
//
// Parameters: weight (C) = 1, bias (C) = 0. Buffers, as PyTorch names them so state dicts map one
// to one: running_mean (C) = 0, running_var (C) = 1, num_batches_tracked (shape [], a float here;
// PyTorch keeps an int64 that our safetensors reader converts). Training normalises with the
// batch's statistics and updates the running ones (momentum 0.1: new = 0.9*old + 0.1*batch,
// unbiased batch variance); evaluation normalises with the running ones.
#pragma once

#include "layers/module.hpp"

namespace proact::layers {

class BatchNorm : public Module {
public:
    int64_t num_features() const { return num_features_; }
    float momentum() const { return momentum_; }
    float eps() const { return eps_; }
    // Training forwards seen so far (the num_batches_tracked buffer).
    int64_t batches_tracked() const;
    const Variable& weight() const { return weight_; }
    const Variable& bias() const { return bias_; }
    // The running statistics (buffers; the handles share their storage).
    Tensor running_mean() { return buffer("running_mean"); }
    Tensor running_var() { return buffer("running_var"); }

    Variable forward(const Variable& input) override;
    // relu(forward(input) + residual) as one op (autograd::batch_norm_relu; residual undefined:
    // none): the same values, gradients and buffer updates as forward, add and relu one after
    // another. Forward hooks are not called (layers::conv_tail uses it only for a module without).
    Variable forward_relu(const Variable& input, const Variable& residual);
    std::string describe() const override;

protected:
    // spatial: the input is (B, C, H, W) (BatchNorm2d), else (B, C) (BatchNorm1d).
    BatchNorm(int64_t num_features, bool spatial, float momentum, float eps);

private:
    void check_input(const Variable& input) const;  // ShapeError naming the layer
    void count_batch();                             // num_batches_tracked += 1 in training

    int64_t num_features_;
    bool spatial_;
    float momentum_, eps_;
    Variable weight_, bias_;
};

class BatchNorm1d : public BatchNorm {
public:
    explicit BatchNorm1d(int64_t num_features, float momentum = 0.1f, float eps = 1e-5f)
        : BatchNorm(num_features, false, momentum, eps) {}
    std::string type_name() const override { return "BatchNorm1d"; }
};

class BatchNorm2d : public BatchNorm {
public:
    explicit BatchNorm2d(int64_t num_features, float momentum = 0.1f, float eps = 1e-5f)
        : BatchNorm(num_features, true, momentum, eps) {}
    std::string type_name() const override { return "BatchNorm2d"; }
};

}  // namespace proact::layers
