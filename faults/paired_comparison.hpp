// Paired comparison of two campaigns run with the same settings on two models (ProAct against
// FitAct, say). Every method's weights get the same faults for the same seed, purpose, rate and
// trial (injector.hpp: a tensor's faults depend on (seed, purpose, rate, trial, name) only), so the
// difference between the methods is measured on the same images, trial by trial:
// d_t = accuracy_a(t) - accuracy_b(t). Its mean with a t-based 95% CI is far tighter than two
// independent means side by side, since the trial-to-trial spread of the faults' severity cancels
// out.
//
//   PairedComparison diff = compare_paired(proact, fitact);  // report.hpp: paired_table/csv/json
//   diff.points[2].mean_difference;                          // ProAct - FitAct at the third BER, points
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "faults/campaign_result.hpp"

namespace proact::faults {

// One rate: statistics of the per-trial differences a - b, in percentage points of accuracy.
struct PairedPoint {
    double rate = 0.0;             // the BER, or k
    int64_t trials = 0;
    double mean_difference = 0.0;
    double std = 0.0;              // sample standard deviation of the differences (n - 1); 0 for one trial
    // mean_difference ± t(0.975, n-1) * std / sqrt(n) (statistics.hpp); NaN for one trial.
    double ci95_half_width = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> differences;  // per trial, in the campaigns' trial order
};

struct PairedComparison {
    std::string label_a, label_b;  // the campaigns' labels: the difference is label_a - label_b
    std::string format;
    FaultModelSpec fault_model;
    uint64_t seed = 0;
    std::string purpose;           // the campaigns' purpose and batch norm (CampaignOptions)
    std::string batch_norm;
    int64_t samples = 0;
    uint64_t images_hash = 0;      // data_checksum of the evaluation images and labels
    std::vector<PairedPoint> points;
    bool is_exact() const { return fault_model.is_exact(); }
};

// The per-rate differences a - b. ValueError naming the first setting in which `a` and `b` differ,
// and both values, unless they are campaigns of the same settings: evaluation images (size and
// images_hash), storage format, fault model, bit mask, rates (in order), seed, purpose, batch norm
// and trial ids at every rate. Their targets may differ: a hardened model adds thresholds.
PairedComparison compare_paired(const CampaignResult& a, const CampaignResult& b);

}  // namespace proact::faults
