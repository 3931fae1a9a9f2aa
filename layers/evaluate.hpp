// Evaluation of a classifier on a labelled set of inputs: accuracy, mean cross-entropy and a
// confusion matrix. Runs in eval mode under NoGradGuard (no graph; buffers come from the pool),
// restoring the module's previous mode afterwards.
//
// An image whose logits are not all finite has no prediction (an argmax over NaN is arbitrary:
// ours would say class 0, PyTorch's the NaN's class): it counts as wrong, is counted apart in
// `no_prediction`, and stays out of the confusion matrix.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/tensor.hpp"
#include "layers/module.hpp"

namespace proact::layers {

// The class of a row without a prediction.
constexpr int64_t kNoPrediction = -1;

// The class each row of `logits` (B, K) predicts: its first maximum (core::argmax), or
// kNoPrediction when any of its K logits is NaN or infinite. ShapeError unless 2-D with K >= 1.
std::vector<int64_t> predict_classes(const core::Tensor& logits);

struct EvalResult {
    int64_t correct = 0;
    int64_t no_prediction = 0;            // samples whose logits were not all finite (counted wrong)
    int64_t total = 0;
    double loss = 0.0;                    // mean cross-entropy over the samples (NaN if a logit is)
    int num_classes = 0;
    std::vector<int64_t> confusion;       // [true class][predicted class], num_classes^2; predicted only
    std::vector<int32_t> predictions;     // one per sample; kNoPrediction for none
    double accuracy() const { return total ? double(correct) / double(total) : 0.0; }
};

// images (N, ...) in the model's input layout; labels N class indices; batch_size > 0, the most
// rows the model sees at once (it may see fewer: auto_batch_rows; the numbers are the same).
// Batches run in parallel, one per thread. A model with a forward hook on any module runs batches
// of batch_size one after the other, so its hooks see each image once, in order.
// ShapeError if the counts differ or the model's output is not (B, K) with K > every label.
EvalResult evaluate(Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                    int64_t batch_size = 1000);

// The inputs of samples [first, first + count) as a float tensor, made when asked: how a set that
// stores its images in another form (datasets::Dataset keeps bytes) is fed batch by batch, never
// as one tensor of all its images.
using InputBatches = std::function<core::Tensor(int64_t first, int64_t count)>;

// The same evaluation over labels.size() samples whose inputs come from `inputs`, asked for in
// consecutive batches of batch_size (the last may be smaller): the tensor overload's bits when
// inputs(first, count) returns those rows.
EvalResult evaluate(Module& model, const InputBatches& inputs, const std::vector<int32_t>& labels,
                    int64_t batch_size = 1000);

// Rows per inference batch chosen for speed: `count` samples in equal batches whose widest
// activation (values_per_sample floats a row) stays under kAutoBatchBytes, as many batches as a
// multiple of the thread count. Small, so that a batch's activations stay in cache and its buffers
// come back from the pool (measurements in evaluate.cpp). Campaigns and evaluate() use it;
// neither's numbers depend on it (an image's logits have the same bits in any batch).
inline constexpr int64_t kAutoBatchBytes = int64_t(4) << 20;
int64_t auto_batch_rows(int64_t values_per_sample, int64_t count);

// The most values any module of `model` outputs for one sample: a pass over `sample` (one row)
// with a hook on every module, in eval mode without a graph.
int64_t widest_activation(Module& model, const core::Tensor& sample);

}  // namespace proact::layers
