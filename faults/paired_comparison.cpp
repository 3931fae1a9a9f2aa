#include "faults/paired_comparison.hpp"

#include <sstream>
#include <string>

#include "core/error.hpp"
#include "faults/statistics.hpp"

namespace proact::faults {

namespace {

// ValueError naming the first setting in which the two campaigns differ.
void check_comparable(const CampaignResult& a, const CampaignResult& b) {
    const auto differ = [&](const char* what, const auto& value_a, const auto& value_b) {
        core::fail<core::ValueError>("paired comparison: '", a.label, "' and '", b.label, "' differ in their ", what,
                                     " (", value_a, " against ", value_b,
                                     "); only campaigns of the same settings can be compared trial by trial");
    };
    if (a.seed != b.seed) differ("seed", a.seed, b.seed);
    if (a.format != b.format) differ("storage format", a.format, b.format);
    if (a.fault_model != b.fault_model) differ("fault model", a.fault_model.to_string(), b.fault_model.to_string());
    if (a.bit_mask != b.bit_mask) differ("bit mask", a.bit_mask, b.bit_mask);
    if (a.samples != b.samples) differ("evaluation set size", a.samples, b.samples);
    if (a.points.size() != b.points.size()) differ("number of rates", a.points.size(), b.points.size());
    for (size_t p = 0; p < a.points.size(); ++p) {
        const PointResult& point_a = a.points[p];
        const PointResult& point_b = b.points[p];
        if (point_a.rate != point_b.rate) differ("rates", point_a.rate, point_b.rate);
        if (point_a.trial_ids != point_b.trial_ids) {
            std::ostringstream what;
            what << "trial ids at rate " << point_a.rate;
            differ(what.str().c_str(), std::to_string(point_a.trial_ids.size()) + " trials",
                   std::to_string(point_b.trial_ids.size()) + " other ones");
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
    comparison.samples = a.samples;
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
