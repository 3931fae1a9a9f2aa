// Fault campaigns: for each bit error rate, T trials of "flip bits in the stored weights, measure
// top-1 accuracy on a labelled set, restore", and the statistics of the accuracies.
//
//   faults::CampaignOptions options;                  // BERs 1e-7..1e-4, 100 trials, Q15.16
//   options.format = faults::StorageFormat::float32();
//   options.bers = {1e-6, 1e-5};
//   faults::CampaignResult result = faults::run_campaign(*model, test.images, test.labels, options);
//   std::cout << faults::campaign_table(result);      // report.hpp: table, CSV, JSON, SVG
//
// Reproducible: trial t's accuracy depends only on (seed, t, rate, format, fault model, targets,
// model, data): its faults come from injector.hpp's streams, its evaluation is deterministic, and
// the model is restored bit-exactly after it. Trials may therefore be split over machines
// (shard i/n runs t = i, i+n, ...; merge_shards joins them into what one run gives) or replayed
// alone (Campaign::run_trial).
//
// Fast, without changing a single result bit:
//  - the model is viewed as a chain of stages (Sequential children expanded recursively; any other
//    module, a residual block say, is one stage). The input of every stage that owns a target is
//    computed once, fault-free, for the whole evaluation set and kept (within a memory budget,
//    later stages first since they are smaller); a trial reruns only from the cached input of the
//    first stage whose parameters it changed. The cache is filled with the same batches the trial
//    uses, so the numbers are those of a full forward pass;
//  - channel-sparse restart: when that first stage is a Conv2d or Linear, only its output channels
//    whose weights or bias changed are recomputed (a conv/linear with those rows of the weight),
//    carried through the channel-wise stages after it (ReLU, pools, dropout) and written over the
//    cached fault-free input of the next stage, from where the trial continues. Each output
//    channel is a computation of its own (one FMA chain per element in the GEMM), so this is the
//    full pass's arithmetic; a probe at start-up checks it bit for bit on this model and data and
//    falls back to the full stage if it ever differs. Convolutions are recomputed without im2col
//    (a direct, register-blocked kernel doing the GEMM's operations in the GEMM's order), which
//    the probe verifies too and which then also reruns whole Conv2d stages;
//  - a trial whose faults change no stored bit (empty map, or stuck-at bits that already held their
//    value) reuses the fault-free accuracy;
//  - faults are flipped and restored in place, inference runs in large batches in eval mode without
//    a graph, the batches in parallel (one thread each, its kernels single-threaded: one parallel
//    region per pass, and the same bits on any number of threads).
// Forward hooks of the Sequential containers themselves are not run; those of the stages are, maybe
// on several threads at once, except for a Conv2d rerun by the direct kernel.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "faults/fault_model.hpp"
#include "faults/injector.hpp"
#include "faults/storage_format.hpp"
#include "faults/targets.hpp"
#include "layers/module.hpp"

