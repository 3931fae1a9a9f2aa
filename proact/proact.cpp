#include "proact/proact.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <sstream>

#include "autograd/ops.hpp"
#include "core/progress.hpp"
#include "datasets/split.hpp"
#include "layers/evaluate.hpp"
#include "optim/adam.hpp"
#include "optim/progressive.hpp"
#include "optim/schedule.hpp"
#include "proact/ranger.hpp"
#include "proact/threshold_training.hpp"

namespace proact::method {

using autograd::Variable;
using core::fail;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Everything one layer's tries share: the inputs of the stage holding the layer, computed once
// when they fit the budget (else recomputed from the images per batch), and the labels/targets.
struct LayerData {
    size_t stage = 0;
    bool cached = false;
    core::Tensor train_inputs, validation_inputs;  // (N, ...) at `stage`, when cached
};

struct Problem {
    const layers::StageChain& chain;
    const datasets::Dataset& train;       // the images ProAct trains on
    const datasets::Dataset& validation;
    const core::Tensor& teacher;          // (N, K) softmax of the original model on `train`
    const ProActOptions& options;
    const RunSettings& run;
    double original_accuracy;             // validation, the unclipped model: the fixed reference
};

core::Tensor batch_input(const Problem& problem, const LayerData& data, std::span<const int64_t> rows) {
    if (data.cached) return gather_images(data.train_inputs, rows);
    autograd::NoGradGuard no_grad;
    return problem.chain.run(0, data.stage, Variable(gather_images(problem.train.images, rows))).value();
}

// The inputs of the stages holding the clipped layers, for the training and the validation images,
// from one forward pass of the Ranger-initialised model: the layers are visited last to first, so
// when a layer is visited the clipped layers below it still hold these very thresholds. Later
// stages first (they are smaller) while the budget lasts; stage 0's input is the images.
std::map<size_t, LayerData> prepare_layers(const Problem& problem, const std::vector<size_t>& layer_stages) {
    std::map<size_t, LayerData> data;
    std::vector<size_t> cached;
    int64_t budget = problem.options.cache_budget_bytes;
    const int64_t images = problem.train.size() + problem.validation.size();
    for (auto it = layer_stages.rbegin(); it != layer_stages.rend(); ++it) {
        if (data.count(*it)) continue;
        LayerData& entry = data[*it];
        entry.stage = *it;
        if (*it == 0) {
            entry.cached = true;
            entry.train_inputs = problem.train.images;
            entry.validation_inputs = problem.validation.images;
            continue;
        }
        const core::Shape sample = problem.chain.input_shape_of(*it, problem.train.images.slice(0, 1));
        const int64_t bytes = core::numel_of(sample) * images * int64_t(sizeof(float));
        if (bytes > budget) continue;
        budget -= bytes;
        entry.cached = true;
        cached.insert(cached.begin(), *it);
    }
    const std::vector<core::Tensor> train = problem.chain.stage_inputs(cached, problem.train.images, 1000);
    const std::vector<core::Tensor> validation = problem.chain.stage_inputs(cached, problem.validation.images, 1000);
    for (size_t i = 0; i < cached.size(); ++i) {
        data[cached[i]].train_inputs = train[i];
        data[cached[i]].validation_inputs = validation[i];
    }
    return data;
}

// Top-1 accuracy on the validation split, percent.
double validation_accuracy(const Problem& problem, const LayerData& data) {
    autograd::NoGradGuard no_grad;
    const int64_t count = problem.validation.size();
    int64_t correct = 0;
    for (int64_t start = 0; start < count; start += 1000) {
        const int64_t stop = std::min(count, start + 1000);
        const Variable input(data.cached ? data.validation_inputs.slice(start, stop)
                                         : problem.chain.run(0, data.stage, Variable(problem.validation.images.slice(start, stop))).value());
        const std::vector<int64_t> predicted =
            layers::predict_classes(problem.chain.run(data.stage, problem.chain.size(), input).value());
        for (int64_t i = 0; i < stop - start; ++i)
            correct += predicted[static_cast<size_t>(i)] == problem.validation.labels[static_cast<size_t>(start + i)];
    }
    return count ? 100.0 * double(correct) / double(count) : 0.0;
}

// α·CE + β·KD + λ·mean(b²) on one batch.
Variable batch_loss(const Problem& problem, const Variable& logits, std::span<const int64_t> rows,
                    const Variable& threshold) {
    const ProActOptions& options = problem.options;
    std::vector<int32_t> labels(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) labels[i] = problem.train.labels[static_cast<size_t>(rows[i])];
    Variable loss = autograd::cross_entropy(logits, labels) * options.ce_weight;
    if (options.kd_weight != 0.0f) {
        const Variable soft_targets(gather_images(problem.teacher, rows));
        const Variable kd = autograd::sum(autograd::log_softmax(logits, 1) * soft_targets) *
                            (-1.0f / static_cast<float>(rows.size()));
        loss = loss + kd * options.kd_weight;
    }
    if (options.l2_weight != 0.0f) loss = loss + autograd::mean(threshold * threshold) * options.l2_weight;
    return loss;
}

struct TryContext {
    const Problem& problem;
    const LayerData& data;
    optim::ProgressiveThresholdOptimizer& progressive;
    const Variable& threshold;
    size_t layer_index;     // in execution order
    size_t layer_count;
    const std::string& path;
};

// One decay: train `epochs` (validating after each with check_every_epoch), then validate.
TryLog run_try(const TryContext& context, float decay, int epochs, double accuracy_floor) {
    const auto start = Clock::now();
    const Problem& problem = context.problem;
    const ProActOptions& options = problem.options;
    const int64_t count = problem.train.size();
    const int64_t batches = (count + options.batch_size - 1) / options.batch_size;
    const optim::CosineAnnealing cosine(1.0f, int64_t(epochs) * batches);
    TryLog log;
    log.decay = decay;
    context.progressive.set_weight_decay(decay);
    std::ostringstream label;
    label << "layer " << (context.layer_count - context.layer_index) << "/" << context.layer_count << " "
          << context.path << " decay " << decay;
    core::ProgressBar bar(label.str(), int64_t(epochs) * batches, problem.run.progress);
    int64_t step = 0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
        // The same order for every try of a layer: tries differ by their decay alone.
        core::Rng rng(problem.run.seed, "proact-shuffle", context.layer_index * 1024 + uint64_t(epoch));
        const std::vector<int64_t> order = datasets::random_permutation(count, rng);
        for (int64_t b = 0; b < batches; ++b, ++step) {
            const std::span<const int64_t> rows(order.data() + b * options.batch_size,
                                                static_cast<size_t>(std::min(options.batch_size, count - b * options.batch_size)));
            if (options.schedule == "cosine") context.progressive.set_lr_factor(cosine.lr_at(step));
            const Variable input(batch_input(problem, context.data, rows));
            const Variable logits = problem.chain.run(context.data.stage, problem.chain.size(), input);
            context.progressive.zero_grad();
            batch_loss(problem, logits, rows, context.threshold).backward();
            context.progressive.step();
            bar.update(step + 1, (step + 1) * options.batch_size);
        }
        log.epochs = epoch + 1;
        if (options.check_every_epoch || epoch + 1 == epochs) {
            log.validation_accuracy = validation_accuracy(problem, context.data);
            log.accepted = log.validation_accuracy >= accuracy_floor;
            if (log.accepted) break;
        }
    }
    std::ostringstream status;
    status << "validation " << log.validation_accuracy << "% " << (log.accepted ? "accepted" : "rejected");
    bar.finish(status.str());
    log.seconds = seconds_since(start);
    return log;
}

