#include "layers/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>

#include "autograd/variable.hpp"
#include "core/reduce.hpp"
#include "core/threads.hpp"

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

int64_t auto_batch_rows(int64_t values_per_sample, int64_t count) {
    // bench_trial (a campaign's batches; 2 threads, two runs each), 128 MB -> 4 MB: LeNet-5 (10,000
    // images, batches of 5,000 -> 218) set-up 0.77-1.10 s -> 0.25 s, a trial without set-up
    // 22.6-23.2 -> 14.3-15.1 ms; ResNet-20 (1,000 images, 500 -> 63) set-up 1.07-1.27 -> 0.63-0.67
    // s, 302-309 -> 251-263 ms. At 2 and 1 MB LeNet-5's set-up fell further (0.18-0.20 s) but its
    // trials did not (15.4-17.8 ms), and ResNet-20's batches of 32 and 16 images gained nothing.
    // Every byte a batch touches for the first time is a page fault, and a large batch's
    // activations leave the cache between layers.
    // The number of batches is a multiple of the thread count, so that the threads get equal
    // shares (1,000 LeNet-5 images made 5 batches: one thread ran 3 of them). Where a trial reruns
    // only a few small layers, the cost per batch shows: bench_vuln's LeNet-5 map (1,000 images,
    // single bits, mostly in fc1) ran 1,190-1,290 injections/s in 2 batches of 500 and 990-1,100
    // in 5 or 6 of 167-200; its ResNet-20 map (200 images) the same either way.
    if (count <= 0) return 1;
    const int64_t bytes = std::max<int64_t>(1, values_per_sample) * int64_t(sizeof(float));
    const int64_t largest = std::max<int64_t>(1, kAutoBatchBytes / bytes);
    const int64_t threads = std::max(1, core::num_threads());
    const int64_t needed = (count + largest - 1) / largest;
    const int64_t batches = std::min(count, (needed + threads - 1) / threads * threads);
    return (count + batches - 1) / batches;
}

int64_t widest_activation(Module& model, const core::Tensor& sample) {
    ModeGuard eval_mode(model, /*training=*/false);
    autograd::NoGradGuard no_grad;
    int64_t widest = sample.numel();
    ForwardHookScope hooks;
    for (const auto& [name, module] : model.named_modules())
        hooks.add(*module, [&widest](Module&, const autograd::Variable&, const autograd::Variable& output) {
            if (output.defined()) widest = std::max(widest, output.numel());
        });
    (void)model(autograd::Variable(sample));
    return widest;
}

namespace {

// Whether a hook observes any module of the tree: hooks keep their own state (Ranger's maxima),
// so the batches of such a model run one after the other.
bool any_forward_hooks(Module& model) {
    for (const auto& [name, module] : model.named_modules())
        if (module->has_forward_hooks()) return true;
    return false;
}

}  // namespace

EvalResult evaluate(Module& model, const InputBatches& inputs, const std::vector<int32_t>& labels,
                    int64_t batch_size) {
    if (batch_size <= 0) core::fail<core::ValueError>("evaluate: batch size must be positive, got ", batch_size);
    ModeGuard eval_mode(model, /*training=*/false);
    autograd::NoGradGuard no_grad;
    EvalResult result;
    const auto count = static_cast<int64_t>(labels.size());
    result.predictions.resize(static_cast<size_t>(count));
    // Small batches (auto_batch_rows) run as tasks, one per thread at a time with single-threaded
    // kernels, as a campaign runs them: each thread's activations stay in its own cache and no
    // kernel waits at a barrier. The bits are those of one batch of batch_size after the other: an
    // image's logits do not depend on its batch (core::GemmSums), and the tally runs in order.
    // A hooked model keeps the caller's batches and sees no probe pass: its hooks keep state.
    const bool hooked = any_forward_hooks(model);
    if (count > 0 && !hooked)
        batch_size = std::min(batch_size, auto_batch_rows(widest_activation(model, inputs(0, 1)), count));
    const int64_t batches = (count + batch_size - 1) / batch_size;
    std::vector<core::Tensor> outputs(static_cast<size_t>(batches));
    std::mutex inputs_lock;  // `inputs` is the caller's: it need not be safe to call from two threads
    const auto run_batch = [&](int64_t batch) {
        autograd::NoGradGuard no_grad_here;  // per thread
        const int64_t start = batch * batch_size, rows = std::min(count, start + batch_size) - start;
        core::Tensor x;
        {
            const std::lock_guard<std::mutex> lock(inputs_lock);
            x = inputs(start, rows);
        }
        outputs[static_cast<size_t>(batch)] = model(autograd::Variable(x)).value().contiguous();
    };
    if (hooked)
        for (int64_t batch = 0; batch < batches; ++batch) run_batch(batch);
    else
        core::run_tasks(batches, run_batch);
    double loss_total = 0.0;
    for (int64_t batch = 0; batch < batches; ++batch) {
        const int64_t start = batch * batch_size, stop = std::min(count, start + batch_size);
        const core::Tensor logits = std::move(outputs[static_cast<size_t>(batch)]);
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
