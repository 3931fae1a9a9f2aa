// Trials that start from a faulty stage input another campaign kept (TrialInputCache,
// campaign.hpp): FtClipAct scores each candidate threshold of a layer by a campaign with the same
// trials, and the stages before that layer are the same in all of them.
#include <algorithm>
#include <cstring>
#include <utility>

#include "core/error.hpp"
#include "faults/campaign.hpp"
#include "faults/injector.hpp"

namespace proact::faults {

TrialInputCache::TrialInputCache(std::string module_path, int64_t budget_bytes)
    : module_path_(std::move(module_path)), budget_bytes_(budget_bytes) {
    if (budget_bytes < 0) core::fail<core::ValueError>("trial input cache: budget must be >= 0 bytes, got ", budget_bytes);
}

void Campaign::share_trial_inputs(TrialInputCache& cache) {
    const size_t stage = chain_.stage_of(cache.module_path());  // ValueError when no stage holds it
    // Activation faults strike inside the prefix too, and without the stage cache every trial is
    // the reference full pass: neither shares.
    if (activations_ || !options_.stage_cache) return;
    shared_ = &cache;
    shared_stage_ = stage;
}

core::Tensor Campaign::prefix_values(size_t stage) const {
    std::vector<core::Tensor> tensors;
    int64_t count = 0;
    for (size_t s = 0; s < stage; ++s) {
        for (const auto& [name, parameter] : stages_[s].module->named_parameters())
            tensors.push_back(parameter.value().contiguous());
        for (const auto& [name, buffer] : stages_[s].module->named_buffers()) tensors.push_back(buffer.contiguous());
    }
    for (const core::Tensor& tensor : tensors) count += tensor.numel();
    core::Tensor values = core::Tensor::empty({count});
    float* out = values.data();
    for (const core::Tensor& tensor : tensors) out = std::copy(tensor.data(), tensor.data() + tensor.numel(), out);
    return values;
}

OutcomeCounts Campaign::count_shared(size_t first, const std::vector<int64_t>& channels) {
    TrialInputCache& cache = *shared_;
    const size_t stage = shared_stage_;
    // The channel-sparse restart passes the shared stage on its way to the splice point: it keeps
    // nothing, and is what the trial would run anyway.
    if (!channels.empty() && stages_[first].splice_stage > stage) return count_correct_sparse(first, channels);

    core::Tensor prefix = prefix_values(stage);
    const uint64_t key = data_checksum(prefix, {});  // where to look, never what decides a match
    const auto [begin, end] = cache.entries_.equal_range(key);
    for (auto it = begin; it != end; ++it) {
        const TrialInputCache::Entry& entry = it->second;
        // Bit for bit: a fault may have left a NaN there, which no float comparison matches.
        const bool same_prefix =
            entry.prefix.numel() == prefix.numel() &&
            (prefix.numel() == 0 || std::memcmp(entry.prefix.data(), prefix.data(),
                                                static_cast<size_t>(prefix.numel()) * sizeof(float)) == 0);
        if (entry.images_hash != images_hash_ || !same_prefix) continue;
        ++cache.replays_;
        layers::ModeGuard eval_mode(model_, /*training=*/false);
        const core::Tensor& input = entry.input;
        return for_each_batch([&](int64_t start, int64_t stop) {
            autograd::Variable x(input.slice(start, stop));
            for (size_t s = stage; s < stages_.size(); ++s) x = run_stage(s, x);
            return tally(x.value(), start);
        });
    }

    core::Shape shape = stage_shapes_[stage];
    shape[0] = images_.size(0);
    const int64_t bytes =
        (core::numel_of(shape) + prefix.numel()) * static_cast<int64_t>(sizeof(float));
    Capture capture{stage, core::Tensor()};
    if (cache.used_bytes_ + bytes <= cache.budget_bytes_) capture.into = core::Tensor::empty(shape);
    const Capture* keep = capture.into.defined() ? &capture : nullptr;
    const OutcomeCounts counts =
        channels.empty() ? count_correct(first, keep) : count_correct_sparse(first, channels, keep);
    if (keep) {
        cache.entries_.emplace(key, TrialInputCache::Entry{images_hash_, std::move(prefix), capture.into});
        cache.used_bytes_ += bytes;
    }
    return counts;
}

}  // namespace proact::faults
