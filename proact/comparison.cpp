// The comparison experiment: per replicate and method load -> fold -> quantise -> harden ->
// quantise -> save -> campaign, each step kept from a previous run when resume finds its file
// intact and from this run's settings (see comparison.hpp).
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
#include "core/format.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"
#include "datasets/registry.hpp"
#include "datasets/split.hpp"
#include "layers/checkpoint.hpp"
#include "layers/evaluate.hpp"

namespace proact::method {

namespace {

using faults::CampaignOptions;
using faults::CampaignResult;

void say(const ComparisonOptions& options, const std::string& line) {
    if (!options.run.progress) return;
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
}

// The report stored in a hardened checkpoint's metadata, when the checkpoint loads and was made
// with `key`; nothing otherwise: a stale file (another key) is hardened again silently, a corrupt
// one is hardened again after saying why it could not be used.
std::optional<HardenReport> read_hardening(const std::string& path, const std::string& key, layers::ModulePtr& model,
                                           const ComparisonOptions& options) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    try {
        const layers::Checkpoint checkpoint = layers::load_checkpoint(path);
        const auto& meta = checkpoint.metadata;
        if (!meta.count("comparison_key") || meta.at("comparison_key") != key) return std::nullopt;
        const auto field = [&](const char* name) {
            const auto it = meta.find(name);
            if (it == meta.end()) core::fail<core::FormatError>("metadata '", name, "' is missing");
            return it->second;
        };
        const auto count = [&](const char* name) {
            const std::optional<int64_t> value = core::read_number<int64_t>(field(name));
            if (!value || *value < 0) core::fail<core::FormatError>("metadata '", name, "' is not a count");
            return *value;
        };
        HardenReport report;
        report.thresholds = count("comparison_thresholds");
        report.guards = count("comparison_guards");
        const std::optional<double> seconds = core::read_number<double>(field("comparison_seconds"));
        if (!seconds) core::fail<core::FormatError>("metadata 'comparison_seconds' is not a number");
        report.seconds = *seconds;
        report.settings = field("comparison_settings");
        model = layers::load_model(path);
        return report;
    } catch (const core::FormatError& e) {
        say(options, "reproduce: cannot reuse '" + path + "' (" + e.what() + "); hardening again");
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
                             {"comparison_seconds", core::shortest(report.seconds)},
                             {"comparison_settings", report.settings}});
}

// The campaign in `path` when it is complete and ran with `options` on a model whose fault-free
// result is `clean_correct`.
std::optional<CampaignResult> read_campaign(const std::string& path, const CampaignOptions& options,
                                            int64_t samples, int64_t clean_correct, const ComparisonOptions& comparison) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    try {
        CampaignResult result = faults::campaign_from_json(core::read_file(path), path);
        bool same = result.label == options.label && result.format == options.format.to_string() &&
                    result.purpose == options.purpose && result.batch_norm == options.batch_norm &&
                    result.site == options.site &&
                    result.fault_model == options.fault_model && result.seed == options.seed &&
                    result.trials == options.trials && result.shard.index == options.shard.index &&
                    result.shard.count == options.shard.count && result.samples == samples &&
                    result.fault_free_correct == clean_correct && result.points.size() == options.bers.size() &&
                    result.patterns == options.patterns;
        const int64_t shard_trials =
            (options.trials - options.shard.index + options.shard.count - 1) / options.shard.count;
        for (size_t p = 0; same && p < result.points.size(); ++p)
            same = result.points[p].rate == options.bers[p] &&
                   static_cast<int64_t>(result.points[p].trial_ids.size()) == shard_trials;
        if (same) return result;
    } catch (const core::FormatError& e) {
        say(comparison, "reproduce: cannot reuse '" + path + "' (" + e.what() + "); running it again");
    } catch (const nlohmann::json::exception& e) {
        say(comparison, "reproduce: cannot reuse '" + path + "' (" + e.what() + "); running it again");
    }
    return std::nullopt;
}

struct RunContext {
    const Replicate& replicate;
    const ComparisonOptions& options;
    HardenInputs inputs;
    RunSettings run;                 // the replicate's seed
    std::string dir;
    uint64_t trained_checksum = 0;
    std::vector<std::string> saved;  // methods whose checkpoint this run wrote or resume kept
};

// Everything a hardened model depends on: same key, same hardened bits.
std::string hardening_key(const std::string& method_settings, uint64_t trained_checksum, const RunContext& run) {
    std::ostringstream key;
    key << "trained " << std::hex << trained_checksum << std::dec << "; batch norm " << run.options.batch_norm
        << "; format " << run.inputs.format.to_string() << "; seed " << run.run.seed << "; train "
        << run.inputs.train->size() << ", validation " << run.inputs.validation->size() << "; " << method_settings;
    return key.str();
}

std::string method_key(const Method& method, const RunContext& run) {
    return hardening_key(method.settings(run.options.settings, run.inputs), run.trained_checksum, run);
}

