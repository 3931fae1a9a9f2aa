// Evaluation of a model on a data set, batch by batch: the set's float images are made one batch
// at a time (datasets::Dataset::images(first, count)), never as one tensor of all of them.
//
//   const layers::EvalResult result = train::evaluate(*model, test);  // accuracy, loss, confusion
#pragma once

#include <cstdint>

#include "datasets/dataset.hpp"
#include "layers/evaluate.hpp"
#include "layers/module.hpp"

namespace proact::train {

// `data`'s float images as layers::InputBatches: batch (first, count) is data.images(first, count).
// The set must outlive the returned function.
layers::InputBatches input_batches(const datasets::Dataset& data);

// layers::evaluate on every sample of `data` in batches of batch_size: the same result, bit for
// bit, as evaluating the tensor data.images().
layers::EvalResult evaluate(layers::Module& model, const datasets::Dataset& data, int64_t batch_size = 1000);

}  // namespace proact::train
