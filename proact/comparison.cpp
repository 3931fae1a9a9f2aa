// The comparison experiment: per method harden -> quantise -> save -> campaign -> no-prediction
// counts, each step kept from a previous run when resume finds its file intact and from this run's
// settings (see comparison.hpp).
#include "proact/comparison.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "autograd/variable.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/file_io.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"
#include "layers/checkpoint.hpp"
#include "layers/evaluate.hpp"

namespace proact::method {

namespace {

using faults::CampaignOptions;
using faults::CampaignResult;

struct MethodFiles {
    std::string checkpoint, campaign;
};

MethodFiles files_of(const std::string& out_dir, const std::string& method) {
    const std::filesystem::path dir(out_dir);
    return {(dir / (method + ".safetensors")).string(), (dir / (method + ".campaign.json")).string()};
}

// Everything a hardened model depends on: same key, same hardened bits.
std::string hardening_key(const std::string& method_settings, uint64_t trained_checksum, const HardenContext& context) {
    std::ostringstream key;
    key << "trained " << std::hex << trained_checksum << std::dec << "; format " << context.format.to_string()
        << "; seed " << context.seed << "; train " << context.train->size() << ", validation "
        << context.validation->size() << "; " << method_settings;
    return key.str();
}

std::string exact_number(double value) {
    char text[40];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

void quantize_model(layers::Module& model, const CampaignOptions& options, bool include_thresholds) {
    if (!options.format.is_fixed_point()) return;
    std::vector<faults::FaultTarget> targets = faults::select_targets(model, options.patterns, include_thresholds);
    faults::quantize_targets(targets, options.format);
}

// The report stored in a hardened checkpoint's metadata, when the checkpoint loads and was made
// with `key`; nothing otherwise (a missing, corrupt or stale file is hardened again).
std::optional<HardenReport> read_hardening(const std::string& path, const std::string& key, layers::ModulePtr& model) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    try {
        const layers::Checkpoint checkpoint = layers::load_checkpoint(path);
        const auto& meta = checkpoint.metadata;
        if (!meta.count("comparison_key") || meta.at("comparison_key") != key) return std::nullopt;
        HardenReport report;
        report.thresholds = std::stoll(meta.at("comparison_thresholds"));
        report.guards = std::stoll(meta.at("comparison_guards"));
        report.seconds = std::stod(meta.at("comparison_seconds"));
        report.settings = meta.at("comparison_settings");
        model = layers::load_model(path);
        return report;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void save_hardening(const std::string& path, const layers::Module& model, const std::string& method,
                    const std::string& key, const HardenReport& report) {
    layers::save_checkpoint(path, model,
                            {{"hardening", method},
                             {"comparison_key", key},
                             {"comparison_thresholds", std::to_string(report.thresholds)},
                             {"comparison_guards", std::to_string(report.guards)},
                             {"comparison_seconds", exact_number(report.seconds)},
                             {"comparison_settings", report.settings}});
}

// The campaign in `path` when it is complete and ran with `options` on a model whose fault-free
// result is `clean_correct`.
std::optional<CampaignResult> read_campaign(const std::string& path, const CampaignOptions& options,
                                            int64_t samples, int64_t clean_correct) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    try {
        CampaignResult result = faults::campaign_from_json(core::read_file(path), path);
        bool same = result.label == options.label && result.format == options.format.to_string() &&
                    result.fault_model == options.fault_model && result.seed == options.seed &&
                    result.trials == options.trials && result.shard.count == 1 && result.samples == samples &&
                    result.fault_free_correct == clean_correct && result.points.size() == options.bers.size() &&
                    result.patterns == options.patterns;
        for (size_t p = 0; same && p < result.points.size(); ++p)
            same = result.points[p].rate == options.bers[p] &&
                   static_cast<int64_t>(result.points[p].trial_ids.size()) == options.trials;
        if (same) return result;
    } catch (const core::Error&) {
    } catch (const nlohmann::json::exception&) {
    }
    return std::nullopt;
}

void say(const ComparisonOptions& options, const std::string& line) {
    if (!options.progress) return;
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
}

struct RunContext {
    const ComparisonData& data;
    const ComparisonOptions& options;
    HardenContext harden;
    std::string trained_checkpoint;
    uint64_t trained_checksum = 0;
    std::vector<std::string> saved;  // methods whose checkpoint this run wrote or resume kept
};

std::string method_key(const ComparisonMethod& method, const RunContext& run) {
    return hardening_key(method.settings(run.harden), run.trained_checksum, run.harden);
}

// The hardened model and report of `base`: its checkpoint in out_dir when this run wrote it (or
// resume kept it), else hardened now (not saved: it was not asked for). A file from an earlier run
// is never read without resume. The checkpoint's thresholds are already on the storage grid;
// quantising again changes nothing.
std::pair<layers::ModulePtr, HardenReport> base_hardening(const ComparisonMethod& base, RunContext& run,
                                                          const std::string& step) {
    layers::ModulePtr model;
    const bool ours = std::find(run.saved.begin(), run.saved.end(), base.name) != run.saved.end();
    if (std::optional<HardenReport> saved =
            ours ? read_hardening(files_of(run.options.out_dir, base.name).checkpoint, method_key(base, run), model)
                 : std::nullopt) {
        say(run.options, step + "   starts from " + base.name + "'s hardened model");
        return {std::move(model), *saved};
    }
    model = layers::load_model(run.trained_checkpoint);
    quantize_model(*model, run.options.campaign, false);
    HardenReport report = base.harden(*model, run.harden);
    return {std::move(model), report};
}

MethodOutcome run_method(const ComparisonMethod& method, RunContext& run, const std::string& step) {
    const ComparisonOptions& options = run.options;
    const MethodFiles files = files_of(options.out_dir, method.name);
    const std::string key = method_key(method, run);
    MethodOutcome outcome;
    outcome.method = method.name;
    layers::ModulePtr model;
    std::optional<HardenReport> kept = options.resume ? read_hardening(files.checkpoint, key, model) : std::nullopt;
    if (kept) {
        outcome.report = *kept;
        outcome.hardening_kept = true;
        say(options, step + " harden: kept " + files.checkpoint);
    } else {
        say(options, step + " harden: " + method.summary);
        run.harden.log = [&options, &step](const std::string& line) { say(options, step + "   " + line); };
        HardenReport base_report;
        if (!method.base.empty()) {
            std::tie(model, base_report) = base_hardening(find_comparison_method(method.base), run, step);
        } else {
            model = layers::load_model(run.trained_checkpoint);
            quantize_model(*model, options.campaign, false);
        }
        outcome.report = method.harden(*model, run.harden);
        if (!method.base.empty()) {
            outcome.report.thresholds = base_report.thresholds;
            outcome.report.guards += base_report.guards;
            outcome.report.seconds += base_report.seconds;
            outcome.report.settings = base_report.settings + "; " + outcome.report.settings;
        }
        quantize_model(*model, options.campaign, true);
        save_hardening(files.checkpoint, *model, method.name, key, outcome.report);
    }
    run.saved.push_back(method.name);
    const datasets::Dataset& test = run.data.test;
    const int64_t clean_correct = layers::evaluate(*model, test.images, test.labels).correct;
    outcome.report.clean_accuracy = 100.0 * double(clean_correct) / double(test.size());

    CampaignOptions campaign_options = options.campaign;
    campaign_options.label = method.name;
    std::optional<CampaignResult> campaign =
        kept ? read_campaign(files.campaign, campaign_options, test.size(), clean_correct) : std::nullopt;
    outcome.campaign_kept = campaign.has_value();
    if (campaign) {
        say(options, step + " campaign: kept " + files.campaign);
    } else {
        say(options, step + " campaign: " + std::to_string(campaign_options.trials) + " trials at each of " +
                         std::to_string(campaign_options.bers.size()) + " BERs, " + campaign_options.format.to_string());
        campaign = faults::run_campaign(*model, test.images, test.labels, campaign_options);
        core::write_file_atomically(files.campaign, faults::campaign_json(*campaign));
    }
    outcome.campaign = *campaign;
    return outcome;
}

}  // namespace

ComparisonResult run_comparison(const std::string& trained_checkpoint, const ComparisonData& data,
                                const ComparisonOptions& options_in) {
    const auto start = std::chrono::steady_clock::now();
    ComparisonOptions options = options_in;
    if (options.methods.empty()) options.methods = parse_method_list("all");
    for (const std::string& name : options.methods) find_comparison_method(name);
    options.campaign.fault_thresholds = true;
    if (options.campaign.fault_model.is_exact())
        core::fail<core::ValueError>("comparison: the campaign's fault model must be a rate, got '",
                                     options.campaign.fault_model.to_string(), "'");
    if (options.campaign.ci_margin != 0.0 || options.campaign.shard.count != 1)
        core::fail<core::ValueError>("comparison: every method runs every trial (no --ci-margin, no shards)");
    faults::validate_options(options.campaign);
    if (options.out_dir.empty()) core::fail<core::ValueError>("comparison: no output folder given");
    std::filesystem::create_directories(options.out_dir);

    const layers::ModulePtr trained = layers::load_model(trained_checkpoint);
    const layers::ModelInfo* info = layers::model_info(*trained);
    if (!info) core::fail<core::ValueError>("comparison: ", trained_checkpoint, " is not a zoo model");
    RunContext run{data, options, options.harden, trained_checkpoint, faults::model_checksum(*trained), {}};
    run.harden.input_shape = info->input_shape;
    run.harden.train = &data.train;
    run.harden.validation = &data.validation;
    run.harden.format = options.campaign.format;
    run.harden.progress = options.progress;
    options.campaign.progress = options.progress;
    options.campaign.model_name = info->name;
    if (options.campaign.dataset_name.empty()) options.campaign.dataset_name = data.test.name;

    ComparisonResult result;
    result.model = info->name;
    result.dataset = options.campaign.dataset_name;
    result.format = options.campaign.format.to_string();
    result.seed = options.campaign.seed;
    result.samples = data.test.size();
    result.bers = options.campaign.bers;
    for (size_t m = 0; m < options.methods.size(); ++m) {
        std::ostringstream step;
        step << "[" << m + 1 << "/" << options.methods.size() << " " << options.methods[m] << "]";
        result.methods.push_back(run_method(find_comparison_method(options.methods[m]), run, step.str()));
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace proact::method
