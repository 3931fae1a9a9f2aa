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
#include "optim/adam.hpp"
#include "optim/progressive.hpp"
#include "optim/schedule.hpp"
#include "proact/ranger.hpp"
#include "proact/threshold_training.hpp"
#include "train/evaluate.hpp"

namespace proact::method {

using autograd::Variable;
using core::fail;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct Problem {
    const layers::StageChain& chain;
    const datasets::Dataset& train;       // the images ProAct trains on
    const datasets::Dataset& validation;
    const core::Tensor& teacher;          // (N, K) softmax of the original model on `train`
    const ProActOptions& options;
    const RunSettings& run;
    double original_accuracy;             // validation, the unclipped model: the fixed reference
};

// One shard's part of the batch loss α·CE + β·KD + λ·mean(b²): the mean over the batch's
// batch_rows rows of α·CE + β·KD restricted to the shard's rows, plus λ·mean(b²) when `threshold`
// is given (shard 0 only), so the shards' parts add up to the batch's loss.
Variable shard_loss(const Problem& problem, const Variable& logits, std::span<const int64_t> rows, size_t batch_rows,
                    const Variable* threshold) {
    const ProActOptions& options = problem.options;
    std::vector<int32_t> labels(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) labels[i] = problem.train.labels[static_cast<size_t>(rows[i])];
    const float share = static_cast<float>(rows.size()) / static_cast<float>(batch_rows);
    Variable loss = autograd::cross_entropy(logits, labels) * (options.ce_weight * share);
    if (options.kd_weight != 0.0f) {
        const Variable soft_targets(gather_images(problem.teacher, rows));
        const Variable kd = autograd::sum(autograd::log_softmax(logits, 1) * soft_targets) *
                            (-1.0f / static_cast<float>(batch_rows));
        loss = loss + kd * options.kd_weight;
    }
    if (threshold && options.l2_weight != 0.0f) loss = loss + autograd::mean(*threshold * *threshold) * options.l2_weight;
    return loss;
}

struct TryContext {
    const Problem& problem;
    const PrefixInputs& data;     // the inputs of the stage holding the layer
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
            sharded_threshold_gradients(rows, {context.threshold}, [&](std::span<const int64_t> shard_rows, size_t shard) {
                const Variable input(batch_input(problem.chain, problem.train, context.data, shard_rows));
                const Variable logits = problem.chain.run(context.data.stage, problem.chain.size(), input);
                return shard_loss(problem, logits, shard_rows, rows.size(), shard == 0 ? &context.threshold : nullptr);
            });
            context.progressive.step();
            bar.update(step + 1, (step + 1) * options.batch_size);
        }
        log.epochs = epoch + 1;
        if (options.check_every_epoch || epoch + 1 == epochs) {
            log.validation_accuracy = suffix_accuracy(problem.chain, problem.validation, context.data);
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
// `previous`: the layer visited just before, whose accuracy_after is this layer's accuracy_before
// (the same model and images, and the forward pass gives each image the same bits whichever stage
// it starts from); null for the first layer visited, whose accuracy is computed.
LayerLog train_layer(const Problem& problem, optim::ProgressiveThresholdOptimizer& progressive,
                     const layers::ActivationSite& site, const PrefixInputs& data, size_t index, size_t count,
                     const LayerLog* previous) {
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
    log.accuracy_before = previous ? previous->accuracy_after : suffix_accuracy(problem.chain, problem.validation, data);
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

// Layer `visited` (in the order visited) as a saved state holds it: its log, and its thresholds
// written into the model. FormatError when the state does not fit this model.
LayerLog restore_layer(const LayerState& saved, size_t visited, const layers::ActivationSite& site,
                       const std::string& path) {
    LayerLog layer = layer_from_json(saved.layers[visited], "'" + path + "'");
    const auto& clip = static_cast<const layers::ClippedReLU&>(*site.module);
    const std::string name = site.path + ".threshold";
    const auto entry = saved.thresholds.find(name);
    if (layer.path != site.path || entry == saved.thresholds.end() ||
        entry->second.shape() != clip.threshold().value().shape())
        fail<core::FormatError>("'", path, "': finished layer ", visited + 1, " is '", layer.path,
                                "', which does not match this model's '", site.path, "' and its thresholds");
    core::Tensor values = clip.threshold().value();
    values.copy_(entry->second);
    return layer;
}

// Soft targets of the original model on `data`: (N, K) probabilities.
core::Tensor teacher_targets(layers::Module& model, const datasets::Dataset& data) {
    autograd::NoGradGuard no_grad;
    core::Tensor result;
    const int64_t count = data.size();
    for (int64_t start = 0; start < count; start += 1000) {
        const int64_t stop = std::min(count, start + 1000);
        const core::Tensor probabilities = autograd::softmax(model(Variable(data.images(start, stop - start))), 1).value();
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
                           const RunSettings& run, const std::function<void(const LayerLog&, bool)>& on_layer,
                           const LayerResume& resume) {
    const auto start = Clock::now();
    validate_options(options);
    const std::optional<LayerState> saved = load_layer_state(resume);  // refused before the model changes
    layers::ModeGuard eval_mode(model, /*training=*/false);
    ProActResult result;
    const auto [profiles, train] =
        start_threshold_training(model, input_shape, full_train, validation, options.profile_images,
                                 options.max_train_images, run.seed, "ProAct", "proact-train", result);
    const core::Tensor teacher = teacher_targets(model, train);

    RequiresGradGuard requires_grad_guard(model);
    const std::vector<layers::ActivationSite> sites = ranger_harden(model, input_shape, profiles, options.clip);
    model.eval();  // the clipped activations the surgery added, too
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
    result.ranger_accuracy = 100.0 * train::evaluate(model, validation).accuracy();
    std::vector<size_t> layer_stages;
    for (const layers::ActivationSite& site : sites) layer_stages.push_back(chain.stage_of(site.path));
    // The layers are visited last to first, so when a layer is visited the clipped layers below it
    // still hold their Ranger thresholds: the prefix inputs are those of the Ranger-initialised model.
    DescendingPrefixCache prefixes(chain, train, validation, layer_stages, options.cache_budget_bytes);
    if (saved && saved->layers.size() > sites.size())
        fail<core::FormatError>("'", resume.state_path, "' holds ", saved->layers.size(), " finished layers, the model has ",
                                sites.size(), " clipped layers");
    std::vector<std::string> finished;
    for (size_t i = sites.size(); i-- > 0;) {
        const size_t visited = sites.size() - 1 - i;
        const bool resumed = saved && visited < saved->layers.size();
        if (resumed) {
            result.layers.push_back(restore_layer(*saved, visited, sites[i], resume.state_path));
            result.layers.back().count = sites.size();
        } else {
            const LayerLog* previous = result.layers.empty() ? nullptr : &result.layers.back();
            LayerLog layer = train_layer(problem, progressive, sites[i], prefixes.at(layer_stages[i]), i, sites.size(),
                                         previous);
            result.layers.push_back(std::move(layer));
        }
        finished.push_back(layer_json(result.layers.back()));
        if (!resumed) save_layer_state(resume, model, finished);
        if (on_layer) on_layer(result.layers.back(), resumed);
    }
    result.final_accuracy = 100.0 * train::evaluate(model, validation).accuracy();
    result.seconds = seconds_since(start);
    return result;
}

}  // namespace proact::method
