// Fault campaigns: for each bit error rate, T trials of "flip bits in the stored weights, measure
// top-1 accuracy on a labelled set, restore", and the statistics of the accuracies.
//
//   faults::CampaignOptions options;                  // BERs 1e-7..1e-4, 100 trials, Q15.16
//   options.format = faults::StorageFormat::float32();
//   options.bers = {1e-6, 1e-5};
//   faults::CampaignResult result = faults::run_campaign(*model, test.images, test.labels, options);
//   std::cout << faults::campaign_table(result);      // report.hpp: table, CSV, JSON, SVG
//
// Settings are campaign_options.hpp, results and the merge of shards campaign_result.hpp, their
// statistics statistics.hpp, the trial-by-trial difference of two campaigns paired_comparison.hpp.
// An image whose logits are not all finite has no prediction (layers::predict_classes): it counts
// as wrong, and the results carry how many there were per trial.
//
// Outcomes against the fault-free run: the fault-free pass keeps each image's fault-free top-1, and
// every trial sorts each image into one of three disjoint outcomes (they add up to the images):
//   no prediction  the trial's logits are not all finite;
//   masked         finite, and the same top-1 as the fault-free run;
//   SDC            finite, and another top-1 (a silent data corruption).
// Masked is about agreement with the fault-free model, not about the label: a fault that keeps a
// wrong fault-free answer is masked, one that turns it into the right answer is an SDC. An image
// without a fault-free prediction (its fault-free logits not all finite) has no top-1 to agree
// with: in a trial it is "no prediction" when its logits stay non-finite, and an SDC when a fault
// made them finite (the output changed, silently). So a trial that changes no bit has SDC 0.
//
// Reproducible: trial t's accuracy depends only on (seed, purpose, t, rate, format, fault model,
// targets, model, data): its faults come from injector.hpp's streams, its evaluation is
// deterministic, and the model is restored bit-exactly after it. Trials may therefore be split
// over machines (shard i/n runs t = i, i+n, ...; merge_shards joins them into what one run gives)
// or replayed alone (Campaign::run_trial).
//
// Fast, without changing a single result bit:
//  - the model is viewed as a chain of stages (layers/stage_chain.hpp: Sequential children expanded
//    recursively; any other module, a residual block say, is one stage). The input of every stage
//    that owns a target is computed once, fault-free, for the whole evaluation set and kept (within
//    a memory budget, later stages first since they are smaller); a trial reruns only from the
//    cached input of the first stage whose parameters it changed. The cache is filled with the same batches the trial
//    uses, so the numbers are those of a full forward pass;
//  - channel-sparse restart: when that first stage is a Conv2d or Linear, only its output channels
//    whose weights or bias changed are recomputed (a changed int8 scale changes them all: the whole
//    stage is rerun) (a conv/linear with those rows of the weight),
//    carried through the channel-wise stages after it (ReLU, pools, dropout) and written over the
//    cached fault-free input of the next stage, from where the trial continues. Each output
//    channel is a computation of its own (one FMA chain per element in the GEMM), so this is the
//    full pass's arithmetic; a probe at start-up checks it bit for bit on this model and data and
//    falls back to the full stage if it ever differs. Convolutions are recomputed without im2col
//    (a direct, register-blocked kernel doing the GEMM's operations in the GEMM's order), which
//    the probe verifies too and which then also reruns whole Conv2d stages;
//  - a trial whose faults change no stored bit (empty map, or stuck-at bits that already held their
//    value) reuses the fault-free accuracy;
//  - across campaigns that differ only from one stage on (FtClipAct's candidates), a trial's faulty
//    input of that stage is kept and the next campaign's same trial starts there (TrialInputCache);
//  - faults are flipped and restored in place, inference runs in large batches in eval mode without
//    a graph, the batches in parallel (one thread each, its kernels single-threaded: one parallel
//    region per pass, and the same bits on any number of threads).
// Forward hooks of the Sequential containers themselves are not run; those of the stages are, maybe
// on several threads at once, except for a Conv2d rerun by the direct kernel.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "faults/activation_faults.hpp"
#include "faults/campaign_options.hpp"
#include "faults/campaign_result.hpp"
#include "faults/fault_model.hpp"
#include "faults/injector.hpp"
#include "faults/statistics.hpp"
#include "faults/storage_format.hpp"
#include "faults/targets.hpp"
#include "layers/module.hpp"
#include "layers/stage_chain.hpp"

