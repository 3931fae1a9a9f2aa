// The comparison's result files: a Markdown report, CSV and JSON with one record per method and
// BER, and an SVG plot. Functions of the result alone; the hardening seconds only when asked for.
// With several replicates every figure is over all of them (comparison.hpp).
#include <cmath>
#include <limits>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/format.hpp"
#include "faults/paired_comparison.hpp"
#include "faults/report.hpp"
#include "faults/statistics.hpp"
#include "proact/comparison.hpp"

namespace proact::method {

namespace {

nlohmann::json number_or_null(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(); }

double ci_of(const std::vector<double>& values) {
    return values.size() < 2 ? std::nan("") : faults::accuracy_stats(values).ci95_half_width;
}

double mean_of(const std::vector<double>& values) {
    double total = 0.0;
    for (double value : values) total += value;
    return values.empty() ? 0.0 : total / double(values.size());
}

int proact_index(const ComparisonResult& result) {
    for (size_t m = 0; m < result.methods.size(); ++m)
        if (result.methods[m] == "proact") return int(m);
    return -1;
}

PointSummary summarize_point(const ComparisonResult& result, size_t method, size_t point) {
    std::vector<double> trials, replicate_means, no_prediction, sdc, differences;
    bool outcomes = true;
    const int proact = proact_index(result);
    for (const ReplicateResult& replicate : result.replicates) {
        const faults::CampaignResult& campaign = replicate.methods[method].campaign;
        const faults::PointResult& at = campaign.points.at(point);
        for (size_t t = 0; t < at.correct.size(); ++t) {
            trials.push_back(campaign.accuracy(at.correct[t]));
            no_prediction.push_back(campaign.share(at.no_prediction[t]));
            if (campaign.outcomes) sdc.push_back(campaign.share(at.sdc.at(t)));
        }
        outcomes = outcomes && campaign.outcomes;
        replicate_means.push_back(at.stats.mean);
        if (proact >= 0 && size_t(proact) != method) {
            // compare_paired checks that both ran on the same images, faults and trials.
            const faults::PairedComparison paired =
                faults::compare_paired(campaign, replicate.methods[size_t(proact)].campaign);
            const std::vector<double>& d = paired.points.at(point).differences;
            differences.insert(differences.end(), d.begin(), d.end());
        }
    }
    PointSummary summary;
    summary.mean = mean_of(replicate_means);
    summary.ci95_trials = ci_of(trials);
    summary.ci95_replicates = ci_of(replicate_means);
    summary.no_prediction = mean_of(no_prediction);
    summary.sdc = outcomes ? mean_of(sdc) : std::numeric_limits<double>::quiet_NaN();
    summary.has_paired = !differences.empty();
    summary.paired_mean = mean_of(differences);
    summary.paired_ci95 = ci_of(differences);
    return summary;
}

std::string plus_minus(double mean, double ci) { return core::fixed(mean) + " ± " + core::fixed(ci); }

}  // namespace

std::vector<MethodSummary> summarize(const ComparisonResult& result) {
    std::vector<MethodSummary> summaries;
    for (size_t m = 0; m < result.methods.size(); ++m) {
        MethodSummary summary;
        summary.method = result.methods[m];
        std::vector<double> clean, drop, seconds;
        for (const ReplicateResult& replicate : result.replicates) {
            const HardenReport& report = replicate.methods[m].report;
            clean.push_back(report.clean_accuracy);
            drop.push_back(replicate.trained_accuracy - report.clean_accuracy);
            seconds.push_back(report.seconds);
        }
        const HardenReport& first = result.replicates.front().methods[m].report;
        summary.clean_accuracy = mean_of(clean);
        summary.clean_drop = mean_of(drop);
        summary.thresholds = first.thresholds;
        summary.guards = first.guards;
        summary.seconds = mean_of(seconds);
        summary.settings = first.settings;
        for (size_t p = 0; p < result.bers.size(); ++p) summary.points.push_back(summarize_point(result, m, p));
        summaries.push_back(std::move(summary));
    }
    return summaries;
}

std::string results_markdown(const ComparisonResult& result, bool times) {
    const std::vector<MethodSummary> summaries = summarize(result);
    const size_t replicates = result.replicates.size();
    const int64_t trials = result.replicates.front().methods.front().campaign.trials;
    std::ostringstream md;
    md << "# " << result.model << " on " << result.dataset << ", " << result.format << "\n\n"
       << "Top-1 accuracy (%) on " << result.samples << " test images under random bit flips in "
       << (result.site == "activations" ? "computed layer outputs, per image"
           : result.site == "both"      ? "the stored weights, biases and thresholds and in the computed layer outputs"
                                        : "the stored weights, biases and thresholds")
       << " (batch norm " << (result.batch_norm == "fold" ? "folded" : "kept, fault-free")
       << "; seed " << result.seed << ", fault purpose evaluation): ";
    if (replicates > 1)
        md << "mean over " << replicates << " trained models (replicates) of " << trials
           << " trials each, ± the 95% CI over all (replicate, trial) accuracies [and over the replicate means]";
    else
        md << "mean ± 95% CI over " << trials << " trials";
    md << "; in parentheses the SDC rate (images whose top-1 differs from the fault-free model's, %) and the share "
          "of images without a prediction (logits not all finite, %). Clean drop: points below "
          "the unprotected model's clean accuracy.\n\n| method | clean | drop |";
    for (double ber : result.bers) md << " BER " << core::rate_text(ber) << " |";
    md << "\n|---|---|---|";
    for (size_t p = 0; p < result.bers.size(); ++p) md << "---|";
    md << "\n";
    for (const MethodSummary& summary : summaries) {
        md << "| " << summary.method << " | " << core::fixed(summary.clean_accuracy) << " | "
           << core::fixed(summary.clean_drop) << " |";
        for (const PointSummary& point : summary.points) {
            md << " " << plus_minus(point.mean, point.ci95_trials);
            if (replicates > 1) md << " [" << core::fixed(point.ci95_replicates) << "]";
            md << " (SDC " << core::fixed(point.sdc, 1) << ", none " << core::fixed(point.no_prediction, 1) << ") |";
        }
        md << "\n";
    }
    md << "\n| method | clean accuracy | clean drop | thresholds | guards | hardening time | settings |\n"
          "|---|---|---|---|---|---|---|\n";
    for (const MethodSummary& summary : summaries)
        md << "| " << summary.method << " | " << core::fixed(summary.clean_accuracy) << " | "
           << core::fixed(summary.clean_drop) << " | " << summary.thresholds << " | " << summary.guards << " | "
           << (times ? core::fixed(summary.seconds, 1) + " s" : std::string("-")) << " | " << summary.settings
           << " |\n";
    if (proact_index(result) >= 0 && summaries.size() > 1) {
        md << "\nPaired difference against ProAct, trial by trial (same faults"
           << (replicates > 1 ? ", all (replicate, trial) pairs" : "")
           << "): mean ± 95% CI, accuracy points (negative: worse than ProAct).\n\n| method |";
        for (double ber : result.bers) md << " BER " << core::rate_text(ber) << " |";
        md << "\n|---|";
        for (size_t p = 0; p < result.bers.size(); ++p) md << "---|";
        md << "\n";
        for (const MethodSummary& summary : summaries) {
            if (summary.method == "proact") continue;
            md << "| " << summary.method << " - proact |";
            for (const PointSummary& point : summary.points) md << " " << plus_minus(point.paired_mean, point.paired_ci95) << " |";
            md << "\n";
        }
    }
    md << "\nSettings: batch norm " << result.batch_norm << "; ProAct's tolerance against the "
       << (result.tolerance_reference == "original" ? "original model's validation accuracy" : "previous layer's accuracy")
       << "; FtClipAct searches at " << result.ftclipact_search_bers << " (fault purpose search, weight faults)";
    if (result.site != "weights")
        md << "; faults strike " << (result.site == "both" ? "weights and activations" : "activations only")
           << " (the range guard protects stored weights only)";
    md << ".\n";
    return md.str();
}

std::string results_csv(const ComparisonResult& result, bool times) {
    std::ostringstream csv;
    csv << "method,format,ber,replicates,trials,mean_accuracy,ci95,ci95_replicates,no_prediction,clean_accuracy,"
           "clean_drop,thresholds,guards,harden_seconds,paired_vs_proact_mean,paired_vs_proact_ci95,sdc\n";
    const auto number = [](double value) { return std::isfinite(value) ? core::fixed(value, 4) : std::string(); };
    const int64_t trials = result.replicates.front().methods.front().campaign.trials;
    for (const MethodSummary& summary : summarize(result))
        for (size_t p = 0; p < summary.points.size(); ++p) {
            const PointSummary& point = summary.points[p];
            csv << summary.method << ',' << result.format << ',' << core::general(result.bers[p]) << ','
                << result.replicates.size() << ',' << trials << ',' << core::fixed(point.mean, 4) << ','
                << number(point.ci95_trials) << ',' << number(point.ci95_replicates) << ','
                << core::fixed(point.no_prediction, 4) << ',' << core::fixed(summary.clean_accuracy, 4) << ','
                << core::fixed(summary.clean_drop, 4) << ',' << summary.thresholds << ',' << summary.guards << ','
                << (times ? core::fixed(summary.seconds, 3) : "") << ','
                << (point.has_paired ? number(point.paired_mean) : "") << ','
                << (point.has_paired ? number(point.paired_ci95) : "") << ',' << number(point.sdc) << '\n';
        }
    return csv.str();
}

std::string results_json(const ComparisonResult& result, bool times) {
    nlohmann::json records = nlohmann::json::array();
    const int64_t trials = result.replicates.front().methods.front().campaign.trials;
    for (const MethodSummary& summary : summarize(result))
        for (size_t p = 0; p < summary.points.size(); ++p) {
            const PointSummary& point = summary.points[p];
            records.push_back({
                {"method", summary.method},
                {"format", result.format},
                {"ber", result.bers[p]},
                {"replicates", result.replicates.size()},
                {"trials", trials},
                {"mean_accuracy", point.mean},
                {"ci95", number_or_null(point.ci95_trials)},
                {"ci95_replicates", number_or_null(point.ci95_replicates)},
                {"no_prediction", point.no_prediction},
                {"sdc", number_or_null(point.sdc)},
                {"clean_accuracy", summary.clean_accuracy},
                {"clean_drop", summary.clean_drop},
                {"thresholds", summary.thresholds},
                {"guards", summary.guards},
                {"harden_seconds", times ? nlohmann::json(summary.seconds) : nlohmann::json()},
                {"settings", summary.settings},
                {"paired_vs_proact", point.has_paired ? nlohmann::json{{"mean", point.paired_mean},
                                                                       {"ci95", number_or_null(point.paired_ci95)}}
                                                      : nlohmann::json()},
            });
        }
    nlohmann::json replicate_seeds = nlohmann::json::array();
    for (const ReplicateResult& replicate : result.replicates) replicate_seeds.push_back(replicate.seed);
    const nlohmann::json settings = {{"batch_norm", result.batch_norm},
                                     {"replicates", result.replicates.size()},
                                     {"replicate_seeds", replicate_seeds},
                                     {"seed", result.seed},
                                     {"fault_purpose", "evaluation"},
                                     {"tolerance_reference", result.tolerance_reference},
                                     {"ftclipact_search_bers", result.ftclipact_search_bers},
                                     {"site", result.site},
                                     {"trials", trials}};
    const nlohmann::json json = {{"experiment", "proact reproduce"}, {"model", result.model},
                                 {"dataset", result.dataset},        {"format", result.format},
                                 {"seed", result.seed},              {"samples", result.samples},
                                 {"bers", result.bers},              {"settings", settings},
                                 {"records", records}};
    return json.dump(1) + "\n";
}

std::string results_svg(const ComparisonResult& result) {
    std::vector<faults::CampaignResult> campaigns;
    for (const MethodOutcome& outcome : result.replicates.front().methods) campaigns.push_back(outcome.campaign);
    std::string title = result.model + " on " + result.dataset + ", " + result.format;
    if (result.replicates.size() > 1) title += " (first of " + std::to_string(result.replicates.size()) + " replicates)";
    return faults::campaign_svg(campaigns, title);
}

void write_comparison_files(const ComparisonResult& result, const ComparisonOptions& options) {
    const std::filesystem::path dir(options.out_dir);
    core::write_file_atomically((dir / "results.md").string(), results_markdown(result, options.times));
    core::write_file_atomically((dir / "results.csv").string(), results_csv(result, options.times));
    core::write_file_atomically((dir / "results.json").string(), results_json(result, options.times));
    core::write_file_atomically((dir / "results.svg").string(), results_svg(result));
}

}  // namespace proact::method
