#include "proact/threshold_training.hpp"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "autograd/ops.hpp"
#include "core/threads.hpp"
#include "layers/evaluate.hpp"
#include "datasets/split.hpp"
#include "proact/ranger.hpp"
#include "train/evaluate.hpp"

namespace proact::method {

using autograd::Variable;

std::map<size_t, PrefixInputs> prefix_inputs(const layers::StageChain& chain, const datasets::Dataset& train,
                                             const datasets::Dataset& validation, const std::vector<size_t>& stages,
                                             int64_t budget_bytes) {
    std::map<size_t, PrefixInputs> prefixes;
    std::vector<size_t> cached;  // ascending, > 0
    int64_t budget = budget_bytes;
    const int64_t images = train.size() + validation.size();
    for (const size_t stage : std::set<size_t, std::greater<>>(stages.begin(), stages.end())) {
        PrefixInputs& prefix = prefixes[stage];
        prefix.stage = stage;
        if (stage == 0) {
            prefix.cached = true;
            prefix.train_inputs = train.images();
            prefix.validation_inputs = validation.images();
            continue;
        }
        const core::Shape sample = chain.input_shape_of(stage, train.images(0, 1));
        const int64_t bytes = core::numel_of(sample) * images * int64_t(sizeof(float));
        if (bytes > budget) continue;
        budget -= bytes;
        prefix.cached = true;
        cached.insert(cached.begin(), stage);
    }
    if (cached.empty()) return prefixes;  // no float copy of the sets for nothing
    const std::vector<core::Tensor> train_inputs = chain.stage_inputs(cached, train.images(), 1000);
    const std::vector<core::Tensor> validation_inputs = chain.stage_inputs(cached, validation.images(), 1000);
    for (size_t i = 0; i < cached.size(); ++i) {
        prefixes[cached[i]].train_inputs = train_inputs[i];
        prefixes[cached[i]].validation_inputs = validation_inputs[i];
    }
    return prefixes;
}

namespace {

int64_t held_bytes(const PrefixInputs& prefix) {
    if (!prefix.cached || prefix.stage == 0) return 0;  // stage 0's inputs are the data sets' images
    return (prefix.train_inputs.numel() + prefix.validation_inputs.numel()) * int64_t(sizeof(float));
}

}  // namespace

DescendingPrefixCache::DescendingPrefixCache(const layers::StageChain& chain, const datasets::Dataset& train,
                                             const datasets::Dataset& validation, std::vector<size_t> stages,
                                             int64_t budget_bytes)
    : chain_(chain), train_(train), validation_(validation), stages_(std::move(stages)), budget_bytes_(budget_bytes) {}

const PrefixInputs& DescendingPrefixCache::at(size_t stage) {
    if (std::find(stages_.begin(), stages_.end(), stage) == stages_.end())
        core::fail<core::ValueError>("prefix cache: stage ", stage, " is not one of the stages it was made for");
    if (lowest_asked_ && stage > *lowest_asked_)
        core::fail<core::ValueError>("prefix cache: stage ", stage, " asked for after stage ", *lowest_asked_,
                                     " (stages go from the last to the first)");
    lowest_asked_ = stage;
    held_.erase(held_.upper_bound(stage), held_.end());
    if (const auto found = held_.find(stage); found != held_.end()) return found->second;
    int64_t budget = budget_bytes_;
    for (const auto& [s, prefix] : held_) budget -= held_bytes(prefix);
    std::vector<size_t> wanted;
    for (const size_t s : stages_)
        if (s <= stage && !held_.count(s)) wanted.push_back(s);
    // A stage that does not fit now may fit once the stages above it are dropped: only `stage`
    // itself is kept uncached.
    for (auto& [s, prefix] : prefix_inputs(chain_, train_, validation_, wanted, budget))
        if (s == stage || prefix.cached) held_.emplace(s, std::move(prefix));
    return held_.at(stage);
}

core::Tensor batch_input(const layers::StageChain& chain, const datasets::Dataset& train, const PrefixInputs& prefix,
                         std::span<const int64_t> rows) {
    if (prefix.cached) return gather_images(prefix.train_inputs, rows);
    autograd::NoGradGuard no_grad;
    return chain.run(0, prefix.stage, Variable(train.gather(rows))).value();
}

double suffix_accuracy(const layers::StageChain& chain, const datasets::Dataset& validation,
                       const PrefixInputs& prefix) {
    const int64_t count = validation.size();
    const int64_t batches = (count + 999) / 1000;
    std::vector<int64_t> correct(static_cast<size_t>(batches), 0);
    core::run_tasks(batches, [&](int64_t batch) {
        autograd::NoGradGuard no_grad;  // per thread
        const int64_t start = batch * 1000, stop = std::min(count, start + 1000);
        const Variable input(prefix.cached ? prefix.validation_inputs.slice(start, stop)
                                           : chain.run(0, prefix.stage, Variable(validation.images(start, stop - start))).value());
        const std::vector<int64_t> predicted = layers::predict_classes(chain.run(prefix.stage, chain.size(), input).value());
        for (int64_t i = 0; i < stop - start; ++i)
            correct[static_cast<size_t>(batch)] +=
                predicted[static_cast<size_t>(i)] == validation.labels[static_cast<size_t>(start + i)];
    });
    int64_t total = 0;
    for (const int64_t c : correct) total += c;
    return count ? 100.0 * double(total) / double(count) : 0.0;
}

double sharded_threshold_gradients(std::span<const int64_t> rows, const std::vector<Variable>& thresholds,
                                   const ShardLoss& shard_loss) {
    const int64_t count = static_cast<int64_t>(rows.size());
    const int64_t shards = std::min(kGradientShards, count);
    std::vector<std::vector<core::Tensor>> grads(static_cast<size_t>(shards));
    std::vector<double> losses(static_cast<size_t>(shards), 0.0);
    core::run_tasks(shards, [&](int64_t shard) {
        const int64_t begin = shard * count / shards, end = (shard + 1) * count / shards;
        const Variable loss = shard_loss(rows.subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin)),
                                         static_cast<size_t>(shard));
        losses[static_cast<size_t>(shard)] = double(loss.item());
        grads[static_cast<size_t>(shard)] = autograd::gradients(loss, thresholds);
    });
    double total = 0.0;
    for (const double loss : losses) total += loss;
    for (size_t i = 0; i < thresholds.size(); ++i) {
        Variable threshold = thresholds[i];
        threshold.zero_grad();
        for (const std::vector<core::Tensor>& shard : grads)
            if (shard[i].defined()) threshold.accumulate_grad(shard[i]);  // in shard order
    }
    return total;
}