std::unique_ptr<optim::Optimizer> make_threshold_optimizer(const ProActOptions& options) {
    if (options.optimizer == "adam") return std::make_unique<optim::Adam>(optim::AdamOptions{.weight_decay = 0.0f});
    return std::make_unique<optim::AdamW>(optim::AdamWOptions{.weight_decay = 0.0f});
}

void summarise_threshold(const core::Tensor& values, float& low, float& high, float* mean) {
    low = high = values.data()[0];
    double total = 0.0;
    for (float v : values.span()) {
        low = std::min(low, v);
        high = std::max(high, v);
        total += v;
    }
    if (mean) *mean = static_cast<float>(total / double(values.numel()));
}

// Visits layer `index`: tries the decays, keeps the first accepted try or the initial values.
LayerLog train_layer(const Problem& problem, optim::ProgressiveThresholdOptimizer& progressive,
                     const layers::ActivationSite& site, const LayerData& data, size_t index, size_t count) {
    const auto start = Clock::now();
    const ProActOptions& options = problem.options;
    const auto& clip = static_cast<const layers::ClippedReLU&>(*site.module);
    LayerLog log;
    log.index = index;
    log.count = count;
    log.path = site.path;
    log.granularity = core::to_string(clip.granularity());
    log.thresholds = clip.threshold().numel();
    summarise_threshold(clip.threshold().value(), log.initial_min, log.initial_max, nullptr);

    log.prefix_cached = data.cached;
    log.accuracy_before = validation_accuracy(problem, data);
    progressive.activate(index);
    const optim::OptimizerSnapshot initial = progressive.snapshot();
    const int epochs = clip.granularity() == core::ClipGranularity::layer ? options.epochs_scalar : options.epochs_neuron;
    const TryContext context{problem, data, progressive, clip.threshold(), index, count, site.path};
    log.accuracy_after = log.accuracy_before;
    const double reference = options.tolerance_reference == ToleranceReference::original ? problem.original_accuracy
                                                                                         : log.accuracy_before;
    log.accuracy_floor = reference - options.tolerance;
    for (size_t t = 0; t < options.decays.size(); ++t) {
        progressive.restore(initial);
        progressive.reset_active_state();
        log.tries.push_back(run_try(context, options.decays[t], epochs, log.accuracy_floor));
        if (log.tries.back().accepted) {
            log.accepted_decay = options.decays[t];
            log.accuracy_after = log.tries.back().validation_accuracy;
            break;
        }
    }
    if (!log.accepted_decay) progressive.restore(initial);
    summarise_threshold(clip.threshold().value(), log.threshold_min, log.threshold_max, &log.threshold_mean);
    log.seconds = seconds_since(start);
    return log;
}

