#include "proact/fitact.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "autograd/ops.hpp"
#include "core/progress.hpp"
#include "datasets/split.hpp"
#include "optim/adam.hpp"
#include "proact/ranger.hpp"
#include "proact/threshold_training.hpp"
#include "train/evaluate.hpp"

namespace proact::method {

using autograd::Variable;
using core::fail;

namespace {

using Clock = std::chrono::steady_clock;

struct Problem {
    const layers::StageChain& chain;
    const datasets::Dataset& train;
    const datasets::Dataset& validation;
    const PrefixInputs& prefix;
    const std::vector<Variable>& thresholds;
    const FitActOptions& options;
    const RunSettings& run;
};

// One shard's part of the batch loss CE + λ·Σ_layers mean(b²): the batch's mean CE restricted to
// the shard's rows (batch_rows rows in the batch), plus the threshold terms when with_l2 (shard 0
// only), so the shards' parts add up to the batch's loss.
Variable shard_loss(const Problem& problem, const Variable& logits, std::span<const int64_t> rows, size_t batch_rows,
                    bool with_l2) {
    std::vector<int32_t> labels(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) labels[i] = problem.train.labels[static_cast<size_t>(rows[i])];
    Variable loss = autograd::cross_entropy(logits, labels) *
                    (static_cast<float>(rows.size()) / static_cast<float>(batch_rows));
    if (with_l2 && problem.options.l2_weight != 0.0f)
        for (const Variable& threshold : problem.thresholds)
            loss = loss + autograd::mean(threshold * threshold) * problem.options.l2_weight;
    return loss;
}

FitActEpoch run_epoch(const Problem& problem, optim::Optimizer& optimizer, int epoch) {
    const FitActOptions& options = problem.options;
    const int64_t count = problem.train.size();
    const int64_t batches = (count + options.batch_size - 1) / options.batch_size;
    core::Rng rng(problem.run.seed, "fitact-shuffle", uint64_t(epoch));
    const std::vector<int64_t> order = datasets::random_permutation(count, rng);
    std::ostringstream label;
    label << "FitAct epoch " << epoch + 1 << "/" << options.epochs;
    core::ProgressBar bar(label.str(), batches, problem.run.progress);
    FitActEpoch log;
    log.epoch = epoch + 1;
    double loss_total = 0.0;
    for (int64_t b = 0; b < batches; ++b) {
        const std::span<const int64_t> rows(order.data() + b * options.batch_size,
                                            static_cast<size_t>(std::min(options.batch_size, count - b * options.batch_size)));
        const double loss = sharded_threshold_gradients(
            rows, problem.thresholds, [&](std::span<const int64_t> shard_rows, size_t shard) {
                const Variable input(batch_input(problem.chain, problem.train, problem.prefix, shard_rows));
                const Variable logits = problem.chain.run(problem.prefix.stage, problem.chain.size(), input);
                return shard_loss(problem, logits, shard_rows, rows.size(), shard == 0);
            });
        optimizer.step();
        loss_total += loss * double(rows.size());
        bar.update(b + 1, (b + 1) * options.batch_size);
    }
    log.train_loss = loss_total / double(count);
    log.validation_accuracy = suffix_accuracy(problem.chain, problem.validation, problem.prefix);
    std::ostringstream status;
    status << "loss " << log.train_loss << "  validation " << log.validation_accuracy << "%";
    bar.finish(status.str());
    log.seconds = bar.elapsed_seconds();
    return log;
}

}  // namespace

void validate_options(const FitActOptions& options) {
    if (!(std::isfinite(options.lr) && options.lr > 0.0f)) fail<core::ValueError>("FitAct: lr must be finite and > 0, got ", options.lr);
    if (!(std::isfinite(options.l2_weight) && options.l2_weight >= 0.0f))
        fail<core::ValueError>("FitAct: l2 weight must be finite and >= 0, got ", options.l2_weight);
    if (!(std::isfinite(options.weight_decay) && options.weight_decay >= 0.0f))
        fail<core::ValueError>("FitAct: weight decay must be finite and >= 0, got ", options.weight_decay);
    if (options.epochs < 1) fail<core::ValueError>("FitAct: epochs must be at least 1, got ", options.epochs);
    if (options.clip.mode == core::ClipMode::hard)
        fail<core::ValueError>("FitAct: hard clipping has no gradient in the threshold; use smooth or saturate");
    if (options.clip.mode == core::ClipMode::smooth &&
        !(std::isfinite(options.clip.slope) && options.clip.slope > 0.0f && options.clip.slope <= core::kMaxClipSlope))
        fail<core::ValueError>("FitAct: slope must be in (0, ", core::kMaxClipSlope, "], got ", options.clip.slope);
    if (options.batch_size < 1) fail<core::ValueError>("FitAct: batch size must be at least 1, got ", options.batch_size);
    if (options.profile_images < 1)
        fail<core::ValueError>("FitAct: profiling images must be at least 1, got ", options.profile_images);
    if (options.max_train_images < 0)
        fail<core::ValueError>("FitAct: the training image cap must be >= 0 (0: all), got ", options.max_train_images);
    if (options.cache_budget_bytes < 0)
        fail<core::ValueError>("FitAct: the cache budget must be >= 0 bytes, got ", options.cache_budget_bytes);
}

FitActResult fitact_harden(layers::Module& model, const core::Shape& input_shape, const datasets::Dataset& full_train,
                           const datasets::Dataset& validation, const FitActOptions& options,
                           const RunSettings& run, const std::function<void(const FitActEpoch&)>& on_epoch) {
    const auto start = Clock::now();
    validate_options(options);
    layers::ModeGuard eval_mode(model, /*training=*/false);
    FitActResult result;
    const auto [profiles, train] =
        start_threshold_training(model, input_shape, full_train, validation, options.profile_images,
                                 options.max_train_images, run.seed, "FitAct", "fitact-train", result);

    RequiresGradGuard requires_grad_guard(model);
    const std::vector<layers::ActivationSite> sites = ranger_harden(model, input_shape, profiles, options.clip);
    model.eval();  // the clipped activations the surgery added, too
    for (auto& [name, p] : model.named_parameters()) p.set_requires_grad(false);
    std::vector<Variable> thresholds;
    optim::NamedParameters named;
    for (const layers::ActivationSite& site : sites) {
        Variable& threshold = static_cast<layers::ClippedReLU&>(*site.module).threshold();
        threshold.set_requires_grad(true);
        thresholds.push_back(threshold);
        named.emplace_back(site.path + ".threshold", threshold);
        result.threshold_count += threshold.numel();
    }
    optim::Adam optimizer(named, optim::AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay});
    const layers::StageChain chain(model);
    const size_t first_stage = chain.stage_of(sites.front().path);
    const PrefixInputs prefix =
        prefix_inputs(chain, train, validation, {first_stage}, options.cache_budget_bytes).at(first_stage);
    const Problem problem{chain, train, validation, prefix, thresholds, options, run};
    result.activation = options.clip.to_string();
    result.prefix_cached = prefix.cached;
    result.ranger_accuracy = suffix_accuracy(chain, validation, prefix);
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
        result.epochs.push_back(run_epoch(problem, optimizer, epoch));
        if (on_epoch) on_epoch(result.epochs.back());
    }
    result.final_accuracy = 100.0 * train::evaluate(model, validation).accuracy();
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

std::string fitact_json(const FitActResult& result, const FitActOptions& options, bool with_times) {
    nlohmann::ordered_json settings = {
        {"activation", options.clip.to_string()}, {"lr", options.lr}, {"l2_weight", options.l2_weight},
        {"weight_decay", options.weight_decay}, {"epochs", options.epochs}, {"batch_size", options.batch_size},
        {"profile_images", options.profile_images}, {"max_train_images", options.max_train_images},
        {"seed", result.seed}};
    nlohmann::ordered_json epochs = nlohmann::ordered_json::array();
    for (const FitActEpoch& epoch : result.epochs) {
        nlohmann::ordered_json entry = {{"epoch", epoch.epoch}, {"train_loss", epoch.train_loss},
                                        {"validation_accuracy", epoch.validation_accuracy}};
        if (with_times) entry["seconds"] = epoch.seconds;
        epochs.push_back(entry);
    }
    nlohmann::ordered_json json = result_json_head("fitact", result);
    json["prefix_cached"] = result.prefix_cached;
    json["options"] = settings;
    json["epochs"] = epochs;
    if (with_times) json["seconds"] = result.seconds;
    return json.dump(2) + "\n";
}

}  // namespace proact::method
