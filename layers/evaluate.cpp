#include "layers/evaluate.hpp"

#include <cmath>

#include "autograd/variable.hpp"
#include "core/reduce.hpp"

namespace proact::layers {

EvalResult evaluate(Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                    int64_t batch_size) {
    if (batch_size <= 0) core::fail<core::ValueError>("evaluate: batch size must be positive, got ", batch_size);
    if (images.dim() < 1 || images.size(0) != static_cast<int64_t>(labels.size()))
        core::fail<core::ShapeError>("evaluate: ", images.dim() ? images.size(0) : 0, " inputs but ", labels.size(),
                                     " labels");
    ModeGuard eval_mode(model, /*training=*/false);
    autograd::NoGradGuard no_grad;
    EvalResult result;
    const int64_t count = images.size(0);
    result.predictions.resize(static_cast<size_t>(count));
    double loss_total = 0.0;
    for (int64_t start = 0; start < count; start += batch_size) {
        const int64_t stop = std::min(count, start + batch_size);
        const core::Tensor logits = model(autograd::Variable(images.slice(start, stop))).value().contiguous();
        if (logits.dim() != 2 || logits.size(0) != stop - start)
            core::fail<core::ShapeError>("evaluate: model output has shape ", core::shape_str(logits.shape()),
                                         ", expected (", stop - start, ", classes)");
        const int classes = static_cast<int>(logits.size(1));
        if (result.num_classes == 0) {
            result.num_classes = classes;
            result.confusion.assign(static_cast<size_t>(classes) * classes, 0);
        }
        const float* rows = logits.data();
        for (int64_t i = 0; i < stop - start; ++i) {
            const float* row = rows + i * classes;
            const int32_t label = labels[static_cast<size_t>(start + i)];
            if (label < 0 || label >= classes)
                core::fail<core::ValueError>("evaluate: label ", label, " of sample ", start + i, " outside [0, ",
                                             classes, ")");
            const int best = static_cast<int>(core::argmax(row, classes));
            float row_max = row[0];
            for (int k = 0; k < classes; ++k) row_max = std::max(row_max, row[k]);
            double total = 0.0;
            for (int k = 0; k < classes; ++k) total += std::exp(double(row[k]) - row_max);
            loss_total += std::log(total) + row_max - row[label];
            result.predictions[static_cast<size_t>(start + i)] = best;
            result.correct += best == label;
            ++result.confusion[static_cast<size_t>(label) * classes + best];
        }
    }
    result.total = count;
    result.loss = count ? loss_total / double(count) : 0.0;
    return result;
}

}  // namespace proact::layers
