// The campaign JSON (report.hpp): campaign_json writes it, campaign_from_json reads it back from a
// file that may come from anywhere (bounded sizes, every field checked; docs/DESIGN.md,
// "Untrusted input").
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "faults/bitflip.hpp"
#include "faults/report.hpp"

namespace proact::faults {

using Json = nlohmann::ordered_json;

namespace {

// Bounds on what a campaign JSON may hold, far above any campaign run (7 BERs of 10,000 trials make
// a 3 MB file). The file is untrusted: these keep what its claims can make the reader allocate or
// a later loop run small.
constexpr uint64_t kMaxJsonBytes = uint64_t(64) << 20;
constexpr int64_t kMaxTrials = 10'000'000;
constexpr size_t kMaxPoints = 10'000;
constexpr size_t kMaxNames = 1'000'000;  // target parameters and patterns
constexpr size_t kMaxText = 4096;        // one string

// FormatError unless the per-trial lists have one entry per trial id (SDC counts only with
// outcomes), the ids ascend inside [0, trials), every trial's correct and no-prediction counts
// are disjoint parts of the `samples`, and so are its SDC and no-prediction counts.
void check_point_counts(const PointResult& point, const CampaignResult& result, const std::string& where) {
    const size_t trials = point.trial_ids.size();
    const size_t sdc_expected = result.outcomes ? trials : 0;
    if (point.correct.size() != trials || point.no_prediction.size() != trials || point.sdc.size() != sdc_expected ||
        point.faults.size() != trials)
        core::fail<core::FormatError>(where, ": at rate ", point.rate, " there are ", trials, " trial ids, ",
                                      point.correct.size(), " counts, ", point.no_prediction.size(),
                                      " no-prediction counts, ", point.sdc.size(), " SDC counts and ",
                                      point.faults.size(), " fault counts; expected equal lengths");
    for (size_t i = 0; i < trials; ++i) {
        const int64_t correct = point.correct[i], no_prediction = point.no_prediction[i];
        if (result.outcomes && point.sdc[i] + no_prediction > result.samples)
            core::fail<core::FormatError>(where, ": SDC count ", point.sdc[i], " at rate ", point.rate,
                                          " outside [0, ", result.samples - std::min(no_prediction, result.samples),
                                          "] (", result.samples, " samples, ", no_prediction, " without prediction)");
        if (point.trial_ids[i] >= result.trials || (i > 0 && point.trial_ids[i] <= point.trial_ids[i - 1]))
            core::fail<core::FormatError>(where, ": trial id ", point.trial_ids[i], " at position ", i,
                                          ", expected ascending ids below the ", result.trials, " trials");
        if (correct > result.samples)
            core::fail<core::FormatError>(where, ": correct count ", correct, " outside [0, ", result.samples, "]");
        if (correct + no_prediction > result.samples)
            core::fail<core::FormatError>(where, ": no-prediction count ", no_prediction, " at rate ", point.rate,
                                          " outside [0, ", result.samples - correct, "] (", result.samples,
                                          " samples, ", correct, " correct)");
    }
}

}  // namespace

std::string campaign_json(const CampaignResult& result) {
    Json json;
    // A result read from a version-3 file has no SDC counts: it is written as it was read.
    json["proact_campaign"] = result.outcomes ? kCampaignJsonVersion : 3;
    json["label"] = result.label;
    json["model"] = result.model;
    json["dataset"] = result.dataset;
    json["format"] = result.format;
    json["fault_model"] = result.fault_model.to_string();
    json["bit_mask"] = result.bit_mask;
    json["patterns"] = result.patterns;
    json["targets"] = result.targets;
    json["target_values"] = result.target_values;
    json["seed"] = result.seed;
    json["purpose"] = result.purpose;
    json["batch_norm"] = result.batch_norm;
    if (result.outcomes) json["site"] = result.site;  // a version-3 result, written back as read, has none
    if (result.site != kFaultSites[0]) json["activation_layers"] = result.activation_layers;
    json["trials"] = result.trials;
    json["ci_margin"] = result.ci_margin;
    json["min_trials"] = result.min_trials;
    json["shard"] = result.shard.to_string();
    json["samples"] = result.samples;
    json["images_hash"] = checksum_hex(result.images_hash);
    json["fault_free_correct"] = result.fault_free_correct;
    json["fault_free_accuracy"] = result.fault_free_accuracy();
    json["fault_free_no_prediction"] = result.fault_free_no_prediction;
    json["rate_name"] = result.is_exact() ? "k" : "ber";
    json["points"] = Json::array();
    for (const PointResult& point : result.points) {
        Json row;
        row["rate"] = point.rate;
        row["trials"] = point.stats.trials;
        row["mean"] = point.stats.mean;
        row["std"] = point.stats.std;
        row["min"] = point.stats.min;
        row["max"] = point.stats.max;
        row["ci95_half_width"] = std::isnan(point.stats.ci95_half_width) ? Json(nullptr) : Json(point.stats.ci95_half_width);
        row["mean_faults"] = point.mean_faults();
        row["no_prediction_mean"] = point.no_prediction_stats.mean;
        row["no_prediction_max"] = point.no_prediction_stats.max;
        if (result.outcomes) {
            row["sdc_mean"] = point.sdc_stats.mean;
            row["sdc_std"] = point.sdc_stats.std;
            row["sdc_max"] = point.sdc_stats.max;
            row["sdc_ci95_half_width"] =
                std::isnan(point.sdc_stats.ci95_half_width) ? Json(nullptr) : Json(point.sdc_stats.ci95_half_width);
        }
        row["stopped_early"] = point.stopped_early;
        row["trial_ids"] = point.trial_ids;
        row["correct"] = point.correct;
        Json accuracies = Json::array();
        for (int64_t correct : point.correct) accuracies.push_back(result.accuracy(correct));
        row["accuracy"] = std::move(accuracies);
        row["no_prediction"] = point.no_prediction;
        if (result.outcomes) row["sdc"] = point.sdc;
        row["faults"] = point.faults;
        json["points"].push_back(std::move(row));
    }
    return json.dump(2) + "\n";
}

CampaignResult campaign_from_json(const std::string& text, const std::string& source) {
    constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
    const nlohmann::json json = core::parse_json(text, source, {.max_bytes = kMaxJsonBytes, .max_depth = 8});
    const core::JsonFields top{source, json};
    CampaignResult result;
    const int64_t version = top.integer("proact_campaign", 0, kInt64Max);
    if (version == 2)
        core::fail<core::FormatError>(source, ": campaign JSON version 2, expected ", kCampaignJsonVersion,
                                      ": it has no 'purpose', 'images_hash' or 'batch_norm', and its faults "
                                      "came from streams keyed without purpose and rate; rerun the campaign");
    if (version != kCampaignJsonVersion && version != 3)
        core::fail<core::FormatError>(source, ": campaign JSON version ", version, ", expected ", kCampaignJsonVersion,
                                      " (or 3)");
    result.outcomes = version >= 4;
    result.label = top.text("label", kMaxText);
    result.model = top.text("model", kMaxText);
    result.dataset = top.text("dataset", kMaxText);
    // The storage format and the bit positions as the campaign wrote them ("Q15.16", "0,1,31"):
    // the reports parse the mask again and must meet nothing else.
    // At most 16 bytes ("float32", "bf16", "fp16", "int8", "Q15.16"): StorageFormat::parse adds the
    // two bit counts of Qm.n as ints, which overflows for counts of ten digits (found by
    // fuzz_storage_format).
    result.format = top.parsed("format", 16, [](const std::string& v) { StorageFormat::parse(v); return v; });
    result.fault_model = top.parsed("fault_model", kMaxText, [](const std::string& v) { return FaultModelSpec::parse(v); });
    result.bit_mask = top.parsed("bit_mask", kMaxText, [&](const std::string& v) {
        if (!v.empty() && BitMask::parse(v, StorageFormat::parse(result.format)).to_string() != v)
            core::fail<core::ValueError>("'", v, "' is not a list of ascending bit positions such as 0,1,31");
        return v;
    });
    result.patterns = top.texts("patterns", kMaxNames, kMaxText);
    result.targets = top.texts("targets", kMaxNames, kMaxText);
    result.target_values = top.integer("target_values", 0, kInt64Max);
    result.seed = top.unsigned_integer("seed");
    result.purpose = top.parsed("purpose", kMaxText, [](const std::string& v) { check_fault_purpose(v); return v; });
    result.batch_norm = top.parsed("batch_norm", kMaxText, [](const std::string& v) { check_batch_norm(v); return v; });
    // Campaigns written before faults could strike activations have no 'site': weights.
    if (json.contains("site"))
        result.site = top.parsed("site", kMaxText, [](const std::string& v) { check_fault_site(v); return v; });
    if (result.site != kFaultSites[0]) result.activation_layers = top.text("activation_layers", kMaxText * 64);
    result.trials = top.integer("trials", 1, kMaxTrials);
    result.ci_margin = top.number("ci_margin", 0.0, 100.0);
    result.min_trials = top.integer("min_trials", 2, kMaxTrials);
    result.shard = top.parsed("shard", kMaxText, [](const std::string& v) { return parse_shard(v); });
    result.samples = top.integer("samples", 1, kInt64Max);
    result.images_hash = top.parsed("images_hash", kMaxText, [](const std::string& v) { return parse_checksum_hex(v); });
    result.fault_free_correct = top.integer("fault_free_correct", 0, result.samples);
    result.fault_free_no_prediction =
        top.integer("fault_free_no_prediction", 0, result.samples - result.fault_free_correct);
    const nlohmann::json& points = top.array("points", kMaxPoints);
    for (size_t p = 0; p < points.size(); ++p) {
        const core::JsonFields row{source, points[p], "points[" + std::to_string(p) + "]."};
        PointResult point;
        // A BER is a probability; an exact campaign's k is a whole count of bits.
        point.rate = row.number("rate", 0.0, result.is_exact() ? 9007199254740992.0 : 1.0);
        if (result.is_exact() && point.rate != std::floor(point.rate))
            core::fail<core::FormatError>(row.where("rate"), " is ", point.rate, ", expected a whole fault count k");
        point.stopped_early = row.boolean("stopped_early");
        const auto trials = static_cast<size_t>(result.trials);
        point.trial_ids = row.integers("trial_ids", trials, 0, kInt64Max);
        point.correct = row.integers("correct", trials, 0, kInt64Max);
        point.no_prediction = row.integers("no_prediction", trials, 0, kInt64Max);
        if (result.outcomes) point.sdc = row.integers("sdc", trials, 0, kInt64Max);
        point.faults = row.integers("faults", trials, 0, kInt64Max);
        check_point_counts(point, result, source);
        result.points.push_back(std::move(point));
    }
    recompute_stats(result);
    return result;
}

}  // namespace proact::faults