namespace proact::faults {

// ---------------------------------------------------------------------------------------------
// Statistics.

struct AccuracyStats {
    int64_t trials = 0;
    double mean = 0.0;  // accuracies in percent
    double std = 0.0;   // sample standard deviation (n - 1); 0 for one trial
    double min = 0.0;
    double max = 0.0;
    // 95% confidence interval of the mean: mean ± t(0.975, n-1) * std / sqrt(n); NaN for n < 2.
    double ci95_half_width = std::numeric_limits<double>::quiet_NaN();
};

// ValueError for an empty list.
AccuracyStats accuracy_stats(const std::vector<double>& accuracies);

// The `probability` quantile of Student's t distribution with `dof` > 0 degrees of freedom
// (t(0.975, 9) = 2.2622, t(0.975, 99) = 1.9842).
double student_t_quantile(double probability, double dof);

// ---------------------------------------------------------------------------------------------
// Options.

enum class FaultKind {
    ber,         // each allowed bit flips with probability BER
    exact,       // exactly k flipped bits per target tensor
    stuck_at_0,  // each allowed bit stuck at 0 with probability BER
    stuck_at_1,  // each allowed bit stuck at 1 with probability BER
};

// "ber", "exact", "stuck0", "stuck1" (also "stuck-at-0", "stuck-at-1"); ValueError otherwise.
FaultKind parse_fault_kind(std::string_view text);
const char* to_string(FaultKind kind);  // "ber", "exact", "stuck0", "stuck1"

// The BERs of the toolbox's experiments: 1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4.
std::vector<double> default_bers();
// "1e-6,1e-5" -> {1e-6, 1e-5}. ValueError naming the item for a non-number or a BER outside [0, 1].
std::vector<double> parse_ber_list(std::string_view text);

struct ShardSpec {
    int index = 0;
    int count = 1;
};
// "i/n" with 0 <= i < n. ValueError naming the text otherwise ("3/2": index 3 is not below 2).
ShardSpec parse_shard(std::string_view text);

struct CampaignOptions {
    FaultKind fault_kind = FaultKind::ber;
    std::vector<double> bers = default_bers();   // one point per BER (ber, stuck-at kinds)
    std::vector<int64_t> exact_counts = {1};     // one point per k (exact kind)
    StorageFormat format = StorageFormat::fixed_point(15, 16);  // the toolbox's default
    std::string bit_mask = "all";                // BitMask::parse syntax: "sign", "exponent", "integer", "0,31"
    std::vector<std::string> patterns;           // target parameter globs; empty: the default targets
    bool fault_thresholds = true;                // off: no "*threshold" parameter is a target
    int64_t trials = 100;                        // per point (upper bound when ci_margin > 0)
    uint64_t seed = 0;
    // > 0: stop a point once the 95% CI half-width of its mean accuracy is at most ci_margin
    // percentage points, after at least min_trials trials, in trial order 0, 1, 2, ...
    double ci_margin = 0.0;
    int64_t min_trials = 10;
    ShardSpec shard;                             // run trials t with t % count == index
    // Inference batch; 0: automatic, the whole set in equal batches whose largest activation stays
    // under 128 MB (the numbers depend on the batch size only through rounding order, which the
    // kernels keep per sample, so any choice gives the same bits).
    int64_t batch_size = 0;
    int64_t cache_budget_bytes = int64_t(1) << 30;  // stage-input cache
    bool stage_cache = true;                     // off: every trial runs the whole model
    bool channel_sparse = true;                  // off: the first faulted stage is recomputed whole
    bool reuse_fault_free = true;                // off: fault-free trials are evaluated again
    bool progress = true;                        // progress bar over the trials
    bool log_faults = false;                     // fill CampaignResult::fault_log
    // Descriptions carried into the result and its files.
    std::string label;                           // legend of the plot; default "<model> <format>"
    std::string model_name;
    std::string dataset_name;
};

// ValueError for a BER outside [0, 1], an empty point list, trials < 1, a negative exact count,
// a bad shard, ci_margin < 0, min_trials < 2, ci_margin with more than one shard (the stopping
// point would depend on trials other shards run), batch_size < 0, or a bit mask the format has
// no such bits for. Run by the Campaign constructor; the command line calls it early.
void validate_options(const CampaignOptions& options);

// ---------------------------------------------------------------------------------------------
// Results.

// One point of the sweep (one BER, or one k).
struct PointResult {
    double rate = 0.0;               // the BER, or k for an exact campaign
    std::vector<int64_t> trial_ids;  // ascending; 0..n-1 for a whole campaign
    std::vector<int64_t> correct;    // correctly classified samples, per trial
    std::vector<int64_t> faults;     // faulty bits drawn, per trial
    bool stopped_early = false;      // ci_margin reached before `trials`
    AccuracyStats stats;             // over 100 * correct / samples
    double seconds = 0.0;            // time of this point's trials (not written to the files)
    double mean_faults() const;
};

struct CampaignResult {
    std::string label, model, dataset;
    std::string format;              // "Q15.16", "float32"
    std::string fault_kind;          // to_string(FaultKind)
    std::string bit_mask;            // BitMask::to_string(): positions, "0,1,...,31"
    std::vector<std::string> patterns;
    std::vector<std::string> targets;  // parameter names
    int64_t target_values = 0;
    uint64_t seed = 0;
    int64_t trials = 0;              // requested per point
    double ci_margin = 0.0;
    int64_t min_trials = 10;
    ShardSpec shard;
    int64_t samples = 0;             // size of the evaluation set
    int64_t fault_free_correct = 0;
    std::vector<PointResult> points;

    // Not written to the files (they would differ between machines and runs).
    double seconds = 0.0;            // all of it, set-up included
    double setup_seconds = 0.0;      // fault-free pass, stage cache, probe
    int64_t batch_size = 0;          // the inference batch used
    int64_t trials_evaluated = 0;    // trials that ran the model
    int64_t trials_reused = 0;       // trials that changed no bit and took the fault-free result
    int64_t cached_bytes = 0;
    std::vector<FaultLogEntry> fault_log;  // when options.log_faults