// The hardened model and report of `base`: its checkpoint in the replicate's folder when this run
// wrote it (or resume kept it), else hardened now (not saved: it was not asked for). A file from an
// earlier run is never read without resume. The checkpoint's thresholds are already on the
// storage grid; quantising again changes nothing.
std::pair<layers::ModulePtr, HardenReport> base_hardening(const Method& base, RunContext& run, const LogLine& log) {
    layers::ModulePtr model;
    const bool ours = std::find(run.saved.begin(), run.saved.end(), base.name) != run.saved.end();
    if (std::optional<HardenReport> saved =
            ours ? read_hardening(method_files(run.dir, base.name).checkpoint, method_key(base, run), model, run.options) : std::nullopt) {
        log("starts from " + base.name + "'s hardened model");
        return {std::move(model), *saved};
    }
    model = load_for_hardening(run.replicate.checkpoint, run.options.batch_norm, run.options.campaign);
    HardenReport report = harden_with_base(base, *model, run.inputs, run.options.settings, run.run, log);
    return {std::move(model), report};
}

MethodOutcome run_method(const Method& method, RunContext& run, const std::string& step) {
    const ComparisonOptions& options = run.options;
    const MethodFiles files = method_files(run.dir, method.name);
    const std::string key = method_key(method, run);
    MethodOutcome outcome;
    outcome.method = method.name;
    layers::ModulePtr model;
    std::optional<HardenReport> kept = options.resume ? read_hardening(files.checkpoint, key, model, options) : std::nullopt;
    if (kept) {
        outcome.report = *kept;
        outcome.hardening_kept = true;
        say(options, step + " harden: kept " + files.checkpoint);
    } else {
        say(options, step + " harden: " + method.summary);
        const LogLine log = [&options, &step](const std::string& line) { say(options, step + "   " + line); };
        if (!method.base.empty()) {
            HardenReport base_report;
            std::tie(model, base_report) = base_hardening(find_method(method.base), run, log);
            outcome.report = add_reports(base_report, method.harden(*model, run.inputs, options.settings, run.run, log));
        } else {
            model = load_for_hardening(run.replicate.checkpoint, options.batch_norm, options.campaign);
            outcome.report = method.harden(*model, run.inputs, options.settings, run.run, log);
        }
        quantize_hardened(*model, options.campaign);
        save_hardening(files.checkpoint, *model, method.name, key, outcome.report);
    }
    run.saved.push_back(method.name);
    outcome.hardened_checksum = faults::model_checksum(*model);
    const datasets::Dataset& test = run.replicate.data.test;
    const int64_t clean_correct = layers::evaluate(*model, test.images(), test.labels).correct;
    outcome.report.clean_accuracy = 100.0 * double(clean_correct) / double(test.size());

    CampaignOptions campaign_options = options.campaign;
    campaign_options.label = method.name;
    std::optional<CampaignResult> campaign =
        kept ? read_campaign(files.campaign, campaign_options, test.size(), clean_correct, options) : std::nullopt;
    outcome.campaign_kept = campaign.has_value();
    if (campaign) {
        say(options, step + " campaign: kept " + files.campaign);
    } else {
        say(options, step + " campaign: " + std::to_string(campaign_options.trials) + " trials at each of " +
                         std::to_string(campaign_options.bers.size()) + " BERs, " + campaign_options.format.to_string());
        campaign = faults::run_campaign(*model, test.images(), test.labels, campaign_options);
        core::write_file_atomically(files.campaign, faults::campaign_json(*campaign));
    }
    outcome.campaign = *campaign;
    return outcome;
}

void check_options(const ComparisonOptions& options, const std::vector<Replicate>& replicates) {
    for (const std::string& name : options.methods) find_method(name);
    if (options.campaign.fault_model.is_exact())
        core::fail<core::ValueError>("comparison: the campaign's fault model must be a rate, got '",
                                     options.campaign.fault_model.to_string(), "'");
    if (options.campaign.ci_margin != 0.0)
        core::fail<core::ValueError>("comparison: every method runs every trial of its shard (no --ci-margin)");
    faults::validate_options(options.campaign);
    if (options.batch_norm != "fold" && options.batch_norm != "keep")
        core::fail<core::ValueError>("comparison: batch norm '", options.batch_norm, "' is not one of fold, keep");
    if (options.out_dir.empty()) core::fail<core::ValueError>("comparison: no output folder given");
    if (replicates.empty()) core::fail<core::ValueError>("comparison: no trained model given");
    for (const Replicate& replicate : replicates) {
        const datasets::Dataset& first = replicates.front().data.test;
        const datasets::Dataset& test = replicate.data.test;
        if (test.size() != first.size() || test.labels != first.labels)
            core::fail<core::ValueError>("comparison: replicate ", replicate.checkpoint,
                                         " is evaluated on other test images than ", replicates.front().checkpoint);
    }
}

}  // namespace

