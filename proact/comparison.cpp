// The comparison experiment: per method harden -> quantise -> save -> campaign -> no-prediction
// counts, each step kept from a previous run when resume finds its file intact and from this run's
// settings (see comparison.hpp).
#include "proact/comparison.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

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
    std::string checkpoint, campaign, no_prediction;
};

MethodFiles files_of(const std::string& out_dir, const std::string& method) {
    const std::filesystem::path dir(out_dir);
    return {(dir / (method + ".safetensors")).string(), (dir / (method + ".campaign.json")).string(),
            (dir / (method + ".no_prediction.json")).string()};
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
                    result.fault_kind == faults::to_string(options.fault_kind) && result.seed == options.seed &&
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

// Images whose logits are not all finite, per trial of each point: the campaign's fault maps drawn
// again (injector.hpp: the same seed and trial give the same faults), applied, and the whole set
// evaluated. This one function stands in for the faults library's own "no prediction" outcome,
// which replaces it when the two branches meet.
std::vector<std::vector<int64_t>> count_no_prediction(layers::Module& model, const core::Tensor& images,
                                                      const CampaignOptions& options, const CampaignResult& campaign) {
    std::vector<faults::FaultTarget> targets = faults::select_targets(model, options.patterns, options.fault_thresholds);
    const faults::BitMask mask = faults::BitMask::parse(options.bit_mask, options.format);
    const bool was_training = model.is_training();
    model.eval();
    const auto count_images = [&] {
        autograd::NoGradGuard no_grad;
        constexpr int64_t kBatch = 1000;
        int64_t count = 0;
        for (int64_t start = 0; start < images.size(0); start += kBatch) {
            const int64_t stop = std::min(images.size(0), start + kBatch);
            const core::Tensor logits = model.forward(autograd::Variable(images.slice(start, stop))).value().contiguous();
            const int64_t classes = logits.numel() / (stop - start);
            const float* row = logits.data();
            for (int64_t i = 0; i < stop - start; ++i, row += classes) {
                bool finite = true;
                for (int64_t k = 0; k < classes; ++k) finite &= std::isfinite(row[k]);
                count += !finite;
            }
        }
        return count;
    };
    const int64_t fault_free = count_images();
    int64_t total = 0, done = 0;
    for (const faults::PointResult& point : campaign.points) total += static_cast<int64_t>(point.trial_ids.size());
    core::ProgressBar bar("no-prediction", total, options.progress);
    bar.set_unit("trials/s");
    std::vector<std::vector<int64_t>> counts;
    for (const faults::PointResult& point : campaign.points) {
        const faults::FaultModel fault_model = faults::FaultModel::bit_error_rate(point.rate, mask);
        std::vector<int64_t>& trials = counts.emplace_back();
        for (int64_t trial : point.trial_ids) {
            const faults::FaultMap map = faults::draw_fault_map(targets, fault_model, options.format, options.seed, trial);
            faults::ScopedFaults faulted(targets, map, options.format);
            trials.push_back(faulted.changes_values() ? count_images() : fault_free);
            ++done;
            char status[32];
            std::snprintf(status, sizeof status, "BER %g", point.rate);
            bar.update(done, done, status);
        }
    }
    bar.finish();
    model.train(was_training);
    return counts;
}

std::string no_prediction_json(const std::string& method, const CampaignResult& campaign,
                               const std::vector<std::vector<int64_t>>& counts) {
    nlohmann::json rates = nlohmann::json::array(), trials = nlohmann::json::array();
    for (size_t p = 0; p < campaign.points.size(); ++p) {
        rates.push_back(campaign.points[p].rate);
        trials.push_back(counts[p]);
    }
    return nlohmann::json{{"method", method}, {"samples", campaign.samples}, {"rates", rates},
                          {"no_prediction", trials}}.dump(1) + "\n";
}

std::optional<std::vector<std::vector<int64_t>>> read_no_prediction(const std::string& path, const std::string& method,
                                                                   const CampaignResult& campaign) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    try {
        const nlohmann::json json = nlohmann::json::parse(core::read_file(path));
        if (json.at("method") != method || json.at("samples") != campaign.samples) return std::nullopt;
        const auto rates = json.at("rates").get<std::vector<double>>();
        auto counts = json.at("no_prediction").get<std::vector<std::vector<int64_t>>>();
        if (rates.size() != campaign.points.size() || counts.size() != rates.size()) return std::nullopt;
        for (size_t p = 0; p < rates.size(); ++p) {
            if (rates[p] != campaign.points[p].rate || counts[p].size() != campaign.points[p].trial_ids.size())
                return std::nullopt;
            for (int64_t count : counts[p])
                if (count < 0 || count > campaign.samples) return std::nullopt;
        }
        return counts;
    } catch (const std::exception&) {
        return std::nullopt;
    }
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
};

MethodOutcome run_method(const ComparisonMethod& method, RunContext& run, const std::string& step) {
    const ComparisonOptions& options = run.options;
    const MethodFiles files = files_of(options.out_dir, method.name);
    const std::string key = hardening_key(method.settings(run.harden), run.trained_checksum, run.harden);
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
        model = layers::load_model(run.trained_checkpoint);
        quantize_model(*model, options.campaign, false);
        run.harden.log = [&options, &step](const std::string& line) { say(options, step + "   " + line); };
        outcome.report = method.harden(*model, run.harden);
        quantize_model(*model, options.campaign, true);
        save_hardening(files.checkpoint, *model, method.name, key, outcome.report);
    }
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
    auto counts = outcome.campaign_kept ? read_no_prediction(files.no_prediction, method.name, *campaign) : std::nullopt;
    if (!counts) {
        say(options, step + " no-prediction count: the campaign's fault maps replayed");
        counts = count_no_prediction(*model, test.images, campaign_options, *campaign);
        core::write_file_atomically(files.no_prediction, no_prediction_json(method.name, *campaign, *counts));
    }
    outcome.no_prediction = std::move(*counts);
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
    if (options.campaign.fault_kind != faults::FaultKind::ber)
        core::fail<core::ValueError>("comparison: the campaign's fault model must be 'ber', got '",
                                     faults::to_string(options.campaign.fault_kind), "'");
    if (options.campaign.ci_margin != 0.0 || options.campaign.shard.count != 1)
        core::fail<core::ValueError>("comparison: every method runs every trial (no --ci-margin, no shards)");
    faults::validate_options(options.campaign);
    if (options.out_dir.empty()) core::fail<core::ValueError>("comparison: no output folder given");
    std::filesystem::create_directories(options.out_dir);

    const layers::ModulePtr trained = layers::load_model(trained_checkpoint);
    const layers::ModelInfo* info = layers::model_info(*trained);
    if (!info) core::fail<core::ValueError>("comparison: ", trained_checkpoint, " is not a zoo model");
    RunContext run{data, options, options.harden, trained_checkpoint, faults::model_checksum(*trained)};
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
