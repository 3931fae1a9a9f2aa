#include "faults/campaign_result.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace proact::faults {

using core::fail;
using core::ValueError;

double PointResult::mean_faults() const {
    if (faults.empty()) return 0.0;
    double total = 0.0;
    for (int64_t count : faults) total += static_cast<double>(count);
    return total / static_cast<double>(faults.size());
}

void recompute_stats(CampaignResult& result) {
    const auto shares = [&result](const std::vector<int64_t>& counts) {
        std::vector<double> percentages;
        for (int64_t count : counts) percentages.push_back(result.share(count));
        return percentages.empty() ? AccuracyStats{} : accuracy_stats(percentages);
    };
    for (PointResult& point : result.points) {
        point.stats = shares(point.correct);
        point.no_prediction_stats = shares(point.no_prediction);
        point.sdc_stats = shares(point.sdc);
    }
}

namespace {

// One trial of one point, as a shard holds it.
struct TrialRecord {
    int64_t trial = 0;
    int64_t correct = 0;
    int64_t no_prediction = 0;
    int64_t sdc = 0;  // 0 when the campaign has no outcomes
    int64_t faults = 0;
};

std::string joined(const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) text += (text.empty() ? "" : ",") + name;
    return text;
}

// ValueError naming the first setting in which `shard` differs from `first`, and both values.
void check_same_campaign(const CampaignResult& first, const CampaignResult& shard) {
    const auto differ = [&](const char* what, const auto& value_first, const auto& value_shard) {
        fail<ValueError>("merge: shard ", shard.shard.index, "/", shard.shard.count, " differs from shard ",
                         first.shard.index, "/", first.shard.count, " in its ", what, " (", value_shard, " against ",
                         value_first, "); only shards of one campaign can be merged");
    };
    if (shard.label != first.label) differ("label", first.label, shard.label);
    if (shard.model != first.model) differ("model", first.model, shard.model);
    if (shard.dataset != first.dataset) differ("dataset", first.dataset, shard.dataset);
    if (shard.format != first.format) differ("format", first.format, shard.format);
    if (shard.fault_model != first.fault_model)
        differ("fault model", first.fault_model.to_string(), shard.fault_model.to_string());
    if (shard.bit_mask != first.bit_mask) differ("bit mask", first.bit_mask, shard.bit_mask);
    if (shard.patterns != first.patterns) differ("patterns", joined(first.patterns), joined(shard.patterns));
    if (shard.targets != first.targets) differ("targets", joined(first.targets), joined(shard.targets));
    if (shard.target_values != first.target_values) differ("target values", first.target_values, shard.target_values);
    if (shard.seed != first.seed) differ("seed", first.seed, shard.seed);
    if (shard.purpose != first.purpose) differ("purpose", first.purpose, shard.purpose);
    if (shard.batch_norm != first.batch_norm) differ("batch norm", first.batch_norm, shard.batch_norm);
    if (shard.site != first.site) differ("fault site", first.site, shard.site);
    if (shard.activation_layers != first.activation_layers)
        differ("activation layers", first.activation_layers, shard.activation_layers);
    if (shard.trials != first.trials) differ("trial count", first.trials, shard.trials);
    if (shard.ci_margin != first.ci_margin) differ("CI margin", first.ci_margin, shard.ci_margin);
    if (shard.min_trials != first.min_trials) differ("minimum trials", first.min_trials, shard.min_trials);
    if (shard.shard.count != first.shard.count) differ("shard count", first.shard.count, shard.shard.count);
    if (shard.samples != first.samples) differ("sample count", first.samples, shard.samples);
    if (shard.images_hash != first.images_hash)
        differ("evaluation images (hash of images and labels)", checksum_hex(first.images_hash),
               checksum_hex(shard.images_hash));
    if (shard.fault_free_correct != first.fault_free_correct)
        differ("fault-free correct count", first.fault_free_correct, shard.fault_free_correct);
    if (shard.fault_free_no_prediction != first.fault_free_no_prediction)
        differ("fault-free no-prediction count", first.fault_free_no_prediction, shard.fault_free_no_prediction);
    if (shard.outcomes != first.outcomes)
        differ("SDC counts", first.outcomes ? "present, version 4" : "absent, version 3",
               shard.outcomes ? "present, version 4" : "absent, version 3");
    if (shard.points.size() != first.points.size())
        differ("number of rates", first.points.size(), shard.points.size());
    for (size_t p = 0; p < shard.points.size(); ++p)
        if (shard.points[p].rate != first.points[p].rate) differ("rates", first.points[p].rate, shard.points[p].rate);
}