// Soft targets of the original model on `images`: (N, K) probabilities.
core::Tensor teacher_targets(layers::Module& model, const core::Tensor& images) {
    autograd::NoGradGuard no_grad;
    core::Tensor result;
    const int64_t count = images.size(0);
    for (int64_t start = 0; start < count; start += 1000) {
        const int64_t stop = std::min(count, start + 1000);
        const core::Tensor probabilities = autograd::softmax(model(Variable(images.slice(start, stop))), 1).value();
        if (!result.defined()) result = core::Tensor::empty({count, probabilities.size(1)});
        result.slice(start, stop).copy_(probabilities);
    }
    return result;
}

}  // namespace

ToleranceReference parse_tolerance_reference(const std::string& text) {
    if (text == "original") return ToleranceReference::original;
    if (text == "previous-layer") return ToleranceReference::previous_layer;
    fail<core::ValueError>("ProAct: tolerance reference '", text, "' is not one of original, previous-layer");
}

const char* to_string(ToleranceReference reference) {
    return reference == ToleranceReference::original ? "original" : "previous-layer";
}

ProActResult proact_harden(layers::Module& model, const core::Shape& input_shape, const datasets::Dataset& full_train,
                           const datasets::Dataset& validation, const ProActOptions& options,
                           const RunSettings& run, const std::function<void(const LayerLog&)>& on_layer) {
    const auto start = Clock::now();
    validate_options(options);
    const bool was_training = model.is_training();
    ProActResult result;
    const auto [profiles, train] =
        start_threshold_training(model, input_shape, full_train, validation, options.profile_images,
                                 options.max_train_images, run.seed, "ProAct", "proact-train", result);
    const core::Tensor teacher = teacher_targets(model, train.images);

    RequiresGradGuard requires_grad_guard(model);
    const std::vector<layers::ActivationSite> sites = ranger_harden(model, input_shape, profiles, options.clip);
    model.eval();
    std::vector<optim::ThresholdLayer> threshold_layers;
    for (const layers::ActivationSite& site : sites) {
        auto& clip = static_cast<layers::ClippedReLU&>(*site.module);
        const float lr = clip.granularity() == core::ClipGranularity::layer ? options.lr_scalar : options.lr_neuron;
        threshold_layers.push_back({site.path, {{site.path + ".threshold", clip.threshold()}}, lr});
        result.threshold_count += clip.threshold().numel();
    }
    optim::ProgressiveThresholdOptimizer progressive(model, threshold_layers, make_threshold_optimizer(options));
    const layers::StageChain chain(model);
    const Problem problem{chain, train, validation, teacher, options, run, result.original_accuracy};
    result.activation = options.clip.to_string();
    result.ranger_accuracy = 100.0 * layers::evaluate(model, validation.images, validation.labels).accuracy();
    std::vector<size_t> layer_stages;
    for (const layers::ActivationSite& site : sites) layer_stages.push_back(chain.stage_of(site.path));
    const std::map<size_t, LayerData> layer_data = prepare_layers(problem, layer_stages);
    for (size_t i = sites.size(); i-- > 0;) {
        result.layers.push_back(
            train_layer(problem, progressive, sites[i], layer_data.at(layer_stages[i]), i, sites.size()));
        if (on_layer) on_layer(result.layers.back());
    }
    result.final_accuracy = 100.0 * layers::evaluate(model, validation.images, validation.labels).accuracy();
    model.train(was_training);
    result.seconds = seconds_since(start);
    return result;
}

}  // namespace proact::method