MethodFiles method_files(const std::string& out_dir, const std::string& method) {
    const std::filesystem::path dir(out_dir);
    return {(dir / (method + ".safetensors")).string(), (dir / (method + ".campaign.json")).string()};
}

std::string replicate_dir(const std::string& out_dir, size_t replicate, size_t replicates) {
    if (replicates <= 1) return out_dir;
    return (std::filesystem::path(out_dir) / ("replicate-" + std::to_string(replicate))).string();
}

ComparisonResult run_comparison(const std::vector<Replicate>& replicates, const ComparisonOptions& options_in) {
    const auto start = std::chrono::steady_clock::now();
    ComparisonOptions options = options_in;
    if (options.methods.empty()) options.methods = parse_method_list("all");
    options.campaign.fault_thresholds = true;
    options.campaign.seed = options.run.seed;
    options.campaign.purpose = "evaluation";
    options.campaign.batch_norm = options.batch_norm;
    options.campaign.progress = options.run.progress;
    check_options(options, replicates);

    ComparisonResult result;
    result.methods = options.methods;
    result.seed = options.run.seed;
    result.bers = options.campaign.bers;
    result.format = options.campaign.format.to_string();
    result.batch_norm = options.batch_norm;
    result.tolerance_reference = to_string(options.settings.proact.tolerance_reference);
    result.site = options.campaign.site;
    if (options.settings.ftclipact_search_bers.empty()) {
        result.ftclipact_search_bers = "evaluation BERs";
    } else {
        std::ostringstream text;
        for (size_t i = 0; i < options.settings.ftclipact_search_bers.size(); ++i)
            text << (i ? "," : "") << options.settings.ftclipact_search_bers[i];
        result.ftclipact_search_bers = text.str();
    }
    for (size_t r = 0; r < replicates.size(); ++r) {
        const Replicate& replicate = replicates[r];
        const layers::ModulePtr trained = load_for_hardening(replicate.checkpoint, options.batch_norm, options.campaign);
        const layers::ModelInfo* info = layers::model_info(*trained);
        if (!info) core::fail<core::ValueError>("comparison: ", replicate.checkpoint, " is not a zoo model");
        RunContext run{replicate,
                       options,
                       HardenInputs{info->input_shape, &replicate.data.train, &replicate.data.validation,
                                    options.campaign.format, options.campaign.bers, {}},
                       RunSettings{replicate.seed, options.run.progress},
                       replicate_dir(options.out_dir, r, replicates.size()),
                       faults::model_checksum(*trained),
                       {}};
        std::filesystem::create_directories(run.dir);
        if (options.campaign.model_name.empty()) options.campaign.model_name = info->name;
        if (options.campaign.dataset_name.empty()) options.campaign.dataset_name = replicate.data.test.name;
        result.model = info->name;
        result.dataset = options.campaign.dataset_name;
        result.samples = replicate.data.test.size();

        ReplicateResult outcome;
        outcome.seed = replicate.seed;
        outcome.checkpoint = replicate.checkpoint;
        outcome.trained_checksum = run.trained_checksum;
        const datasets::Dataset& test = replicate.data.test;
        outcome.trained_accuracy = 100.0 * layers::evaluate(*trained, test.images(), test.labels).accuracy();
        for (size_t m = 0; m < options.methods.size(); ++m) {
            std::ostringstream step;
            step << "[";
            if (replicates.size() > 1) step << "replicate " << r + 1 << "/" << replicates.size() << ", ";
            step << m + 1 << "/" << options.methods.size() << " " << options.methods[m] << "]";
            outcome.methods.push_back(run_method(find_method(options.methods[m]), run, step.str()));
        }
        result.replicates.push_back(std::move(outcome));
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

ComparisonData load_comparison_data(const std::string& dataset, const std::string& data_dir,
                                    const core::Shape& input_shape, double validation_fraction, uint64_t seed) {
    const datasets::Dataset full = datasets::load_dataset(dataset, "train", data_dir, input_shape);
    ComparisonData data;
    data.test = datasets::load_dataset(dataset, "test", data_dir, input_shape);
    if (full.sample_shape() != input_shape || data.test.sample_shape() != input_shape)
        core::fail<core::ShapeError>("comparison: the model takes images of shape ", core::shape_str(input_shape),
                                     ", data set ", dataset, " has ", core::shape_str(full.sample_shape()));
    std::tie(data.train, data.validation) = datasets::split(full, validation_fraction, seed);
    return data;
}

std::vector<double> default_comparison_bers(const layers::ModelInfo& info) {
    if (info.name == "lenet5") return {1e-5, 1e-4, 3e-4, 1e-3};
    if (info.input_shape.size() == 3 && info.input_shape[1] <= 28) return {1e-6, 1e-5, 3e-5, 1e-4, 3e-4};
    return {1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5};
}

}  // namespace proact::method
