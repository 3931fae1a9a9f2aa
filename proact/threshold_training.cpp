#include "proact/threshold_training.hpp"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "autograd/ops.hpp"
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

core::Tensor batch_input(const layers::StageChain& chain, const datasets::Dataset& train, const PrefixInputs& prefix,
                         std::span<const int64_t> rows) {
    if (prefix.cached) return gather_images(prefix.train_inputs, rows);
    autograd::NoGradGuard no_grad;
    return chain.run(0, prefix.stage, Variable(train.gather(rows))).value();
}

double suffix_accuracy(const layers::StageChain& chain, const datasets::Dataset& validation,
                       const PrefixInputs& prefix) {
    autograd::NoGradGuard no_grad;
    const int64_t count = validation.size();
    int64_t correct = 0;
    for (int64_t start = 0; start < count; start += 1000) {
        const int64_t stop = std::min(count, start + 1000);
        const Variable input(prefix.cached ? prefix.validation_inputs.slice(start, stop)
                                           : chain.run(0, prefix.stage, Variable(validation.images(start, stop - start))).value());
        const std::vector<int64_t> predicted = layers::predict_classes(chain.run(prefix.stage, chain.size(), input).value());
        for (int64_t i = 0; i < stop - start; ++i)
            correct += predicted[static_cast<size_t>(i)] == validation.labels[static_cast<size_t>(start + i)];
    }
    return count ? 100.0 * double(correct) / double(count) : 0.0;
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
