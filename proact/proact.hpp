// ProAct: progressive training of hybrid clipped activations (docs/METHOD.md "ProAct progressive
// training"), with our defaults; the reference toolbox's setting is reachable through the options.
//
//   ProActOptions options;                               // 0.8 CE + 0.1 KD + 4e-8 L2, AdamW, ...
//   ProActResult result = proact_harden(*model, {1, 28, 28}, train, validation, options, RunSettings{seed},
//                                       [](const LayerLog& layer) { /* print it */ });
//   layers::save_checkpoint("hardened.safetensors", *model);   // records the activation metadata
//
// What it does to `model`: Ranger maxima on a seeded subset of `train` (eval mode) -> every ReLU
// replaced as options.clip says, thresholds = those maxima -> the clipped layers visited from the
// last to the first in execution order; for each, the weight decays tried from first to last: the
// layer's thresholds are restored (values and optimizer state) to what they were before the
// layer, trained `epochs` with loss α·CE + β·KD(teacher = the original model) + λ·mean(b²) of the
// layer (the other layers' terms are constants here), and the try is accepted as soon as the
// validation accuracy is at least the reference accuracy minus the tolerance (one-sided); with no
// accepted try the initial values stay. The reference is by default the ORIGINAL (unclipped)
// model's validation accuracy, one fixed number for every layer, so the total clean loss on the
// validation split is at most the tolerance; ToleranceReference::previous_layer compares with the
// accuracy before the visited layer instead, which lets the tolerance add up over the layers. Everything but the visited layer's thresholds is
// frozen, and the model stays in eval mode (BatchNorm statistics untouched).
//
// Fast by design: weights never require a gradient, so backward computes no weight gradients and
// stops at the visited layer; the network below the visited layer is frozen and deterministic
// (eval mode, no augmentation), so its output for the training and validation images is computed
// once and reused by every epoch and try while it fits options.cache_budget_bytes (a stage's
// inputs are computed when the stage is first visited and dropped once a lower one is, so the
// budget holds the stages still to come: DescendingPrefixCache); the teacher's soft targets are
// computed once; a layer's accuracy before training is the previous layer's accuracy after it.
// Each batch is cut into kGradientShards shards whose gradients are computed on all threads and
// added in shard order (sharded_threshold_gradients), and validation runs its batches of 1000
// images on all threads.
//
// Deterministic from run.seed: the same bytes at any thread count. (The shards' sum differs from
// one graph over the whole batch by rounding: thresholds and logs changed in their last bits when
// sharding came in.)
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "layers/hybrid_clip.hpp"
#include "proact/layer_state.hpp"
#include "proact/run_settings.hpp"
#include "proact/threshold_training.hpp"

