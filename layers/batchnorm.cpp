#include "layers/batchnorm.hpp"

#include <sstream>

#include "autograd/ops.hpp"

namespace proact::layers {

using core::fail;

BatchNorm::BatchNorm(int64_t num_features, bool spatial, float momentum, float eps)
    : num_features_(num_features), spatial_(spatial), momentum_(momentum), eps_(eps) {
    const char* name = spatial ? "BatchNorm2d" : "BatchNorm1d";
    if (num_features <= 0) fail<core::ValueError>(name, ": num_features must be positive, got ", num_features);
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        fail<core::ValueError>(name, ": momentum must be in [0, 1], got ", momentum);
    if (!(eps >= 0.0f)) fail<core::ValueError>(name, ": eps must be >= 0, got ", eps);
    weight_ = register_parameter("weight", Tensor::ones({num_features}));
    bias_ = register_parameter("bias", Tensor::zeros({num_features}));
    register_buffer("running_mean", Tensor::zeros({num_features}));
    register_buffer("running_var", Tensor::ones({num_features}));
    register_buffer("num_batches_tracked", Tensor::scalar(0.0f));
}

int64_t BatchNorm::batches_tracked() const {
    for (const auto& [name, value] : named_buffers())
        if (name == "num_batches_tracked") return static_cast<int64_t>(value.item());
    return 0;
}

void BatchNorm::check_input(const Variable& input) const {
    const char* op = spatial_ ? "batchnorm2d" : "batchnorm1d";
    const int64_t expected_dim = spatial_ ? 4 : 2;
    if (input.dim() != expected_dim)
        fail<core::ShapeError>(op, ": input must be ", spatial_ ? "(batch, channels, height, width)" : "(batch, features)",
                               ", got shape ", core::shape_str(input.shape()));
    if (input.size(1) != num_features_)
        fail<core::ShapeError>(op, ": input has ", input.size(1), spatial_ ? " channels" : " features",
                               ", layer expects ", num_features_);
}

void BatchNorm::count_batch() {
    if (!is_training()) return;
    // A float counts exactly up to 2^24 batches, far beyond any training run here.
    Tensor& tracked = buffer("num_batches_tracked");
    tracked.data()[0] += 1.0f;
}

Variable BatchNorm::forward(const Variable& input) {
    check_input(input);
    Variable out = autograd::batch_norm(input, weight_, bias_, buffer("running_mean"), buffer("running_var"),
                                        is_training(), momentum_, eps_);
    count_batch();
    return out;
}

Variable BatchNorm::forward_relu(const Variable& input, const Variable& residual) {
    check_input(input);
    Variable out = autograd::batch_norm_relu(input, weight_, bias_, buffer("running_mean"), buffer("running_var"),
                                             is_training(), momentum_, eps_, residual);
    count_batch();
    return out;
}

std::string BatchNorm::describe() const {
    std::ostringstream out;
    out << type_name() << "(" << num_features_ << ", eps=" << eps_ << ", momentum=" << momentum_ << ")";
    return out.str();
}

}  // namespace proact::layers
