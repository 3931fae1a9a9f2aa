// What threshold-only training (ProAct, FitAct) shares: the frozen prefix's outputs computed once,
// accuracy of the trained suffix on them, a seeded training cap, how both start, what both report,
// and the guard that restores every parameter's requires_grad.
//
// The prefix (stages [0, stage) of a layers::StageChain) holds no trained parameter and the model
// is in eval mode, so its output for the training and validation images is fixed: kept in memory
// when it fits the budget, else recomputed per batch from the images. FitAct trains the layers
// after one prefix, ProAct one layer after another and so the prefixes of several stages.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "datasets/dataset.hpp"
#include "proact/ranger.hpp"
#include "layers/stage_chain.hpp"

namespace proact::method {

// The default memory for the frozen prefix's outputs (ProAct, FitAct; --cache-budget-mb). A budget
// changes only the speed, never a result byte (tests/test_proact_method.cpp: cached == recomputed).
// Measured with ProAct on ResNet-20 / Fashion-MNIST's full training split (54,000 + 6,000
// validation images, 2 threads): at 1 GiB no stage below layer3.1 fitted, and every training step
// of those layers recomputed the network below them; at 4 GiB every stage fitted and a try of
// layer3.0 ran 1.6-1.9x faster, of layer2.2 and layer2.1 1.2-1.6x, but caching the 3 GB inputs of
// the 16-channel 28x28 stages (layer2.0 and below) saved nothing measurable there (the network
// below them is a stem and a few 16-channel blocks) and took peak RSS from 1.5 to 4.0 GB. 2 GiB
// holds the 32-channel stages' 1.5 GB and not the 3 GB ones: 32.8 minutes and 2.3 GB against
// 34.0 minutes at 1 GiB and 32.9 at 4 GiB (README). A fixed number, not a share of the
// machine's memory, so that the logs (which record whether each prefix was cached) are the same
// bytes on every machine.
inline constexpr int64_t kDefaultCacheBudgetBytes = int64_t(2) << 30;

// The input of one stage for the training and the validation images.
struct PrefixInputs {
    size_t stage = 0;
    bool cached = false;
    core::Tensor train_inputs, validation_inputs;  // (N, ...) at `stage`, when cached
};

// The inputs of each of `stages` (any order, repeats allowed) for both sets, keyed by stage, from
// one pass over each set of the model as it is now. Cached later stages first (they are smaller,
// and the last layers are trained first) while budget_bytes lasts; stage 0's input is the images
// themselves and costs nothing.
std::map<size_t, PrefixInputs> prefix_inputs(const layers::StageChain& chain, const datasets::Dataset& train,
                                             const datasets::Dataset& validation, const std::vector<size_t>& stages,
                                             int64_t budget_bytes);
// The prefix inputs of a run that visits `stages` from the last to the first (ProAct): each stage's
// inputs computed when it is first asked for, in one pass with the lower stages that fit the
// budget beside it (prefix_inputs' rule), and dropped once a lower stage is asked for. The budget
// so holds the stages still to come, not every stage at once: a stage's prefix holds no trained
// layer until the stage is visited, so its inputs are the same bytes whenever they are computed.
class DescendingPrefixCache {
public:
    // chain, train and validation must outlive the cache.
    DescendingPrefixCache(const layers::StageChain& chain, const datasets::Dataset& train,
                          const datasets::Dataset& validation, std::vector<size_t> stages, int64_t budget_bytes);
    // The inputs of `stage` (one of the stages); every stage above it is dropped. ValueError for a
    // stage above one asked for before, or not one of the stages.
    const PrefixInputs& at(size_t stage);

private:
    const layers::StageChain& chain_;
    const datasets::Dataset& train_;
    const datasets::Dataset& validation_;
    std::vector<size_t> stages_;
    int64_t budget_bytes_;
    std::optional<size_t> lowest_asked_;
    std::map<size_t, PrefixInputs> held_;
};

// The input of the prefix's stage for training rows `rows`, without a graph.
core::Tensor batch_input(const layers::StageChain& chain, const datasets::Dataset& train, const PrefixInputs& prefix,
                         std::span<const int64_t> rows);
// Top-1 accuracy (percent) on `validation` of the suffix [prefix.stage, end) on the prefix inputs.
// Batches of 1000 images, each computed whole by one thread (kernels thread-count invariant), so
// the count does not depend on the number of threads.
double suffix_accuracy(const layers::StageChain& chain, const datasets::Dataset& validation,
                       const PrefixInputs& prefix);

// One batch's threshold gradients, computed in shards on several threads. The batch's rows are cut
// into kGradientShards shards of consecutive rows (sizes differ by at most one; fewer shards for a
// batch of fewer rows), a number that does not depend on the thread count. Each shard's loss comes
// from shard_loss(its rows, its index) and is differentiated on its own graph (autograd::gradients,
// so no shared .grad is written concurrently) by one thread, its kernels single-threaded (they are
// thread-count invariant); then each threshold's .grad is set to its shards' gradients added in
// shard order. So the result is the same bytes at any thread count. Against one graph over the
// whole batch it differs by rounding only: the shards' losses must add up to the batch's loss
// (e.g. a mean over the batch becomes each shard's sum divided by the batch's rows, a term of the
// thresholds alone goes into shard 0), and the clip kernel's sum over the batch is cut at the
// shard boundaries. `thresholds` must be leaves that require a gradient; a threshold no shard
// reaches keeps no gradient. Returns the shards' losses added in shard order.
constexpr int64_t kGradientShards = 4;
using ShardLoss = std::function<autograd::Variable(std::span<const int64_t> rows, size_t shard)>;
double sharded_threshold_gradients(std::span<const int64_t> rows, const std::vector<autograd::Variable>& thresholds,
                                   const ShardLoss& shard_loss);

// `train` itself when max_images is 0 or covers it, else a seeded subset of max_images rows drawn
// from Rng(seed, stream), in ascending order.
datasets::Dataset capped_train_set(const datasets::Dataset& train, int64_t max_images, uint64_t seed,
                                   const char* stream);

// ValueError / ShapeError naming `method` and the set when `data` is empty or does not fit.
void check_data(const datasets::Dataset& data, const char* method, const char* what, const core::Shape& input_shape);

// What ProAct's and FitAct's results both hold.
struct ThresholdTrainingResult {
    std::string activation;             // HybridClip::to_string()
    int64_t threshold_count = 0;
    int64_t train_images = 0, validation_images = 0, profile_images = 0;
    double original_accuracy = 0.0;     // validation, the unclipped model
    double ranger_accuracy = 0.0;       // validation, after the Ranger initialisation
    double final_accuracy = 0.0;        // validation, hardened
    uint64_t seed = 0;                  // the run's (RunSettings)
    double seconds = 0.0;               // all of it (in the JSON only with times: it differs per run)
};

// {"method", then the fields above but the seconds, in that order}: the head of both JSON logs.
nlohmann::ordered_json result_json_head(const char* method, const ThresholdTrainingResult& result);

// How ProAct and FitAct start, with the model in eval mode (their layers::ModeGuard): `full_train`
// and `validation` checked against input_shape (errors name `method`), Ranger's profiles of the
// seeded subset, the training set capped by max_images (Rng stream `stream`), and in `result`
// the sizes and the unclipped model's validation accuracy.
struct TrainingStart {
    std::vector<ActivationProfile> profiles;
    datasets::Dataset train;
};
TrainingStart start_threshold_training(layers::Module& model, const core::Shape& input_shape,
                                       const datasets::Dataset& full_train, const datasets::Dataset& validation,
                                       int64_t profile_images, int64_t max_images, uint64_t seed, const char* method,
                                       const char* stream, ThresholdTrainingResult& result);

// Restores every parameter's requires_grad however hardening ends.
struct RequiresGradGuard {
    std::vector<std::pair<autograd::Variable, bool>> saved;
    explicit RequiresGradGuard(layers::Module& model);
    ~RequiresGradGuard();
};

}  // namespace proact::method
