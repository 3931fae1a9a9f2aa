#include "faults/campaign.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <set>
#include <sstream>
#include <typeinfo>

#include "autograd/ops.hpp"
#include "autograd/variable.hpp"
#include "core/conv_channels.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "layers/activation.hpp"
#include "layers/clipped_relu.hpp"
#include "layers/conv.hpp"
#include "layers/dropout.hpp"
#include "layers/evaluate.hpp"
#include "layers/linear.hpp"
#include "layers/pooling.hpp"
#include "layers/range_guard.hpp"

namespace proact::faults {

using core::fail;
using core::ValueError;

namespace {

// A stage that maps each channel (axis 1) of its input to the same channel of its output, on its
// own, whatever the number of channels: a channel subset can pass through it.
bool is_channel_wise(const layers::Module& module) {
    const std::type_info& type = typeid(module);
    // A one-value threshold treats every channel alike; wider ones would need slicing to the subset.
    if (type == typeid(layers::ClippedReLU))
        return static_cast<const layers::ClippedReLU&>(module).threshold().numel() == 1;
    return (type == typeid(layers::ReLU) || type == typeid(layers::MaxPool2d) || type == typeid(layers::AvgPool2d) ||
            type == typeid(layers::Dropout) || type == typeid(layers::Identity)) &&
           module.named_parameters().empty();
}

bool is_channel_sparse_kind(const layers::Module& module) {
    return typeid(module) == typeid(layers::Conv2d) || typeid(module) == typeid(layers::Linear);
}


// Overwrites channels `channels` of `destination` (rows, C, ...) with `values` (rows, channels.size(),
// ...) and restores the old contents when it goes out of scope, however the scope ends.
class ChannelSplice {
public:
    ChannelSplice(core::Tensor destination, const core::Tensor& values, const std::vector<int64_t>& channels)
        : destination_(std::move(destination)), channels_(channels) {
        rows_ = destination_.size(0);
        channel_count_ = destination_.size(1);
        plane_ = destination_.numel() / (rows_ * channel_count_);
        if (values.dim() != destination_.dim() || values.size(0) != rows_ ||
            values.size(1) != static_cast<int64_t>(channels.size()) ||
            values.numel() != rows_ * static_cast<int64_t>(channels.size()) * plane_)
            fail<core::ShapeError>("fault campaign: channel outputs of shape ", core::shape_str(values.shape()),
                                   " do not fit the cached input of shape ", core::shape_str(destination_.shape()));
        const core::Tensor source = values.contiguous();
        saved_.resize(static_cast<size_t>(rows_) * channels.size() * static_cast<size_t>(plane_));
        float* base = destination_.data();
        const float* from = source.data();
        float* keep = saved_.data();
        for (int64_t row = 0; row < rows_; ++row)
            for (size_t j = 0; j < channels.size(); ++j) {
                float* target = base + (row * channel_count_ + channels[j]) * plane_;
                std::copy(target, target + plane_, keep);
                std::copy(from, from + plane_, target);
                keep += plane_;
                from += plane_;
            }
    }
    ~ChannelSplice() {
        float* base = destination_.data();
        const float* keep = saved_.data();
        for (int64_t row = 0; row < rows_; ++row)
            for (int64_t channel : channels_) {
                std::copy(keep, keep + plane_, base + (row * channel_count_ + channel) * plane_);
                keep += plane_;
            }
    }
    ChannelSplice(const ChannelSplice&) = delete;
    ChannelSplice& operator=(const ChannelSplice&) = delete;

private:
    core::Tensor destination_;
    std::vector<int64_t> channels_;
    int64_t rows_ = 0, channel_count_ = 0, plane_ = 0;
    std::vector<float> saved_;
};

bool same_bits(const float* a, const float* b, int64_t count) {
    return std::memcmp(a, b, static_cast<size_t>(count) * sizeof(float)) == 0;
}

}  // namespace

Campaign::Campaign(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                   CampaignOptions options)
    : model_(model),
      eval_mode_(model, /*training=*/false),
      chain_(model),
      images_(images),
      labels_(labels),
      options_(std::move(options)) {
    const auto start_time = std::chrono::steady_clock::now();
    validate_options(options_);
    if (images_.dim() < 1 || images_.size(0) != static_cast<int64_t>(labels_.size()))
        fail<core::ShapeError>("fault campaign: ", images_.dim() ? images_.size(0) : 0, " inputs but ",
                               labels_.size(), " labels");
    if (labels_.empty()) fail<ValueError>("fault campaign: the evaluation set is empty (expected at least 1 sample)");
    images_hash_ = data_checksum(images_, labels_);
    mask_ = BitMask::parse(options_.bit_mask, options_.format);
    targets_ = select_targets(model_, options_.patterns, options_.fault_thresholds);
    check_quantized(targets_, options_.format);
    const bool weight_faults = options_.site != kFaultSites[1];
    if (options_.fault_model.is_exact() && weight_faults) {
        const int64_t most = *std::max_element(options_.exact_counts.begin(), options_.exact_counts.end());
        for (const FaultTarget& target : targets_)
            if (most > target.numel() * mask_.count())
                fail<ValueError>("fault campaign: k = ", most, " faults per tensor, but ", target.name, " has only ",
                                 target.numel() * mask_.count(), " bits the mask allows");
    }

    if (chain_.size() == 0) fail<ValueError>("fault campaign: the model is an empty Sequential");
    for (const layers::Stage& stage : chain_.stages()) stages_.push_back({stage});
    for (const FaultTarget& target : targets_) {
        const size_t stage = chain_.stage_of(target.module_path);
        stage_of_target_.push_back(static_cast<int>(stage));
        stages_[stage].owns_targets = true;
    }

    if (options_.site != kFaultSites[0]) {
        const core::Shape& shape = images_.shape();
        activations_ = std::make_unique<ActivationFaults>(model_, options_.activation_layers,
                                                          core::Shape(shape.begin() + 1, shape.end()), options_.format);
        activation_start_ = stages_.size();
        for (const ActivationSite& site : activations_->sites())
            activation_start_ = std::min(activation_start_, chain_.stage_of(site.path));
        if (options_.fault_model.is_exact()) {
            const int64_t most = *std::max_element(options_.exact_counts.begin(), options_.exact_counts.end());
            if (most > activations_->values_per_image() * mask_.count())
                fail<ValueError>("fault campaign: k = ", most, " faults per image, but the activation layers hold only ",
                                 activations_->values_per_image() * mask_.count(), " bits the mask allows");
        }
    }

    autograd::NoGradGuard no_grad;
    // The input shape of every stage (and of the logits), from one sample.
    std::vector<core::Shape> sample_shapes(stages_.size() + 1);
    std::vector<int64_t> sample_values(stages_.size() + 1, 0);
    {
        autograd::Variable x(images_.slice(0, 1));
        for (size_t s = 0; s <= stages_.size(); ++s) {
            sample_shapes[s] = x.shape();
            sample_values[s] = x.numel();
            if (s < stages_.size()) x = (*stages_[s].module)(x);
        }
    }
    const int64_t count = images_.size(0);
    batch_size_ = options_.batch_size;
    if (batch_size_ == 0)  // batches run in parallel, and the bits do not depend on the batch size
        batch_size_ = layers::auto_batch_rows(*std::max_element(sample_values.begin(), sample_values.end()), count);
    stage_shapes_ = std::move(sample_shapes);
    choose_cache(stage_shapes_);
    fill_cache();
    if (options_.stage_cache && options_.channel_sparse) probe_channel_sparse();
    setup_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
}

void Campaign::choose_cache(const std::vector<core::Shape>& sample_shapes) {
    stage_inputs_.assign(stages_.size() + 1, core::Tensor());
    if (!options_.stage_cache) return;
    // Worth keeping: the inputs of stages that own targets (restart points) and, for each Conv2d or
    // Linear among them, the input of the first stage after its channel-wise tail (splice point).
    const size_t end = stages_.size();
    std::vector<bool> wanted(end + 1, false);
    for (size_t s = 0; s < end; ++s) {
        Stage& stage = stages_[s];
        if (!stage.owns_targets) continue;
        if (s > 0) wanted[s] = true;
        if (options_.channel_sparse && is_channel_sparse_kind(*stage.module)) {
            size_t splice = s + 1;
            while (splice < end && is_channel_wise(*stages_[splice].module)) ++splice;
            stage.splice_stage = splice;
            wanted[splice] = true;
        }
    }
    if (activations_ && activation_start_ > 0) wanted[activation_start_] = true;  // where activation trials restart
    // Later points first: they are smaller, and the ones most trials start from.
    int64_t budget = options_.cache_budget_bytes;
    const int64_t count = images_.size(0);
    std::vector<bool> cached(end + 1, false);
    for (size_t s = end + 1; s-- > 1;) {
        if (!wanted[s]) continue;
        const int64_t bytes = core::numel_of(sample_shapes[s]) * count * static_cast<int64_t>(sizeof(float));
        if (bytes > budget) continue;
        budget -= bytes;
        cached[s] = true;
    }
    for (size_t s = 0; s < end; ++s) stages_[s].cached = cached[s];
    logits_cached_ = cached[end];
    for (size_t s = 1; s <= end; ++s)
        if (cached[s]) {
            core::Shape shape = sample_shapes[s];
            shape[0] = count;
            stage_inputs_[s] = core::Tensor::empty(shape);
        }
    for (Stage& stage : stages_)
        if (stage.splice_stage != 0 && !cached[stage.splice_stage]) stage.splice_stage = 0;
}

void Campaign::fill_cache() {
    // The fault-free pass, with the same batches every trial uses.
    const size_t end = stages_.size();
    // Each batch writes the fault-free top-1 of its own rows, which its tally then compares with.
    fault_free_predictions_.assign(labels_.size(), layers::kNoPrediction);
    fault_free_ = for_each_batch([&](int64_t start, int64_t stop) {
        autograd::Variable x(images_.slice(start, stop));
        for (size_t s = 0; s < end; ++s) {
            if (stages_[s].cached) stage_inputs_[s].slice(start, stop).copy_(x.value());
            x = (*stages_[s].module)(x);
        }
        if (logits_cached_) stage_inputs_[end].slice(start, stop).copy_(x.value());
        const std::vector<int64_t> predicted = top1(x.value());
        const int64_t classes = x.size(1);  // faults change values, never the number of classes
        for (int64_t image = start; image < stop; ++image) {
            const int32_t label = labels_[static_cast<size_t>(image)];
            if (label < 0 || label >= classes)
                fail<ValueError>("fault campaign: label ", label, " of sample ", image, " outside [0, ", classes, ")");
        }
        std::copy(predicted.begin(), predicted.end(), fault_free_predictions_.begin() + start);
        return tally(predicted, start);
    });
}

OutcomeCounts Campaign::for_each_batch(const std::function<OutcomeCounts(int64_t, int64_t)>& count_batch) {
    // Batches are fixed by the batch size alone and each is computed whole by one thread, its
    // kernels then single-threaded (they are thread-count invariant), so the sums do not depend on
    // the number of threads. One parallel region per pass instead of one per kernel call.
    const int64_t count = images_.size(0);
    const int64_t batches = (count + batch_size_ - 1) / batch_size_;
    std::vector<OutcomeCounts> counts(static_cast<size_t>(batches));
    core::run_tasks(batches, [&](int64_t batch) {
        autograd::NoGradGuard no_grad;  // per thread
        const int64_t start = batch * batch_size_;
        counts[static_cast<size_t>(batch)] = count_batch(start, std::min(count, start + batch_size_));
    });
    OutcomeCounts total;
    for (const OutcomeCounts& batch : counts) total += batch;
    return total;
}

void Campaign::probe_channel_sparse() {
    // For every Conv2d / Linear stage with a cached splice point: recompute a few channel subsets
    // for the first batch and compare them bit for bit with the fault-free pass. Any difference (a
    // kernel whose arithmetic depends on the number of output channels) leaves the stage on full
    // recomputation by its own module.
    const int64_t stop = std::min(images_.size(0), batch_size_);
    for (size_t s = 0; s < stages_.size(); ++s) {
        Stage& stage = stages_[s];
        if (!stage.owns_targets || stage.splice_stage == 0 || !is_channel_sparse_kind(*stage.module)) continue;
        const core::Tensor& reference = stage_inputs_[stage.splice_stage];
        const int64_t channels = reference.dim() >= 2 ? reference.size(1) : 0;
        const int64_t outputs = stage.module->named_parameters().front().second.size(0);
        if (channels != outputs || channels < 2) continue;
        // One channel, the last one, a strided run of up to 9, and all of them (how run_stage reruns
        // a whole Conv2d): every register-block width the kernels use.
        std::vector<std::vector<int64_t>> subsets = {{0}, {channels - 1}};
        std::vector<int64_t> strided, all;
        for (int64_t c = 1; c < channels && strided.size() < 9; c += 2) strided.push_back(c);
        for (int64_t c = 0; c < channels; ++c) all.push_back(c);
        subsets.push_back(strided);
        subsets.push_back(all);
        const autograd::Variable input = stage_input(s, 0, stop);
        const core::Tensor expected = reference.slice(0, stop);
        const int64_t plane = expected.numel() / (stop * channels);
        bool identical = true;
        for (const std::vector<int64_t>& subset : subsets) {
            core::Tensor values;
            try {
                values = channel_outputs(s, input, subset).contiguous();
            } catch (const core::Error&) {
                identical = false;
                break;
            }
            if (values.numel() != stop * static_cast<int64_t>(subset.size()) * plane) {
                identical = false;
                break;
            }
            for (int64_t row = 0; row < stop && identical; ++row)
                for (size_t j = 0; j < subset.size() && identical; ++j)
                    identical = same_bits(values.data() + (row * static_cast<int64_t>(subset.size()) + j) * plane,
                                          expected.data() + (row * channels + subset[j]) * plane, plane);
            if (!identical) break;
        }
        stage.channel_sparse = identical;
    }
}

autograd::Variable Campaign::stage_input(size_t stage, int64_t start, int64_t stop) {
    size_t from = stage;
    while (from > 0 && !stages_[from].cached) --from;
    autograd::Variable x((from == 0 ? images_ : stage_inputs_[from]).slice(start, stop));
    for (size_t s = from; s < stage; ++s) x = run_stage(s, x);
    return x;
}

autograd::Variable Campaign::run_stage(size_t stage, const autograd::Variable& x) {
    const Stage& entry = stages_[stage];
    if (entry.channel_sparse && x.dim() == 4)
        if (auto* conv = dynamic_cast<layers::Conv2d*>(entry.module); conv && x.size(1) == conv->in_channels()) {
            std::vector<int64_t> all(static_cast<size_t>(conv->out_channels()));
            for (size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int64_t>(c);
            return autograd::Variable(core::conv2d_channels(x.value(), conv->effective_weight(), conv->effective_bias(),
                                                      conv->stride(), conv->padding(), all));
        }
    return (*entry.module)(x);
}

core::Tensor Campaign::channel_outputs(size_t stage, const autograd::Variable& input,
                                       const std::vector<int64_t>& channels) {
    layers::Module& module = *stages_[stage].module;
    autograd::Variable y;
    if (auto* conv = dynamic_cast<layers::Conv2d*>(&module)) {
        if (input.dim() != 4 || input.size(1) != conv->in_channels())
            fail<core::ShapeError>("fault campaign: stage ", stages_[stage].path, " got input ",
                                   core::shape_str(input.shape()), ", expected (batch, ", conv->in_channels(),
                                   ", height, width)");
        y = autograd::Variable(core::conv2d_channels(input.value(), conv->effective_weight(), conv->effective_bias(),
                                               conv->stride(), conv->padding(), channels));
    } else if (auto* linear = dynamic_cast<layers::Linear*>(&module)) {
        // effective_*: the range guard's filtered values when the layer is guarded.
        const autograd::Variable weight(core::gather_rows(linear->effective_weight(), channels));
        const autograd::Variable bias = linear->bias().defined()
                                            ? autograd::Variable(core::gather_rows(linear->effective_bias(), channels))
                                            : autograd::Variable();
        y = autograd::linear(input, weight, bias);
    } else {
        fail<ValueError>("fault campaign: stage ", stages_[stage].path, " is not a Conv2d or Linear");
    }
    return chain_.run(stage + 1, stages_[stage].splice_stage, y).value();
}

size_t Campaign::point_count() const {
    return options_.fault_model.is_exact() ? options_.exact_counts.size() : options_.bers.size();
}

double Campaign::point_rate(size_t point) const {
    if (point >= point_count()) fail<core::IndexError>("fault campaign: point ", point, " outside 0..", point_count() - 1);
    return options_.fault_model.is_exact() ? static_cast<double>(options_.exact_counts[point]) : options_.bers[point];
}

FaultModel Campaign::fault_model(size_t point) const {
    const double rate = point_rate(point);
    if (options_.fault_model.is_exact())
        return FaultModel::exact(options_.exact_counts[point], mask_, options_.fault_model.action);
    return FaultModel::at_rate(options_.fault_model, rate, mask_);
}

int64_t Campaign::cached_bytes() const {
    int64_t bytes = 0;
    for (const core::Tensor& input : stage_inputs_)
        if (input.defined()) bytes += input.numel() * static_cast<int64_t>(sizeof(float));
    return bytes;
}

std::vector<int64_t> Campaign::top1(const core::Tensor& logits) const {
    if (logits.dim() != 2)
        fail<core::ShapeError>("fault campaign: model output has shape ", core::shape_str(logits.shape()),
                               ", expected (batch, classes)");
    return layers::predict_classes(logits);
}

OutcomeCounts Campaign::tally(const std::vector<int64_t>& predicted, int64_t start) const {
    OutcomeCounts counts;
    for (size_t i = 0; i < predicted.size(); ++i) {
        const size_t image = static_cast<size_t>(start) + i;
        const int64_t top = predicted[i];
        counts.correct += top == labels_[image];
        if (top == layers::kNoPrediction)
            ++counts.no_prediction;
        else if (top == fault_free_predictions_[image])
            ++counts.masked;
        else
            ++counts.sdc;  // another class, or a prediction where the fault-free run had none
    }
    return counts;
}

OutcomeCounts Campaign::count_correct(size_t start_stage, const Capture* capture) {
    layers::ModeGuard eval_mode(model_, /*training=*/false);
    const size_t start = std::min(start_stage, stages_.size() - 1);
    return for_each_batch([&](int64_t first, int64_t stop) {
        autograd::Variable x = stage_input(start, first, stop);
        for (size_t s = start; s < stages_.size(); ++s) {
            if (capture && s == capture->stage) capture->into.slice(first, stop).copy_(x.value());
            x = run_stage(s, x);
        }
        return tally(x.value(), first);
    });
}

OutcomeCounts Campaign::count_correct_sparse(size_t stage, const std::vector<int64_t>& channels,
                                             const Capture* capture) {
    layers::ModeGuard eval_mode(model_, /*training=*/false);
    const size_t splice = stages_[stage].splice_stage;
    // Each batch writes its channels over its own rows of the cached input and puts them back.
    return for_each_batch([&](int64_t first, int64_t stop) {
        const core::Tensor values = channel_outputs(stage, stage_input(stage, first, stop), channels);
        ChannelSplice splice_guard(stage_inputs_[splice].slice(first, stop), values, channels);
        autograd::Variable x(stage_inputs_[splice].slice(first, stop));
        for (size_t s = splice; s < stages_.size(); ++s) {
            if (capture && s == capture->stage) capture->into.slice(first, stop).copy_(x.value());
            x = run_stage(s, x);
        }
        return tally(x.value(), first);
    });
}

OutcomeCounts Campaign::count_with_activation_faults(size_t start, size_t point, int64_t trial) {
    layers::ModeGuard eval_mode(model_, /*training=*/false);
    const FaultModel faults = fault_model(point);
    const FaultStreamKey key{options_.seed, options_.purpose, point_rate(point)};
    return for_each_batch([&](int64_t first, int64_t stop) {
        ActivationTrial scope(*activations_, faults, key, trial, first);
        autograd::Variable x = stage_input(start, first, stop);
        // Each stage through its own module (not run_stage's direct kernel): the hooks run.
        for (size_t s = start; s < stages_.size(); ++s) x = (*stages_[s].module)(x);
        OutcomeCounts counts = tally(x.value(), first);
        counts.activation_faults = scope.faults();
        return counts;
    });
}

TrialOutcome Campaign::run_trial(size_t point, int64_t trial, std::vector<FaultLogEntry>* log) {
    if (trial < 0) fail<ValueError>("fault campaign: trial ", trial, " is negative");
    const FaultMap map = options_.site == kFaultSites[1]
                             ? FaultMap{}
                             : draw_fault_map(targets_, fault_model(point), options_.format,
                                              FaultStreamKey{options_.seed, options_.purpose, point_rate(point)}, trial);
    ScopedFaults faults(targets_, map, options_.format);
    if (log) append_fault_log(*log, trial, point_rate(point), targets_, faults.log(), options_.format);
    const ActivationPoint activation{point, trial};
    return evaluate_faults(faults, map.size(), activations_ ? &activation : nullptr);
}

TrialOutcome Campaign::run_faults(const FaultMap& map) {
    ScopedFaults faults(targets_, map, options_.format);
    return evaluate_faults(faults, map.size());
}

TrialOutcome Campaign::evaluate_faults(const ScopedFaults& faults, int64_t fault_count,
                                       const ActivationPoint* activation) {
    TrialOutcome outcome;
    outcome.faults = fault_count;
    const auto counted = [&outcome](const OutcomeCounts& counts) {
        outcome.correct = counts.correct;
        outcome.no_prediction = counts.no_prediction;
        outcome.masked = counts.masked;
        outcome.sdc = counts.sdc;
        return outcome;
    };
    size_t first = stages_.size();
    for (const TensorLog& tensor : faults.log()) {
        bool changed = tensor.scale_changed;
        for (const FaultRecord& record : tensor.records) changed |= record.changed();
        if (changed) first = std::min(first, static_cast<size_t>(stage_of_target_[tensor.target]));
    }
    if (activation) {
        // Activation faults may strike any image: no fault-free reuse, no channel-sparse restart.
        const size_t start = std::min(first, activation_start_);
        outcome.first_stage = static_cast<int>(start);
        const OutcomeCounts counts = count_with_activation_faults(start, activation->point, activation->trial);
        outcome.faults += counts.activation_faults;
        return counted(counts);
    }
    if (first < stages_.size()) outcome.first_stage = static_cast<int>(first);
    if (first == stages_.size() && options_.reuse_fault_free) {
        outcome.reused = true;
        return counted(fault_free_);
    }
    if (!options_.stage_cache) {
        // The reference: the whole model through its own modules (no stage is channel-sparse then).
        return counted(count_correct(0));
    }
    const std::vector<int64_t> channels = sparse_channels(faults, first);
    if (!channels.empty()) outcome.channels = static_cast<int64_t>(channels.size());
    if (shared_ && first < shared_stage_) return counted(count_shared(first, channels));
    if (!channels.empty()) return counted(count_correct_sparse(first, channels));
    return counted(count_correct(first));
}

std::vector<int64_t> Campaign::sparse_channels(const ScopedFaults& faults, size_t first) const {
    // A changed threshold between the restart and the splice touches every channel: no sparse path.
    bool later_change_before_splice = false;
    if (first < stages_.size() && stages_[first].channel_sparse)
        for (const TensorLog& tensor : faults.log()) {
            const size_t stage = static_cast<size_t>(stage_of_target_[tensor.target]);
            if (stage > first && stage < stages_[first].splice_stage) {
                later_change_before_splice |= tensor.scale_changed;
                for (const FaultRecord& record : tensor.records) later_change_before_splice |= record.changed();
            }
        }
    if (first < stages_.size() && stages_[first].channel_sparse && !later_change_before_splice) {
        // The output channels whose weights or bias changed: row `element / (numel / O)` of a
        // weight (O, ...) or bias (O).
        std::set<int64_t> rows;
        bool first_is_whole = false;
        for (const TensorLog& tensor : faults.log()) {
            if (static_cast<size_t>(stage_of_target_[tensor.target]) != first) continue;
            const core::Tensor& value = targets_[tensor.target].parameter.value();
            const int64_t row_size = value.numel() / value.size(0);
            // A changed range-guard bound filters every row of its tensor, and a changed int8 scale
            // rescales every row: the stage is rerun whole.
            const bool bounds = layers::is_bounds_parameter(targets_[tensor.target].name);
            if (tensor.scale_changed) first_is_whole = true;
            for (const FaultRecord& record : tensor.records)
                if (record.changed()) {
                    if (bounds) first_is_whole = true;
                    rows.insert(record.element / row_size);
                }
        }
        const int64_t outputs = stages_[first].module->named_parameters().front().second.size(0);
        if (!first_is_whole && static_cast<int64_t>(rows.size()) < outputs) return {rows.begin(), rows.end()};
    }
    return {};
}

}  // namespace proact::faults
