// The comparison's result files: a Markdown report, CSV and JSON with one record per method and
// BER, and an SVG plot. Functions of the result alone; the hardening seconds only when asked for.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "faults/paired_comparison.hpp"
#include "faults/report.hpp"
#include "proact/comparison.hpp"

namespace proact::method {

namespace {

const MethodOutcome* find_outcome(const ComparisonResult& result, const std::string& method) {
    for (const MethodOutcome& outcome : result.methods)
        if (outcome.method == method) return &outcome;
    return nullptr;
}

// This method minus ProAct at `point`; nothing without ProAct in the run or for ProAct itself.
std::optional<faults::PairedPoint> against_proact(const ComparisonResult& result, const MethodOutcome& outcome,
                                                  size_t point) {
    const MethodOutcome* proact = find_outcome(result, "proact");
    if (!proact || proact == &outcome) return std::nullopt;
    return faults::compare_paired(outcome.campaign, proact->campaign).points.at(point);
}

std::string fixed(double value, int digits = 2) {
    if (!std::isfinite(value)) return "n/a";
    char text[48];
    std::snprintf(text, sizeof text, "%.*f", digits, value);
    return text;
}

// 1e-04, 2.5e-05: every BER in one notation (%g would write 0.0001 beside 1e-05).
std::string rate_text(double rate) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3e", rate);
    std::string mantissa(text), exponent;
    const size_t e = mantissa.find('e');
    exponent = mantissa.substr(e);
    mantissa.resize(e);
    while (mantissa.back() == '0') mantissa.pop_back();
    if (mantissa.back() == '.') mantissa.pop_back();
    return mantissa + exponent;
}

nlohmann::json number_or_null(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(); }

}  // namespace

double no_prediction_share(const MethodOutcome& outcome, size_t point) {
    return outcome.campaign.points.at(point).no_prediction_stats.mean;
}

std::string results_markdown(const ComparisonResult& result, bool times) {
    std::ostringstream md;
    const int64_t trials = result.methods.empty() ? 0 : result.methods.front().campaign.trials;
    md << "# " << result.model << " on " << result.dataset << ", " << result.format << "\n\n"
       << "Top-1 accuracy (%) on " << result.samples << " test images under random bit flips in the stored "
       << "weights, biases and thresholds: mean ± 95% CI over " << trials << " trials (seed " << result.seed
       << "); in brackets the share of images without a prediction (logits not all finite).\n\n| method | clean |";
    for (double ber : result.bers) md << " BER " << rate_text(ber) << " |";
    md << "\n|---|---|";
    for (size_t p = 0; p < result.bers.size(); ++p) md << "---|";
    md << "\n";
    for (const MethodOutcome& outcome : result.methods) {
        md << "| " << outcome.method << " | " << fixed(outcome.report.clean_accuracy) << " |";
        for (size_t p = 0; p < outcome.campaign.points.size(); ++p) {
            const faults::AccuracyStats& stats = outcome.campaign.points[p].stats;
            md << " " << fixed(stats.mean) << " ± " << fixed(stats.ci95_half_width) << " ("
               << fixed(no_prediction_share(outcome, p), 1) << "%) |";
        }
        md << "\n";
    }
    md << "\n| method | clean accuracy | thresholds | guards | hardening time | settings |\n|---|---|---|---|---|---|\n";
    for (const MethodOutcome& outcome : result.methods)
        md << "| " << outcome.method << " | " << fixed(outcome.report.clean_accuracy) << " | "
           << outcome.report.thresholds << " | " << outcome.report.guards << " | "
           << (times ? fixed(outcome.report.seconds, 1) + " s" : std::string("-")) << " | " << outcome.report.settings
           << " |\n";
    if (find_outcome(result, "proact") && result.methods.size() > 1) {
        md << "\nPaired difference against ProAct, trial by trial (same weight faults): mean ± 95% CI, accuracy "
              "points (negative: worse than ProAct).\n\n| method |";
        for (double ber : result.bers) md << " BER " << rate_text(ber) << " |";
        md << "\n|---|";
        for (size_t p = 0; p < result.bers.size(); ++p) md << "---|";
        md << "\n";
        for (const MethodOutcome& outcome : result.methods) {
            if (outcome.method == "proact") continue;
            md << "| " << outcome.method << " - proact |";
            for (size_t p = 0; p < outcome.campaign.points.size(); ++p) {
                const faults::PairedPoint difference = *against_proact(result, outcome, p);
                md << " " << fixed(difference.mean_difference) << " ± " << fixed(difference.ci95_half_width) << " |";
            }
            md << "\n";
        }
    }
    return md.str();
}