// ValueError unless the shards are indices 0..n-1 of one n-shard campaign, each given once.
void check_shards(const std::vector<CampaignResult>& shards) {
    if (shards.empty()) fail<ValueError>("merge: no shard results given");
    const CampaignResult& first = shards[0];
    const int count = first.shard.count;
    if (static_cast<int>(shards.size()) != count)
        fail<ValueError>("merge: the shards say the campaign has ", count, " shards, ", shards.size(), " given");
    if (first.ci_margin > 0.0) fail<ValueError>("merge: a campaign stopped by a CI margin cannot be sharded");
    std::vector<bool> seen(static_cast<size_t>(count), false);
    for (const CampaignResult& shard : shards) {
        check_same_campaign(first, shard);
        const int index = shard.shard.index;
        if (index < 0 || index >= count) fail<ValueError>("merge: shard index ", index, " outside 0..", count - 1);
        if (seen[static_cast<size_t>(index)]) fail<ValueError>("merge: shard ", index, "/", count, " given twice");
        seen[static_cast<size_t>(index)] = true;
    }
}

// Point `p` of every shard, as the trials 0..trials-1 in order.
std::vector<TrialRecord> gather_trials(const std::vector<CampaignResult>& shards, size_t p, int64_t trials) {
    std::vector<TrialRecord> records;
    for (const CampaignResult& shard : shards) {
        const PointResult& point = shard.points[p];
        const size_t trials_held = point.trial_ids.size();
        const size_t sdc_expected = shard.outcomes ? trials_held : 0;
        if (point.correct.size() != trials_held || point.no_prediction.size() != trials_held ||
            point.sdc.size() != sdc_expected || point.faults.size() != trials_held)
            fail<ValueError>("merge: shard ", shard.shard.index, " has ", trials_held, " trial ids, ",
                             point.correct.size(), " counts, ", point.no_prediction.size(), " no-prediction counts, ",
                             point.sdc.size(), " SDC counts and ", point.faults.size(), " fault counts at rate ",
                             point.rate);
        for (size_t i = 0; i < trials_held; ++i)
            records.push_back({point.trial_ids[i], point.correct[i], point.no_prediction[i],
                               shard.outcomes ? point.sdc[i] : 0, point.faults[i]});
    }
    std::sort(records.begin(), records.end(),
              [](const TrialRecord& a, const TrialRecord& b) { return a.trial < b.trial; });
    const double rate = shards[0].points[p].rate;
    if (static_cast<int64_t>(records.size()) != trials)
        fail<ValueError>("merge: the shards hold ", records.size(), " trials at rate ", rate, ", expected ", trials);
    for (size_t i = 0; i < records.size(); ++i)
        if (records[i].trial != static_cast<int64_t>(i))
            fail<ValueError>("merge: trial ", i, " at rate ", rate, " is missing or repeated");
    return records;
}

}  // namespace

CampaignResult merge_shards(const std::vector<CampaignResult>& shards) {
    check_shards(shards);
    CampaignResult merged = shards[0];
    merged.shard = ShardSpec{};
    merged.seconds = 0.0;
    merged.trials_evaluated = merged.trials_reused = merged.cached_bytes = 0;
    merged.fault_log.clear();
    for (const CampaignResult& shard : shards) {
        merged.seconds += shard.seconds;
        merged.trials_evaluated += shard.trials_evaluated;
        merged.trials_reused += shard.trials_reused;
    }
    for (size_t p = 0; p < merged.points.size(); ++p) {
        PointResult& point = merged.points[p];
        point.trial_ids.clear();
        point.correct.clear();
        point.no_prediction.clear();
        point.sdc.clear();
        point.faults.clear();
        point.stopped_early = false;
        for (const TrialRecord& record : gather_trials(shards, p, merged.trials)) {
            point.trial_ids.push_back(record.trial);
            point.correct.push_back(record.correct);
            point.no_prediction.push_back(record.no_prediction);
            if (merged.outcomes) point.sdc.push_back(record.sdc);
            point.faults.push_back(record.faults);
        }
    }
    recompute_stats(merged);
    return merged;
}

}  // namespace proact::faults