namespace proact::core {
class ProgressBar;
}

namespace proact::faults {

// One pass over the evaluation set. Against the labels: images classified correctly. Against the
// fault-free run (see the top of this file): masked + sdc + no_prediction = images; correct and
// no_prediction are disjoint (an image without a prediction is wrong, whatever its argmax).
struct OutcomeCounts {
    int64_t correct = 0;
    int64_t no_prediction = 0;
    int64_t masked = 0;  // finite logits, the fault-free top-1
    int64_t sdc = 0;     // finite logits, another top-1
    int64_t activation_faults = 0;  // bits hit in computed values (site activations or both)
    OutcomeCounts& operator+=(const OutcomeCounts& other) {
        activation_faults += other.activation_faults;
        correct += other.correct;
        no_prediction += other.no_prediction;
        masked += other.masked;
        sdc += other.sdc;
        return *this;
    }
};

struct TrialOutcome {
    int64_t correct = 0;
    int64_t no_prediction = 0;
    int64_t masked = 0;       // OutcomeCounts: masked + sdc + no_prediction = images
    int64_t sdc = 0;
    int64_t faults = 0;       // faulty bits: the trial's fault map, and its activation faults
    int first_stage = -1;     // first stage whose parameters changed; -1: none (fault-free result)
    int64_t channels = -1;    // output channels recomputed at first_stage; -1: the whole stage
    bool reused = false;      // took the fault-free result without evaluating
};

// The faulty input of one stage, kept across campaigns that run the same trials on the same model
// object and images and differ only from that stage on: FtClipAct's candidate thresholds for one
// layer. A trial whose first changed stage lies before it computes the stage's input under its
// faults once; a later campaign's trial that finds the stages before it holding the very same
// parameter and buffer bits (compared in full, not by a hash) over the same images starts from the
// kept input instead. Same bits as running the whole prefix: it is that prefix's output. The owner
// must not change anything else about the prefix's modules (their settings, say) while it keeps
// the cache; FtClipAct makes a new one per layer.
class TrialInputCache {
public:
    // `module_path`: a module of the model (a Campaign keeps the input of the stage holding it);
    // `budget_bytes`: the most the kept inputs may take (a trial that does not fit is not kept).
    TrialInputCache(std::string module_path, int64_t budget_bytes);
    const std::string& module_path() const { return module_path_; }
    int64_t used_bytes() const { return used_bytes_; }
    int64_t kept() const { return static_cast<int64_t>(entries_.size()); }
    int64_t replays() const { return replays_; }  // trials that started from a kept input

private:
    friend class Campaign;
    struct Entry {
        uint64_t images_hash = 0;
        core::Tensor prefix;  // prefix_values of the stages before, as the trial had them
        core::Tensor input;         // (N, ...): the stage's input under the trial's faults
    };
    std::string module_path_;
    int64_t budget_bytes_ = 0;
    int64_t used_bytes_ = 0;
    int64_t replays_ = 0;
    std::multimap<uint64_t, Entry> entries_;  // by data_checksum of the prefix
};

class Campaign {
public:
    // Selects the targets, checks that a quantised format's model is quantised (check_quantized), splits
    // the model into stages and runs the fault-free pass that fills the stage cache. `model` must
    // outlive the campaign; `images` (N, ...) is shared, not copied, and `labels` (N) copied. The
    // model is evaluated in eval mode; its previous mode is restored by the destructor.
    Campaign(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
             CampaignOptions options);
    Campaign(const Campaign&) = delete;
    Campaign& operator=(const Campaign&) = delete;