std::string results_csv(const ComparisonResult& result, bool times) {
    std::ostringstream csv;
    csv << "method,format,ber,trials,mean_accuracy,std,ci95,no_prediction,clean_accuracy,thresholds,guards,"
           "harden_seconds,paired_vs_proact_mean,paired_vs_proact_ci95\n";
    char row[512];
    for (const MethodOutcome& outcome : result.methods)
        for (size_t p = 0; p < outcome.campaign.points.size(); ++p) {
            const faults::PointResult& point = outcome.campaign.points[p];
            const auto paired = against_proact(result, outcome, p);
            const auto number = [](double value) { return std::isfinite(value) ? fixed(value, 4) : std::string(); };
            std::snprintf(row, sizeof row, "%s,%s,%g,%lld,%.4f,%.4f,%s,%.4f,%.4f,%lld,%lld,%s,%s,%s\n",
                          outcome.method.c_str(), result.format.c_str(), point.rate,
                          static_cast<long long>(point.stats.trials), point.stats.mean, point.stats.std,
                          number(point.stats.ci95_half_width).c_str(), no_prediction_share(outcome, p),
                          outcome.report.clean_accuracy, static_cast<long long>(outcome.report.thresholds),
                          static_cast<long long>(outcome.report.guards),
                          times ? fixed(outcome.report.seconds, 3).c_str() : "",
                          paired ? number(paired->mean_difference).c_str() : "",
                          paired ? number(paired->ci95_half_width).c_str() : "");
            csv << row;
        }
    return csv.str();
}

std::string results_json(const ComparisonResult& result, bool times) {
    nlohmann::json records = nlohmann::json::array();
    for (const MethodOutcome& outcome : result.methods)
        for (size_t p = 0; p < outcome.campaign.points.size(); ++p) {
            const faults::PointResult& point = outcome.campaign.points[p];
            const auto paired = against_proact(result, outcome, p);
            nlohmann::json record = {
                {"method", outcome.method},
                {"format", result.format},
                {"ber", point.rate},
                {"trials", point.stats.trials},
                {"mean_accuracy", point.stats.mean},
                {"std", point.stats.std},
                {"ci95", number_or_null(point.stats.ci95_half_width)},
                {"no_prediction", no_prediction_share(outcome, p)},
                {"clean_accuracy", outcome.report.clean_accuracy},
                {"thresholds", outcome.report.thresholds},
                {"guards", outcome.report.guards},
                {"harden_seconds", times ? nlohmann::json(outcome.report.seconds) : nlohmann::json()},
                {"settings", outcome.report.settings},
                {"paired_vs_proact", paired ? nlohmann::json{{"mean", paired->mean_difference}, {"ci95", number_or_null(paired->ci95_half_width)}}
                                            : nlohmann::json()},
            };
            records.push_back(std::move(record));
        }
    const nlohmann::json json = {{"experiment", "proact reproduce"}, {"model", result.model},
                                 {"dataset", result.dataset},        {"format", result.format},
                                 {"seed", result.seed},              {"samples", result.samples},
                                 {"bers", result.bers},              {"records", records}};
    return json.dump(1) + "\n";
}

std::string results_svg(const ComparisonResult& result) {
    std::vector<faults::CampaignResult> campaigns;
    for (const MethodOutcome& outcome : result.methods) campaigns.push_back(outcome.campaign);
    return faults::campaign_svg(campaigns, result.model + " on " + result.dataset + ", " + result.format);
}

void write_comparison_files(const ComparisonResult& result, const ComparisonOptions& options) {
    const std::filesystem::path dir(options.out_dir);
    core::write_file_atomically((dir / "results.md").string(), results_markdown(result, options.times));
    core::write_file_atomically((dir / "results.csv").string(), results_csv(result, options.times));
    core::write_file_atomically((dir / "results.json").string(), results_json(result, options.times));
    core::write_file_atomically((dir / "results.svg").string(), results_svg(result));
}

}  // namespace proact::method
