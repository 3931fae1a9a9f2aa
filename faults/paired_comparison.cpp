#include "faults/paired_comparison.hpp"

#include <sstream>
#include <string>

#include "core/error.hpp"
#include "faults/statistics.hpp"

namespace proact::faults {

namespace {

// ValueError naming the first setting in which the two campaigns differ, and both values.
void check_comparable(const CampaignResult& a, const CampaignResult& b) {
    const auto differ = [&](const char* what, const auto& value_a, const auto& value_b) {
        core::fail<core::ValueError>("paired comparison: '", a.label, "' and '", b.label, "' differ in their ", what,
                                     " (", value_a, " against ", value_b,
                                     "); only campaigns of the same settings can be compared trial by trial");
    };
    if (a.samples != b.samples) differ("evaluation set size", a.samples, b.samples);
    if (a.images_hash != b.images_hash)
        differ("evaluation images (hash of images and labels)", checksum_hex(a.images_hash),
               checksum_hex(b.images_hash));
    if (a.format != b.format) differ("storage format", a.format, b.format);
    if (a.fault_model != b.fault_model) differ("fault model", a.fault_model.to_string(), b.fault_model.to_string());
    if (a.bit_mask != b.bit_mask) differ("bit mask", a.bit_mask, b.bit_mask);
    if (a.points.size() != b.points.size()) differ("number of rates", a.points.size(), b.points.size());
    for (size_t p = 0; p < a.points.size(); ++p)
        if (a.points[p].rate != b.points[p].rate) differ("rates", a.points[p].rate, b.points[p].rate);
    if (a.seed != b.seed) differ("seed", a.seed, b.seed);
    if (a.purpose != b.purpose) differ("purpose", a.purpose, b.purpose);
    if (a.batch_norm != b.batch_norm) differ("batch norm", a.batch_norm, b.batch_norm);
    if (a.site != b.site) differ("fault site", a.site, b.site);
    if (a.activation_layers != b.activation_layers) differ("activation layers", a.activation_layers, b.activation_layers);
    for (size_t p = 0; p < a.points.size(); ++p) {
        const PointResult& point_a = a.points[p];
        const PointResult& point_b = b.points[p];
        if (point_a.trial_ids != point_b.trial_ids) {
            // The first position at which the lists differ, and what each holds there.
            size_t at = 0;
            while (at < point_a.trial_ids.size() && at < point_b.trial_ids.size() &&
                   point_a.trial_ids[at] == point_b.trial_ids[at])
                ++at;
            const auto held = [at](const std::vector<int64_t>& ids) {
                return std::to_string(ids.size()) + " trials, " +
                       (at < ids.size() ? "id " + std::to_string(ids[at]) : std::string("no id")) + " at position " +
                       std::to_string(at);
            };
            std::ostringstream what;
            what << "trial ids at rate " << point_a.rate;
            differ(what.str().c_str(), held(point_a.trial_ids), held(point_b.trial_ids));
        }
        if (point_a.correct.size() != point_a.trial_ids.size() || point_b.correct.size() != point_b.trial_ids.size())
            differ("per-trial counts (not one per trial id)", point_a.correct.size(), point_b.correct.size());
    }
}

}  // namespace

PairedComparison compare_paired(const CampaignResult& a, const CampaignResult& b) {
    check_comparable(a, b);
    PairedComparison comparison;
    comparison.label_a = a.label;
    comparison.label_b = b.label;
    comparison.format = a.format;
    comparison.fault_model = a.fault_model;
    comparison.seed = a.seed;
    comparison.purpose = a.purpose;
    comparison.batch_norm = a.batch_norm;
    comparison.samples = a.samples;
    comparison.images_hash = a.images_hash;
    for (size_t p = 0; p < a.points.size(); ++p) {
        PairedPoint point;
        point.rate = a.points[p].rate;
        for (size_t t = 0; t < a.points[p].correct.size(); ++t)
            point.differences.push_back(a.accuracy(a.points[p].correct[t]) - b.accuracy(b.points[p].correct[t]));
        point.trials = static_cast<int64_t>(point.differences.size());
        if (!point.differences.empty()) {
            const AccuracyStats stats = accuracy_stats(point.differences);
            point.mean_difference = stats.mean;
            point.std = stats.std;
            point.ci95_half_width = stats.ci95_half_width;
        }
        comparison.points.push_back(std::move(point));
    }
    return comparison;
}

}  // namespace proact::faults