    // Trial `trial` of point `point`: draw its faults, inject, evaluate, restore. Depends on nothing
    // that ran before. Appends the faults to `log` when given.
    TrialOutcome run_trial(size_t point, int64_t trial, std::vector<FaultLogEntry>* log = nullptr);
    // An explicit fault map over targets() (its `target` indices are theirs): inject, evaluate from
    // the first changed stage with every fast path, restore. What a vulnerability map calls per site
    // (vulnerability.hpp). IndexError for a target or element outside the targets, ValueError for a
    // bit outside the storage word (apply_fault_map), with the model left as it was. Weight faults
    // only: a campaign's activation faults are keyed by its trials (run_trial).
    TrialOutcome run_faults(const FaultMap& map);
    // Every point, the trials of this shard, with ci_margin stopping and a progress bar.
    CampaignResult run();
    // The result's settings and fault-free counts, without points: what run() fills.
    CampaignResult settings_result() const;
    // Point `p`'s trials of this shard in trial order, with the ci_margin rule: run()'s loop, for a
    // caller that handles each point as it ends (apps: inject --resume). Counts them in `result`
    // (trials evaluated or reused, the fault log) and `done`, and shows them on `bar`.
    PointResult run_point(size_t p, CampaignResult& result, core::ProgressBar& bar, int64_t& done);

    // From now on, weight-fault trials (run_trial, run_faults) whose first changed stage lies before
    // `cache`'s stage start from its kept input where it matches, and keep theirs where it fits
    // (TrialInputCache). Not with activation faults or without the stage cache (options). `cache`
    // must outlive the campaign. ValueError when no stage holds its module.
    void share_trial_inputs(TrialInputCache& cache);

    const CampaignOptions& options() const { return options_; }
    const std::vector<FaultTarget>& targets() const { return targets_; }
    size_t point_count() const;
    double point_rate(size_t point) const;
    FaultModel fault_model(size_t point) const;
    // data_checksum of the evaluation images and labels, computed once by the constructor.
    uint64_t images_hash() const { return images_hash_; }
    int64_t fault_free_correct() const { return fault_free_.correct; }
    int64_t fault_free_no_prediction() const { return fault_free_.no_prediction; }
    // Per image, the fault-free top-1 (layers::predict_classes; kNoPrediction for none).
    const std::vector<int64_t>& fault_free_predictions() const { return fault_free_predictions_; }
    int64_t cached_bytes() const;
    int64_t batch_size() const { return batch_size_; }
    double setup_seconds() const { return setup_seconds_; }

