#include "faults/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/format.hpp"
#include "faults/bitflip.hpp"

namespace proact::faults {

using Json = nlohmann::ordered_json;

namespace {

// "0,1,2,3,31" -> "0-3,31"
std::string compress_positions(const std::string& positions) {
    std::vector<int> bits;
    std::stringstream in(positions);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) bits.push_back(std::stoi(item));
    std::string text;
    for (size_t i = 0; i < bits.size();) {
        size_t j = i;
        while (j + 1 < bits.size() && bits[j + 1] == bits[j] + 1) ++j;
        if (!text.empty()) text += ',';
        text += std::to_string(bits[i]);
        if (j > i) {
            text += j == i + 1 ? ',' : '-';
            text += std::to_string(bits[j]);
        }
        i = j + 1;
    }
    return text.empty() ? "none" : text;
}

std::string shard_text(const ShardSpec& shard) {
    return std::to_string(shard.index) + "/" + std::to_string(shard.count);
}

std::string xml_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string campaign_table(const CampaignResult& result) {
    std::ostringstream out;
    out << "fault campaign: " << (result.model.empty() ? "model" : result.model);
    if (!result.dataset.empty()) out << " on " << result.dataset;
    out << ", " << result.samples << " samples, seed " << result.seed << ", purpose " << result.purpose;
    if (result.batch_norm != kBatchNormModes[0]) out << ", batch norm " << result.batch_norm;
    if (result.shard.count > 1) out << ", shard " << shard_text(result.shard);
    out << "\n";
    out << "storage " << result.format << ", " << result.fault_model.describe() << ", bits "
        << compress_positions(result.bit_mask) << ", " << result.targets.size() << " target tensors ("
        << result.target_values << " values)\n";
    out << "fault-free accuracy " << core::fixed(result.fault_free_accuracy()) << "%, no prediction "
        << core::fixed(result.share(result.fault_free_no_prediction)) << "%\n";
    char line[256];
    std::snprintf(line, sizeof line, "%10s %7s %8s %7s %8s %8s %9s %14s %10s\n", result.is_exact() ? "k" : "BER",
                  "trials", "mean %", "std", "min %", "max %", "95% CI", "faults/trial", "no pred %");
    out << line;
    for (const PointResult& point : result.points) {
        const AccuracyStats& stats = point.stats;
        const std::string ci =
            std::isnan(stats.ci95_half_width) ? std::string("n/a") : "±" + core::fixed(stats.ci95_half_width);
        std::snprintf(line, sizeof line, "%10g %7lld %8.2f %7.2f %8.2f %8.2f %*s %14.2f %10.2f", point.rate,
                      static_cast<long long>(stats.trials), stats.mean, stats.std, stats.min, stats.max,
                      ci.rfind("±", 0) == 0 ? 10 : 9, ci.c_str(), point.mean_faults(), point.no_prediction_stats.mean);
        out << line;
        if (result.ci_margin > 0.0)
            out << (stats.ci95_half_width <= result.ci_margin ? "  (margin reached)" : "  (margin not reached)");
        out << "\n";
    }
    return out.str();
}

std::string campaign_csv(const std::vector<CampaignResult>& results) {
    std::string csv =
        "label,model,dataset,format,fault_model,bit_mask,rate_name,rate,trials,mean_accuracy,std,min,max,"
        "ci95_half_width,ci95_low,ci95_high,fault_free_accuracy,mean_faults,stopped_early,no_prediction_mean,"
        "no_prediction_max,fault_free_no_prediction\n";
    for (const CampaignResult& result : results)
        for (const PointResult& point : result.points) {
            const AccuracyStats& stats = point.stats;
            const bool has_ci = !std::isnan(stats.ci95_half_width);
            csv += csv_field(result.label) + ',' + csv_field(result.model) + ',' + csv_field(result.dataset) + ',' +
                   result.format + ',' + result.fault_model.to_string() + ',' +
                   csv_field(compress_positions(result.bit_mask)) +
                   ',' + (result.is_exact() ? "k" : "ber") + ',' + core::general(point.rate) + ',' +
                   std::to_string(stats.trials) + ',' + core::fixed(stats.mean, 4) + ',' +
                   core::fixed(stats.std, 4) + ',' + core::fixed(stats.min, 4) + ',' +
                   core::fixed(stats.max, 4) + ',' +
                   (has_ci ? core::fixed(stats.ci95_half_width, 4) : "") + ',' +
                   (has_ci ? core::fixed(stats.mean - stats.ci95_half_width, 4) : "") + ',' +
                   (has_ci ? core::fixed(stats.mean + stats.ci95_half_width, 4) : "") + ',' +
                   core::fixed(result.fault_free_accuracy(), 4) + ',' +
                   core::fixed(point.mean_faults(), 4) + ',' + (point.stopped_early ? "true" : "false") + ',' +
                   core::fixed(point.no_prediction_stats.mean, 4) + ',' +
                   core::fixed(point.no_prediction_stats.max, 4) + ',' +
                   core::fixed(result.share(result.fault_free_no_prediction), 4) + '\n';
        }
    return csv;
}

// ---------------------------------------------------------------------------------------------

namespace {

// Bounds on what a campaign JSON may hold, far above any campaign run (7 BERs of 10,000 trials make
// a 3 MB file). The file is untrusted: these keep what its claims can make the reader allocate or
// a later loop run small.
constexpr uint64_t kMaxJsonBytes = uint64_t(64) << 20;
constexpr int64_t kMaxTrials = 10'000'000;
constexpr size_t kMaxPoints = 10'000;
constexpr size_t kMaxNames = 1'000'000;  // target parameters and patterns
constexpr size_t kMaxText = 4096;        // one string

// FormatError unless the per-trial lists have one entry per trial id, the ids ascend inside
// [0, trials), and every trial's correct and no-prediction counts are disjoint parts of the
// `samples`.
void check_point_counts(const PointResult& point, const CampaignResult& result, const std::string& where) {
    const size_t trials = point.trial_ids.size();
    if (point.correct.size() != trials || point.no_prediction.size() != trials || point.faults.size() != trials)
        core::fail<core::FormatError>(where, ": at rate ", point.rate, " there are ", trials, " trial ids, ",
                                      point.correct.size(), " counts, ", point.no_prediction.size(),
                                      " no-prediction counts and ", point.faults.size(),
                                      " fault counts; expected equal lengths");
    for (size_t i = 0; i < trials; ++i) {
        const int64_t correct = point.correct[i], no_prediction = point.no_prediction[i];
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
    json["proact_campaign"] = kCampaignJsonVersion;
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
    json["trials"] = result.trials;
    json["ci_margin"] = result.ci_margin;
    json["min_trials"] = result.min_trials;
    json["shard"] = shard_text(result.shard);
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
        row["stopped_early"] = point.stopped_early;
        row["trial_ids"] = point.trial_ids;
        row["correct"] = point.correct;
        Json accuracies = Json::array();
        for (int64_t correct : point.correct) accuracies.push_back(result.accuracy(correct));
        row["accuracy"] = std::move(accuracies);
        row["no_prediction"] = point.no_prediction;
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
    if (version != kCampaignJsonVersion)
        core::fail<core::FormatError>(source, ": campaign JSON version ", version, ", expected ", kCampaignJsonVersion);
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
        point.faults = row.integers("faults", trials, 0, kInt64Max);
        check_point_counts(point, result, source);
        result.points.push_back(std::move(point));
    }
    recompute_stats(result);
    return result;
}

// ---------------------------------------------------------------------------------------------

namespace {

// The plot area and its two axes: accuracy 0-100 % upwards, the rate on a log axis over whole
// decades, 15 px inside the frame at both ends so that points on the first and last decade stay
// clear of it.
struct PlotFrame {
    double left = 70, right = 560, top = 30, bottom = 420;
    int low_decade = -7, high_decade = -4;
    bool exact = false;  // the rate is k, not a BER

