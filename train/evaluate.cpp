#include "train/evaluate.hpp"

namespace proact::train {

layers::InputBatches input_batches(const datasets::Dataset& data) {
    return [&data](int64_t first, int64_t count) { return data.images(first, count); };
}

layers::EvalResult evaluate(layers::Module& model, const datasets::Dataset& data, int64_t batch_size) {
    return layers::evaluate(model, input_batches(data), data.labels, batch_size);
}

}  // namespace proact::train