    double fault_free_accuracy() const { return samples ? 100.0 * double(fault_free_correct) / double(samples) : 0.0; }
    double accuracy(int64_t correct) const { return samples ? 100.0 * double(correct) / double(samples) : 0.0; }
    bool is_exact() const { return fault_kind == "exact"; }
};

// Recomputes every point's stats from its per-trial counts.
void recompute_stats(CampaignResult& result);

// Joins the results of shards 0/n .. n-1/n of one campaign into the result of the whole campaign,
// equal to what one unsharded run gives. ValueError when the shards disagree on anything but the
// shard index, an index is missing or repeated, or the trials do not add up to 0..trials-1.
CampaignResult merge_shards(const std::vector<CampaignResult>& shards);

// ---------------------------------------------------------------------------------------------
// The runner.

struct TrialOutcome {
    int64_t correct = 0;
    int64_t faults = 0;       // faulty bits drawn
    int first_stage = -1;     // first stage whose parameters changed; -1: none (fault-free result)
    int64_t channels = -1;    // output channels recomputed at first_stage; -1: the whole stage
    bool reused = false;      // took the fault-free result without evaluating
};

class Campaign {
public:
    // Selects the targets, checks that a fixed-point model is quantised (check_quantized), splits
    // the model into stages and runs the fault-free pass that fills the stage cache. `model` must
    // outlive the campaign; `images` (N, ...) is shared, not copied, and `labels` (N) copied. The
    // model is evaluated in eval mode; its previous mode is restored by the destructor.
    Campaign(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
             CampaignOptions options);
    ~Campaign();
    Campaign(const Campaign&) = delete;
    Campaign& operator=(const Campaign&) = delete;

    // Trial `trial` of point `point`: draw its faults, inject, evaluate, restore. Depends on nothing
    // that ran before. Appends the faults to `log` when given.
    TrialOutcome run_trial(size_t point, int64_t trial, std::vector<FaultLogEntry>* log = nullptr);
    // Every point, the trials of this shard, with ci_margin stopping and a progress bar.
    CampaignResult run();

    const CampaignOptions& options() const { return options_; }
    const std::vector<FaultTarget>& targets() const { return targets_; }
    size_t point_count() const;
    double point_rate(size_t point) const;
    FaultModel fault_model(size_t point) const;
    int64_t fault_free_correct() const { return fault_free_correct_; }
    int64_t cached_bytes() const;
    int64_t batch_size() const { return batch_size_; }
    double setup_seconds() const { return setup_seconds_; }

    struct Stage {
        std::string path;          // "features.3"; "" for a model that is a single stage
        layers::Module* module = nullptr;  // owned by the model
        bool owns_targets = false;
        bool cached = false;       // its input is kept for the whole evaluation set
        // Conv2d / Linear: recomputed channel by channel, written into the cached input of stage
        // splice_stage (stages().size(): the logits).
        bool channel_sparse = false;
        size_t splice_stage = 0;
    };
    const std::vector<Stage>& stages() const { return stages_; }

private:
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
    int64_t for_each_batch(const std::function<int64_t(int64_t, int64_t)>& count_batch);
    int64_t count_correct(size_t start_stage);
    int64_t count_correct_sparse(size_t stage, const std::vector<int64_t>& channels);
    int64_t tally(const core::Tensor& logits, int64_t start);
    core::Tensor& cache_at(size_t stage) { return stage_inputs_[stage]; }

    layers::Module& model_;
    core::Tensor images_;
    std::vector<int32_t> labels_;
    CampaignOptions options_;
    BitMask mask_;
    bool was_training_ = false;
    std::vector<FaultTarget> targets_;
    std::vector<int> stage_of_target_;
    std::vector<Stage> stages_;
    // Per stage: its input (N, ...) when cached, undefined otherwise; one more entry for the logits.
    std::vector<core::Tensor> stage_inputs_;
    bool logits_cached_ = false;
    int64_t batch_size_ = 0;
    int64_t fault_free_correct_ = 0;
    double setup_seconds_ = 0.0;
};

// Campaign(model, images, labels, options).run().
CampaignResult run_campaign(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                            const CampaignOptions& options);

}  // namespace proact::faults
