// Campaign reports: a table for the terminal, CSV and JSON files, an SVG plot of accuracy against
// BER, and the JSON read back (for `proact merge` and for plotting several campaigns together).
//
// Files are a function of the campaign alone (no times, no host names), so the same campaign gives
// the same bytes whether it ran in one piece or in shards merged afterwards. The JSON carries the
// per-trial counts; everything else in it is recomputed from them when it is read.
#pragma once

#include <string>
#include <vector>

#include "faults/campaign.hpp"
#include "faults/paired_comparison.hpp"

namespace proact::faults {

// Version of the JSON layout written by campaign_json.
// 2: per-trial no-prediction counts (images whose logits were not all finite).
// 3: "purpose", "batch_norm" and "images_hash" (hex), and faults drawn from streams keyed by
//    purpose and rate as well (injector.hpp); version 2 files are refused, naming those keys.
// 4: per point the per-trial SDC counts ("sdc": images whose top-1 differs from the fault-free
//    run's, campaign.hpp) and their statistics (sdc_mean, sdc_std, sdc_max, sdc_ci95_half_width).
//    Version 3 files are still read, without SDC counts (CampaignResult::outcomes false), and such
//    a result is written back as version 3.
constexpr int kCampaignJsonVersion = 4;

// Accuracies count an image without a prediction (logits not all finite) as wrong; the share of
// such images, in percent of the evaluation set, is reported beside them ("no prediction"), and so
// is the SDC rate: the share of images whose top-1 differs from the fault-free run's (campaign.hpp),
// with the 95% CI of its mean over the trials. A result without SDC counts (read from a version-3
// file) shows n/a there, or empty CSV cells.

// Human-readable summary: a header naming model, data, format, fault model and targets, then one
// row per rate with trials, mean, std, min, max, 95% CI, mean SDC rate and its 95% CI, mean faults
// per trial and the mean no-prediction share, beside the fault-free accuracy and no-prediction share.
std::string campaign_table(const CampaignResult& result);

// One row per (result, rate): label,model,dataset,format,fault_model,bit_mask,rate_name,rate,trials,
// mean_accuracy,std,min,max,ci95_half_width,ci95_low,ci95_high,fault_free_accuracy,mean_faults,
// stopped_early,no_prediction_mean,no_prediction_max,fault_free_no_prediction,sdc_mean,
// sdc_ci95_half_width,sdc_ci95_low,sdc_ci95_high,sdc_max. Accuracies and shares in percent; an
// undefined CI (one trial) is empty.
std::string campaign_csv(const std::vector<CampaignResult>& results);

// The whole result: settings, targets, fault-free accuracy and no-prediction count, and per rate
// the stats and the per-trial trial ids, correct counts, accuracies, no-prediction counts, SDC
// counts and fault counts.
std::string campaign_json(const CampaignResult& result);
// Reads campaign_json's output back and recomputes the stats. FormatError naming `source` and the
// field for anything missing or malformed.
CampaignResult campaign_from_json(const std::string& text, const std::string& source = "campaign JSON");

// A self-contained SVG plot: accuracy (0-100 %) against the rate on a log axis, one line per result
// with 95% CI error bars and its fault-free accuracy as a dashed line of the same colour, a legend,
// axis labels and an optional title; each point's tooltip gives its mean accuracy, SDC rate (with
// its 95% CI), no-prediction share and trials. Rates of 0 cannot sit on a log axis and are left out.
std::string campaign_svg(const std::vector<CampaignResult>& results, const std::string& title = "");

// Paired comparisons (paired_comparison.hpp), differences a - b in percentage points of accuracy.
// Table: a header naming the two labels and the settings, one row per rate with trials, mean
// difference (signed), std and 95% CI.
std::string paired_table(const PairedComparison& comparison);
// One row per (comparison, rate): label_a,label_b,format,fault_model,rate_name,rate,trials,
// mean_difference,std,ci95_half_width,ci95_low,ci95_high; an undefined CI (one trial) is empty.
std::string paired_csv(const std::vector<PairedComparison>& comparisons);
// The comparison with its per-trial differences.
std::string paired_json(const PairedComparison& comparison);

}  // namespace proact::faults
