// Evaluation of a classifier on a labelled set of inputs: accuracy, mean cross-entropy and a
// confusion matrix. Runs in eval mode under NoGradGuard (no graph; buffers come from the pool),
// restoring the module's previous mode afterwards.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/module.hpp"

namespace proact::layers {

struct EvalResult {
    int64_t correct = 0;
    int64_t total = 0;
    double loss = 0.0;                    // mean cross-entropy over the samples
    int num_classes = 0;
    std::vector<int64_t> confusion;       // [true class][predicted class], num_classes^2
    std::vector<int32_t> predictions;     // one per sample
    double accuracy() const { return total ? double(correct) / double(total) : 0.0; }
};

// images (N, ...) in the model's input layout; labels N class indices; batch_size > 0.
// ShapeError if the counts differ or the model's output is not (B, K) with K > every label.
EvalResult evaluate(Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                    int64_t batch_size = 1000);

}  // namespace proact::layers