namespace proact::method {

// What a layer's tries are accepted against (see above).
enum class ToleranceReference { original, previous_layer };
// "original" | "previous-layer"; ValueError naming the text otherwise.
ToleranceReference parse_tolerance_reference(const std::string& text);
const char* to_string(ToleranceReference reference);

struct ProActOptions {
    layers::HybridClip clip;            // hybrid, smooth, k = 20
    // Loss weights (toolbox: 1, 1, 0).
    float ce_weight = 0.8f;
    float kd_weight = 0.1f;
    float l2_weight = 4e-8f;
    std::string optimizer = "adamw";    // adamw | adam (toolbox: adam)
    float lr_scalar = 0.01f;            // layer-wise thresholds
    float lr_neuron = 0.001f;           // channel- and neuron-wise thresholds (toolbox: 0.01)
    std::string schedule = "constant";  // constant | cosine (over each try; toolbox: cosine)
    // A decade apart: `proact tune` (4 settings, LeNet-5 / Fashion-MNIST trained with seed 100,
    // validation split, "tuning" faults) scored this grid 59.89 against 58.63 for the half-decade
    // grid (0.4, 0.13, 0.04, ...) that had been chosen on a reported campaign (docs/METHOD.md).
    // AdamW pulls a threshold b by lr·decay·b a step against a normalised task gradient of at most
    // lr, so b settles near 1/decay. Toolbox: 4e-5 ... 4e-15.
    std::vector<float> decays = {4e-1f, 4e-2f, 4e-3f, 4e-4f, 4e-5f};
    int epochs_scalar = 2;              // per try, layer-wise thresholds
    int epochs_neuron = 3;              // per try, channel- and neuron-wise thresholds
    bool check_every_epoch = false;     // toolbox: validate after each epoch, accept at the first fit
    double tolerance = 1.5;             // accuracy points (toolbox: 0.2)
    ToleranceReference tolerance_reference = ToleranceReference::original;  // toolbox: original
    int64_t batch_size = 128;           // 422 steps an epoch on Fashion-MNIST's 54,000 training images
    int64_t profile_images = 1024;      // Ranger's subset of the training set
    // 0: all of `train` (the default: the decoupled decay acts once a step, so fewer images would
    // change which decay a layer accepts); else a seeded subset of that many, for quick looks.
    int64_t max_train_images = 0;
    int64_t cache_budget_bytes = kDefaultCacheBudgetBytes;  // frozen-prefix outputs, training + validation
};

// ValueError naming the option, its allowed range and the value.
void validate_options(const ProActOptions& options);

struct TryLog {
    float decay = 0.0f;
    int epochs = 0;                     // run (fewer than planned with check_every_epoch)
    double validation_accuracy = 0.0;   // percent
    bool accepted = false;
    double seconds = 0.0;
};

struct LayerLog {
    size_t index = 0;                   // in execution order
    size_t count = 0;                   // clipped layers
    std::string path;                   // "classifier.3"
    std::string granularity;            // "layer", "channel", "neuron"
    int64_t thresholds = 0;
    std::vector<TryLog> tries;
    std::optional<float> accepted_decay;  // none: the initial values were kept
    double accuracy_before = 0.0;       // validation, percent, before this layer
    double accuracy_floor = 0.0;        // a try is accepted at this validation accuracy or above
    double accuracy_after = 0.0;
    float initial_min = 0, initial_max = 0;             // the Ranger values
    float threshold_min = 0, threshold_max = 0, threshold_mean = 0;  // after
    bool prefix_cached = false;         // the frozen prefix's output was kept in memory
    double seconds = 0.0;
};

struct ProActResult : ThresholdTrainingResult {
    std::vector<LayerLog> layers;       // in the order visited: last to first
};

// Hardens `model` in place (see above). input_shape is one sample's (C, H, W) or (F). The
// per-layer callback runs after each layer. ValueError for bad options, a model without ReLUs, or
// data sets that do not fit the model; nothing of the model changes then.
// With resume.state_path the state is saved after every layer (layer_state.hpp); with
// resume.resume the layers a saved state holds are taken from it (their logs, marked by the
// callback's `resumed`) and the rest trained: the same thresholds and logs as one run.
ProActResult proact_harden(layers::Module& model, const core::Shape& input_shape, const datasets::Dataset& train,
                           const datasets::Dataset& validation, const ProActOptions& options,
                           const RunSettings& run,
                           const std::function<void(const LayerLog&, bool resumed)>& on_layer = {},
                           const LayerResume& resume = {});

// The result and the options as JSON, and one layer as a human-readable line.
// with_times adds the seconds, which differ from run to run; without them the bytes depend only on
// the seed and the inputs.
std::string proact_json(const ProActResult& result, const ProActOptions& options, bool with_times = false);
std::string layer_summary(const LayerLog& layer);
// One layer's log as JSON text, times included, and back (FormatError naming `source` when the
// text is not one); `count` is not stored: the run that reads it knows it.
std::string layer_json(const LayerLog& layer);
LayerLog layer_from_json(const std::string& text, const std::string& source);

}  // namespace proact::method
