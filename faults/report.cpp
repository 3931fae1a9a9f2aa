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
#include "faults/report_text.hpp"

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

// sdc_mean,sdc_ci95_half_width,sdc_ci95_low,sdc_ci95_high,sdc_max of campaign_csv: empty without
// SDC counts, the CI cells empty for one trial.
std::string sdc_cells(const CampaignResult& result, const PointResult& point) {
    const AccuracyStats& sdc = point.sdc_stats;
    if (!result.outcomes || sdc.trials == 0) return ",,,,";
    const bool has_ci = !std::isnan(sdc.ci95_half_width);
    return core::fixed(sdc.mean, 4) + ',' + (has_ci ? core::fixed(sdc.ci95_half_width, 4) : "") + ',' +
           (has_ci ? core::fixed(sdc.mean - sdc.ci95_half_width, 4) : "") + ',' +
           (has_ci ? core::fixed(sdc.mean + sdc.ci95_half_width, 4) : "") + ',' + core::fixed(sdc.max, 4);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string campaign_table(const CampaignResult& result) {
    std::ostringstream out;
    out << "fault campaign: " << (result.model.empty() ? "model" : result.model);
    if (!result.dataset.empty()) out << " on " << result.dataset;
    out << ", " << result.samples << " samples, seed " << result.seed << ", purpose " << result.purpose;
    if (result.batch_norm != kBatchNormModes[0]) out << ", batch norm " << result.batch_norm;
    if (result.shard.count > 1) out << ", shard " << result.shard.to_string();
    out << "\n";
    out << "storage " << result.format << ", " << result.fault_model.describe() << ", bits "
        << compress_positions(result.bit_mask);
    if (result.site != kFaultSites[1])
        out << ", " << result.targets.size() << " target tensors (" << result.target_values << " values)";
    if (result.site != kFaultSites[0]) out << ", faults in the outputs of " << result.activation_layers << " per image";
    out << "\n";
    out << "fault-free accuracy " << core::fixed(result.fault_free_accuracy()) << "%, no prediction "
        << core::fixed(result.share(result.fault_free_no_prediction)) << "%\n";
    char line[320];
    std::snprintf(line, sizeof line, "%10s %7s %8s %7s %8s %8s %9s %8s %9s %14s %10s\n",
                  result.is_exact() ? "k" : "BER", "trials", "mean %", "std", "min %", "max %", "95% CI", "SDC %",
                  "SDC CI", "faults/trial", "no pred %");
    out << line;
    // "±" is two bytes in UTF-8: printf pads by bytes, so a field holding it is one wider.
    const auto ci_text = [](double half_width) {
        return std::isnan(half_width) ? std::string("n/a") : "±" + core::fixed(half_width);
    };
    const auto width = [](const std::string& text, int columns) { return text.rfind("±", 0) == 0 ? columns + 1 : columns; };
    for (const PointResult& point : result.points) {
        const AccuracyStats& stats = point.stats;
        const std::string ci = ci_text(stats.ci95_half_width);
        const bool sdc = result.outcomes && point.sdc_stats.trials > 0;
        const std::string sdc_mean = sdc ? core::fixed(point.sdc_stats.mean) : std::string("n/a");
        const std::string sdc_ci = sdc ? ci_text(point.sdc_stats.ci95_half_width) : std::string("n/a");
        std::snprintf(line, sizeof line, "%10g %7lld %8.2f %7.2f %8.2f %8.2f %*s %8s %*s %14.2f %10.2f", point.rate,
                      static_cast<long long>(stats.trials), stats.mean, stats.std, stats.min, stats.max,
                      width(ci, 9), ci.c_str(), sdc_mean.c_str(), width(sdc_ci, 9), sdc_ci.c_str(),
                      point.mean_faults(), point.no_prediction_stats.mean);
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
        "no_prediction_max,fault_free_no_prediction,sdc_mean,sdc_ci95_half_width,sdc_ci95_low,sdc_ci95_high,sdc_max\n";
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
                   core::fixed(result.share(result.fault_free_no_prediction), 4) + ',' + sdc_cells(result, point) +
                   '\n';
        }
    return csv;
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
            << core::general(point.rate) << ", mean " << svg_number(point.stats.mean) << "%";
        if (result.outcomes && point.sdc_stats.trials > 0) {
            svg << ", SDC " << svg_number(point.sdc_stats.mean) << "%";
            if (!std::isnan(point.sdc_stats.ci95_half_width))
                svg << " (±" << svg_number(point.sdc_stats.ci95_half_width) << ")";
        }
        svg << ", no prediction "
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
