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

namespace proact::faults {

// Version of the JSON layout written by campaign_json.
constexpr int kCampaignJsonVersion = 1;

// Human-readable summary: a header naming model, data, format, fault model and targets, then one
// row per rate with trials, mean, std, min, max, 95% CI and mean faults per trial, beside the
// fault-free accuracy.
std::string campaign_table(const CampaignResult& result);

// One row per (result, rate): label,model,dataset,format,fault_model,bit_mask,rate_name,rate,trials,
// mean_accuracy,std,min,max,ci95_half_width,ci95_low,ci95_high,fault_free_accuracy,mean_faults,
// stopped_early. Accuracies in percent; an undefined CI (one trial) is empty.
std::string campaign_csv(const std::vector<CampaignResult>& results);

// The whole result: settings, targets, fault-free accuracy, and per rate the stats and the per-trial
// trial ids, correct counts, accuracies and fault counts.
std::string campaign_json(const CampaignResult& result);
// Reads campaign_json's output back and recomputes the stats. FormatError naming `source` and the
// field for anything missing or malformed.
CampaignResult campaign_from_json(const std::string& text, const std::string& source = "campaign JSON");

// A self-contained SVG plot: accuracy (0-100 %) against the rate on a log axis, one line per result
// with 95% CI error bars and its fault-free accuracy as a dashed line of the same colour, a legend,
// axis labels and an optional title. Rates of 0 cannot sit on a log axis and are left out.
std::string campaign_svg(const std::vector<CampaignResult>& results, const std::string& title = "");

}  // namespace proact::faults