datasets::Dataset capped_train_set(const datasets::Dataset& train, int64_t max_images, uint64_t seed,
                                   const char* stream) {
    if (max_images <= 0 || max_images >= train.size()) return train;
    core::Rng rng(seed, stream);
    std::vector<int64_t> order = datasets::random_permutation(train.size(), rng);
    order.resize(static_cast<size_t>(max_images));
    std::sort(order.begin(), order.end());
    return train.subset(order);
}

void check_data(const datasets::Dataset& data, const char* method, const char* what, const core::Shape& input_shape) {
    data.validate();
    if (data.size() < 1) core::fail<core::ValueError>(method, ": the ", what, " set is empty");
    if (data.sample_shape() != input_shape)
        core::fail<core::ShapeError>(method, ": ", what, " samples have shape ", core::shape_str(data.sample_shape()),
                                     ", the model takes ", core::shape_str(input_shape));
}

RequiresGradGuard::RequiresGradGuard(layers::Module& model) {
    for (const auto& [name, p] : model.named_parameters()) saved.emplace_back(p, p.requires_grad());
}

RequiresGradGuard::~RequiresGradGuard() {
    for (auto& [p, flag] : saved) p.set_requires_grad(flag);
}

nlohmann::ordered_json result_json_head(const char* method, const ThresholdTrainingResult& result) {
    return {{"method", method},
            {"activation", result.activation},
            {"threshold_count", result.threshold_count},
            {"train_images", result.train_images},
            {"validation_images", result.validation_images},
            {"profile_images", result.profile_images},
            {"original_accuracy", result.original_accuracy},
            {"ranger_accuracy", result.ranger_accuracy},
            {"final_accuracy", result.final_accuracy}};
}

TrainingStart start_threshold_training(layers::Module& model, const core::Shape& input_shape,
                                       const datasets::Dataset& full_train, const datasets::Dataset& validation,
                                       int64_t profile_images, int64_t max_images, uint64_t seed, const char* method,
                                       const char* stream, ThresholdTrainingResult& result) {
    check_data(full_train, method, "training", input_shape);
    check_data(validation, method, "validation", input_shape);
    TrainingStart start;
    start.profiles = profile_training_subset(model, input_shape, full_train, profile_images, seed);
    start.train = capped_train_set(full_train, max_images, seed, stream);
    result.seed = seed;
    result.train_images = start.train.size();
    result.validation_images = validation.size();
    result.profile_images = std::min(profile_images, full_train.size());  // ranger_subset's size
    result.original_accuracy = 100.0 * train::evaluate(model, validation).accuracy();
    return start;
}

}  // namespace proact::method