    double x_of(double rate) const {
        return left + 15 + (std::log10(rate) - low_decade) / double(high_decade - low_decade) * (right - left - 30);
    }
    double y_of(double accuracy) const { return bottom - std::clamp(accuracy, 0.0, 100.0) / 100.0 * (bottom - top); }
};

const char* const kPlotColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};
const char* plot_color(size_t index) { return kPlotColors[index % (sizeof kPlotColors / sizeof kPlotColors[0])]; }

std::string svg_number(double value) { return core::fixed(value); }

PlotFrame plot_frame(const std::vector<CampaignResult>& results, const std::string& title) {
    PlotFrame frame;
    frame.top = title.empty() ? 30 : 50;
    double low_rate = 0.0, high_rate = 0.0;
    for (const CampaignResult& result : results)
        for (const PointResult& point : result.points)
            if (point.rate > 0.0) {
                low_rate = low_rate == 0.0 ? point.rate : std::min(low_rate, point.rate);
                high_rate = std::max(high_rate, point.rate);
            }
    frame.low_decade = low_rate > 0.0 ? static_cast<int>(std::floor(std::log10(low_rate) + 1e-9)) : -7;
    frame.high_decade = high_rate > 0.0 ? static_cast<int>(std::ceil(std::log10(high_rate) - 1e-9)) : -4;
    if (frame.high_decade <= frame.low_decade) frame.high_decade = frame.low_decade + 1;
    frame.exact = !results.empty() && results[0].is_exact();
    return frame;
}

// Grid and ticks: accuracy every 10 points, the rate at every decade (minor lines at 2..9); the
// frame and the axis labels.
void svg_axes(std::ostringstream& svg, const PlotFrame& frame) {
    const double left = frame.left, right = frame.right, top = frame.top, bottom = frame.bottom;
    for (int accuracy = 0; accuracy <= 100; accuracy += 10) {
        const double y = frame.y_of(accuracy);
        svg << "<line x1=\"" << left << "\" y1=\"" << svg_number(y) << "\" x2=\"" << right << "\" y2=\""
            << svg_number(y) << "\" stroke=\"#e0e0e0\"/>\n";
        svg << "<text x=\"" << left - 6 << "\" y=\"" << svg_number(y + 4) << "\" text-anchor=\"end\">" << accuracy
            << "</text>\n";
    }
    for (int decade = frame.low_decade; decade <= frame.high_decade; ++decade) {
        const double x = frame.x_of(std::pow(10.0, decade));
        svg << "<line x1=\"" << svg_number(x) << "\" y1=\"" << top << "\" x2=\"" << svg_number(x) << "\" y2=\""
            << bottom << "\" stroke=\"#d0d0d0\"/>\n";
        svg << "<text x=\"" << svg_number(x) << "\" y=\"" << bottom + 18 << "\" text-anchor=\"middle\">1e"
            << decade << "</text>\n";
        if (decade == frame.high_decade) break;
        for (int multiple = 2; multiple <= 9; ++multiple) {
            const double minor = frame.x_of(multiple * std::pow(10.0, decade));
            svg << "<line x1=\"" << svg_number(minor) << "\" y1=\"" << top << "\" x2=\"" << svg_number(minor)
                << "\" y2=\"" << bottom << "\" stroke=\"#f0f0f0\"/>\n";
        }
    }
    svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << right - left << "\" height=\""
        << bottom - top << "\" fill=\"none\" stroke=\"black\"/>\n";
    svg << "<text x=\"" << svg_number((left + right) / 2) << "\" y=\"" << bottom + 40 << "\" text-anchor=\"middle\">"
        << (frame.exact ? "bit faults per tensor (k), log scale" : "bit error rate (BER), log scale") << "</text>\n";
    svg << "<text x=\"18\" y=\"" << svg_number((top + bottom) / 2)
        << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << svg_number((top + bottom) / 2)
        << ")\">top-1 accuracy (%)</text>\n";
}

// One result: its fault-free accuracy dashed, its mean accuracy as a line with 95% CI error bars
// and a tooltip per point.
void svg_series(std::ostringstream& svg, const PlotFrame& frame, const CampaignResult& result, const char* color) {
    const double clean_y = frame.y_of(result.fault_free_accuracy());
    svg << "<line x1=\"" << frame.left << "\" y1=\"" << svg_number(clean_y) << "\" x2=\"" << frame.right
        << "\" y2=\"" << svg_number(clean_y) << "\" stroke=\"" << color
        << "\" stroke-dasharray=\"6 4\" stroke-opacity=\"0.6\"/>\n";
    std::string points;
    for (const PointResult& point : result.points)
        if (point.rate > 0.0 && point.stats.trials > 0)
            points += svg_number(frame.x_of(point.rate)) + "," + svg_number(frame.y_of(point.stats.mean)) + " ";
    if (!points.empty())
        svg << "<polyline points=\"" << points << "\" fill=\"none\" stroke=\"" << color
            << "\" stroke-width=\"2\"/>\n";
    for (const PointResult& point : result.points) {
        if (!(point.rate > 0.0) || point.stats.trials == 0) continue;
        const double x = frame.x_of(point.rate), y = frame.y_of(point.stats.mean);
        if (!std::isnan(point.stats.ci95_half_width)) {
            const double y_low = frame.y_of(point.stats.mean - point.stats.ci95_half_width);
            const double y_high = frame.y_of(point.stats.mean + point.stats.ci95_half_width);
            svg << "<path d=\"M" << svg_number(x) << ' ' << svg_number(y_low) << "V" << svg_number(y_high) << "M"
                << svg_number(x - 4) << ' ' << svg_number(y_low) << "H" << svg_number(x + 4) << "M"
                << svg_number(x - 4) << ' ' << svg_number(y_high) << "H" << svg_number(x + 4) << "\" stroke=\""
                << color << "\"/>\n";
        }
        svg << "<circle cx=\"" << svg_number(x) << "\" cy=\"" << svg_number(y) << "\" r=\"3.5\" fill=\"" << color
            << "\"><title>" << xml_escape(result.label) << ": " << (frame.exact ? "k " : "BER ")
            << core::general(point.rate) << ", mean " << svg_number(point.stats.mean) << "%, no prediction "
            << svg_number(point.no_prediction_stats.mean) << "%, " << point.stats.trials
            << " trials</title></circle>\n";
    }
}

// Legend, right of the plot.
void svg_legend(std::ostringstream& svg, const PlotFrame& frame, const std::vector<CampaignResult>& results) {
    const double right = frame.right;
    double legend_y = frame.top + 10;
    for (size_t i = 0; i < results.size(); ++i) {
        const char* color = plot_color(i);
        svg << "<line x1=\"" << right + 15 << "\" y1=\"" << svg_number(legend_y) << "\" x2=\"" << right + 40
            << "\" y2=\"" << svg_number(legend_y) << "\" stroke=\"" << color << "\" stroke-width=\"2\"/>\n";
        svg << "<circle cx=\"" << right + 27.5 << "\" cy=\"" << svg_number(legend_y) << "\" r=\"3.5\" fill=\""
            << color << "\"/>\n";
        svg << "<text x=\"" << right + 46 << "\" y=\"" << svg_number(legend_y + 4) << "\">"
            << xml_escape(results[i].label) << "</text>\n";
        legend_y += 20;
    }
    svg << "<line x1=\"" << right + 15 << "\" y1=\"" << svg_number(legend_y) << "\" x2=\"" << right + 40
        << "\" y2=\"" << svg_number(legend_y) << "\" stroke=\"gray\" stroke-dasharray=\"6 4\"/>\n";
    svg << "<text x=\"" << right + 46 << "\" y=\"" << svg_number(legend_y + 4) << "\">fault-free accuracy</text>\n";
    svg << "<text x=\"" << right + 15 << "\" y=\"" << svg_number(legend_y + 24)
        << "\" font-size=\"11\" fill=\"#555\">error bars: 95% CI of the mean</text>\n";
}

}  // namespace

std::string campaign_svg(const std::vector<CampaignResult>& results, const std::string& title) {
    constexpr double width = 780, height = 480;
    const PlotFrame frame = plot_frame(results, title);
    std::ostringstream svg;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
        << "\" viewBox=\"0 0 " << width << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    if (!title.empty())
        svg << "<text x=\"" << svg_number((frame.left + frame.right) / 2)
            << "\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(title) << "</text>\n";
    svg_axes(svg, frame);
    for (size_t i = 0; i < results.size(); ++i) svg_series(svg, frame, results[i], plot_color(i));
    svg_legend(svg, frame, results);
    svg << "</svg>\n";
    return svg.str();
}

// ---------------------------------------------------------------------------------------------

std::string paired_table(const PairedComparison& comparison) {
    std::ostringstream out;
    out << "paired comparison: " << comparison.label_a << " - " << comparison.label_b
        << " (accuracy difference, percentage points, trial by trial)\n";
    out << "storage " << comparison.format << ", " << comparison.fault_model.describe() << ", seed " << comparison.seed
        << ", purpose " << comparison.purpose;
    if (comparison.batch_norm != kBatchNormModes[0]) out << ", batch norm " << comparison.batch_norm;
    out << ", " << comparison.samples << " samples\n";
    char line[160];
    std::snprintf(line, sizeof line, "%10s %7s %10s %7s %9s\n", comparison.is_exact() ? "k" : "BER", "trials",
                  "mean diff", "std", "95% CI");
    out << line;
    for (const PairedPoint& point : comparison.points) {
        const std::string ci = std::isnan(point.ci95_half_width) ? std::string("n/a")
                                                                 : "±" + core::fixed(point.ci95_half_width);
        std::snprintf(line, sizeof line, "%10g %7lld %+10.2f %7.2f %*s\n", point.rate,
                      static_cast<long long>(point.trials), point.mean_difference, point.std,
                      ci.rfind("±", 0) == 0 ? 10 : 9, ci.c_str());
        out << line;
    }
    return out.str();
}

std::string paired_csv(const std::vector<PairedComparison>& comparisons) {
    std::string csv = "label_a,label_b,format,fault_model,rate_name,rate,trials,mean_difference,std,ci95_half_width,"
                      "ci95_low,ci95_high\n";
    for (const PairedComparison& comparison : comparisons)
        for (const PairedPoint& point : comparison.points) {
            const bool has_ci = !std::isnan(point.ci95_half_width);
            csv += csv_field(comparison.label_a) + ',' + csv_field(comparison.label_b) + ',' + comparison.format + ',' +
                   comparison.fault_model.to_string() + ',' + (comparison.is_exact() ? "k" : "ber") + ',' +
                   core::general(point.rate) + ',' + std::to_string(point.trials) + ',' +
                   core::fixed(point.mean_difference, 4) + ',' + core::fixed(point.std, 4) + ',' +
                   (has_ci ? core::fixed(point.ci95_half_width, 4) : "") + ',' +
                   (has_ci ? core::fixed(point.mean_difference - point.ci95_half_width, 4) : "") + ',' +
                   (has_ci ? core::fixed(point.mean_difference + point.ci95_half_width, 4) : "") + '\n';
        }
    return csv;
}

std::string paired_json(const PairedComparison& comparison) {
    Json json;
    json["proact_paired_comparison"] = 1;
    json["label_a"] = comparison.label_a;
    json["label_b"] = comparison.label_b;
    json["difference"] = "accuracy of label_a minus accuracy of label_b, percentage points, per trial";
    json["format"] = comparison.format;
    json["fault_model"] = comparison.fault_model.to_string();
    json["seed"] = comparison.seed;
    json["purpose"] = comparison.purpose;
    json["batch_norm"] = comparison.batch_norm;
    json["samples"] = comparison.samples;
    json["images_hash"] = checksum_hex(comparison.images_hash);
    json["rate_name"] = comparison.is_exact() ? "k" : "ber";
    json["points"] = Json::array();
    for (const PairedPoint& point : comparison.points) {
        Json row;
        row["rate"] = point.rate;
        row["trials"] = point.trials;
        row["mean_difference"] = point.mean_difference;
        row["std"] = point.std;
        row["ci95_half_width"] = std::isnan(point.ci95_half_width) ? Json(nullptr) : Json(point.ci95_half_width);
        row["differences"] = point.differences;
        json["points"].push_back(std::move(row));
    }
    return json.dump(2) + "\n";
}

}  // namespace proact::faults