    // A stage of the model's chain (path and module) and what the campaign decided for it.
    struct Stage : layers::Stage {
        bool owns_targets = false;
        bool cached = false;       // its input is kept for the whole evaluation set
        // Conv2d / Linear: recomputed channel by channel, written into the cached input of stage
        // splice_stage (stages().size(): the logits).
        bool channel_sparse = false;
        size_t splice_stage = 0;
    };
    const std::vector<Stage>& stages() const { return stages_; }

private:
    // Which trial's activation faults strike while a trial runs (site activations or both).
    struct ActivationPoint {
        size_t point = 0;
        int64_t trial = 0;
    };
    // The model under `faults` (applied), `fault_count` faults: from the first changed stage; with
    // `activation`, also that trial's faults in computed values, from the first chosen layer's stage.
    TrialOutcome evaluate_faults(const ScopedFaults& faults, int64_t fault_count,
                                 const ActivationPoint* activation = nullptr);
    void choose_cache(const std::vector<core::Shape>& sample_shapes);
    void fill_cache();
    void probe_channel_sparse();
    // The input of `stage` for rows [start, stop): from the nearest cached input at or before it.
    autograd::Variable stage_input(size_t stage, int64_t start, int64_t stop);
    // Stage `stage` on `x`: its module, or for a Conv2d whose channel arithmetic the probe verified,
    // the same convolution without im2col (all channels; forward hooks of that stage are skipped).
    autograd::Variable run_stage(size_t stage, const autograd::Variable& x);
    // `stage`'s output channels `channels` (ascending) for `input`, carried through the channel-wise
    // stages up to its splice stage: (rows, channels.size(), ...).
    core::Tensor channel_outputs(size_t stage, const autograd::Variable& input, const std::vector<int64_t>& channels);
    // Sum over the batches of count_batch(start, stop), batches in parallel.
    OutcomeCounts for_each_batch(const std::function<OutcomeCounts(int64_t, int64_t)>& count_batch);
    // Where a pass also copies each batch's input of a stage (rows of `into`, (N, ...)).
    struct Capture {
        size_t stage = 0;
        core::Tensor into;
    };
    OutcomeCounts count_correct(size_t start_stage, const Capture* capture = nullptr);
    OutcomeCounts count_correct_sparse(size_t stage, const std::vector<int64_t>& channels,
                                       const Capture* capture = nullptr);
    // The output channels of stage `first` that `faults` changed, when the channel-sparse restart
    // applies to them (fewer than all, no whole-stage change); empty otherwise.
    std::vector<int64_t> sparse_channels(const ScopedFaults& faults, size_t first) const;
    // A trial whose first changed stage `first` lies before the shared stage (campaign_shared.cpp);
    // `channels`: sparse_channels.
    OutcomeCounts count_shared(size_t first, const std::vector<int64_t>& channels);
    // Every parameter and buffer value of stages [0, stage), in order: (values).
    core::Tensor prefix_values(size_t stage) const;
    // From stage `start` through every stage's own module, so that the activation-fault hooks of
    // trial `trial` at point `point` run on every batch.
    OutcomeCounts count_with_activation_faults(size_t start, size_t point, int64_t trial);
    // The top-1 of each row of `logits` (rows, classes): layers::predict_classes, checked.
    std::vector<int64_t> top1(const core::Tensor& logits) const;
    // `predicted` (rows starting at image `start`) against the labels and the fault-free top-1.
    OutcomeCounts tally(const std::vector<int64_t>& predicted, int64_t start) const;
    OutcomeCounts tally(const core::Tensor& logits, int64_t start) const { return tally(top1(logits), start); }
    core::Tensor& cache_at(size_t stage) { return stage_inputs_[stage]; }

    layers::Module& model_;
    // Faults in computed values (site activations or both); their first stage, where trials restart.
    std::unique_ptr<ActivationFaults> activations_;
    size_t activation_start_ = 0;
    layers::ModeGuard eval_mode_;  // the model's own mode back when the campaign ends
    layers::StageChain chain_;
    core::Tensor images_;
    std::vector<int32_t> labels_;
    uint64_t images_hash_ = 0;
    CampaignOptions options_;
    BitMask mask_;
    std::vector<FaultTarget> targets_;
    std::vector<int> stage_of_target_;
    std::vector<Stage> stages_;  // chain_'s stages, one to one
    // Per stage: its input (N, ...) when cached, undefined otherwise; one more entry for the logits.
    std::vector<core::Tensor> stage_inputs_;
    std::vector<core::Shape> stage_shapes_;  // per stage (and the logits): its input's shape, one sample
    TrialInputCache* shared_ = nullptr;      // share_trial_inputs
    size_t shared_stage_ = 0;
    bool logits_cached_ = false;
    int64_t batch_size_ = 0;
    OutcomeCounts fault_free_;
    std::vector<int64_t> fault_free_predictions_;  // (N): filled by the fault-free pass
    double setup_seconds_ = 0.0;
};

// Campaign(model, images, labels, options).run().
CampaignResult run_campaign(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                            const CampaignOptions& options);

}  // namespace proact::faults
