#include "layers/evaluate.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/variable.hpp"
#include "core/reduce.hpp"

namespace proact::layers {

std::vector<int64_t> predict_classes(const core::Tensor& output) {
    const core::Tensor logits = output.contiguous();
    if (logits.dim() != 2 || logits.size(1) < 1)
        core::fail<core::ShapeError>("predict_classes: logits of shape ", core::shape_str(logits.shape()),
                                     ", expected (batch, classes) with at least one class");
    std::vector<int64_t> classes = core::argmax(logits, 1);
    const int64_t width = logits.size(1);
    const float* rows = logits.data();
    for (size_t i = 0; i < classes.size(); ++i) {
        const float* row = rows + static_cast<int64_t>(i) * width;
        if (!std::all_of(row, row + width, [](float logit) { return std::isfinite(logit); }))
            classes[i] = kNoPrediction;
    }
    return classes;
}

EvalResult evaluate(Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                    int64_t batch_size) {
    if (images.dim() < 1 || images.size(0) != static_cast<int64_t>(labels.size()))
        core::fail<core::ShapeError>("evaluate: ", images.dim() ? images.size(0) : 0, " inputs but ", labels.size(),
                                     " labels");
    return evaluate(
        model, [&images](int64_t first, int64_t count) { return images.slice(first, first + count); }, labels,
        batch_size);
}

EvalResult evaluate(Module& model, const InputBatches& inputs, const std::vector<int32_t>& labels,
                    int64_t batch_size) {
    if (batch_size <= 0) core::fail<core::ValueError>("evaluate: batch size must be positive, got ", batch_size);
    ModeGuard eval_mode(model, /*training=*/false);
    autograd::NoGradGuard no_grad;
    EvalResult result;
    const auto count = static_cast<int64_t>(labels.size());
    result.predictions.resize(static_cast<size_t>(count));
    double loss_total = 0.0;
    for (int64_t start = 0; start < count; start += batch_size) {
        const int64_t stop = std::min(count, start + batch_size);
        const core::Tensor logits = model(autograd::Variable(inputs(start, stop - start))).value().contiguous();
        if (logits.dim() != 2 || logits.size(0) != stop - start)
            core::fail<core::ShapeError>("evaluate: model output has shape ", core::shape_str(logits.shape()),
                                         ", expected (", stop - start, ", classes)");
        const int classes = static_cast<int>(logits.size(1));
        if (result.num_classes == 0) {
            result.num_classes = classes;
            result.confusion.assign(static_cast<size_t>(classes) * classes, 0);
        }
        const float* rows = logits.data();
        const std::vector<int64_t> predicted = predict_classes(logits);
        for (int64_t i = 0; i < stop - start; ++i) {
            const float* row = rows + i * classes;
            const int32_t label = labels[static_cast<size_t>(start + i)];
            if (label < 0 || label >= classes)
                core::fail<core::ValueError>("evaluate: label ", label, " of sample ", start + i, " outside [0, ",
                                             classes, ")");
            float row_max = row[0];
            for (int k = 0; k < classes; ++k) row_max = std::max(row_max, row[k]);
            double total = 0.0;
            for (int k = 0; k < classes; ++k) total += std::exp(double(row[k]) - row_max);
            loss_total += std::log(total) + row_max - row[label];
            const int64_t best = predicted[static_cast<size_t>(i)];
            result.predictions[static_cast<size_t>(start + i)] = static_cast<int32_t>(best);
            if (best == kNoPrediction) {
                ++result.no_prediction;
                continue;
            }
            result.correct += best == label;
            ++result.confusion[static_cast<size_t>(label) * classes + static_cast<size_t>(best)];
        }
    }
    result.total = count;
    result.loss = count ? loss_total / double(count) : 0.0;
    return result;
}

}  // namespace proact::layers
