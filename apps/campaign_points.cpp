#include "apps/campaign_points.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/common.hpp"
#include "apps/output_paths.hpp"
#include "core/format.hpp"
#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/progress.hpp"
#include "core/rng.hpp"
#include "faults/report.hpp"
#include "train/evaluate.hpp"

namespace proact::apps {

namespace {

using Json = nlohmann::json;

constexpr const char* kPartialTag = "proact_inject_partial";

size_t point_count(const faults::CampaignOptions& options) {
    return options.fault_model.is_exact() ? options.exact_counts.size() : options.bers.size();
}

double point_rate(const faults::CampaignOptions& options, size_t p) {
    return options.fault_model.is_exact() ? double(options.exact_counts[p]) : options.bers[p];
}

void write_partial(const std::string& path, const std::string& key, const faults::CampaignResult& so_far) {
    Json partial;
    partial[kPartialTag] = 1;
    partial["key"] = Json::parse(key);
    partial["campaign"] = Json::parse(faults::campaign_json(so_far));
    core::write_file_atomically(path, partial.dump(1) + "\n");
}

// The points done so far, from a partial file of this campaign.
faults::CampaignResult read_partial(const std::string& path, const std::string& key) {
    Json partial, expected;
    try {
        partial = Json::parse(core::read_file(path));
        expected = Json::parse(key);
    } catch (const Json::exception& error) {
        core::fail<core::FormatError>("inject --resume: '", path, "' is not a partial campaign (", error.what(), ")");
    }
    if (!partial.is_object() || !partial.contains(kPartialTag) || !partial.contains("key") ||
        !partial.contains("campaign") || !partial["key"].is_object())
        core::fail<core::FormatError>("inject --resume: '", path, "' is not a partial campaign written by proact inject");
    for (const auto& [name, value] : expected.items()) {
        const Json& saved = partial["key"].contains(name) ? partial["key"][name] : Json("(none)");
        if (saved != value)
            core::fail<core::ValueError>("inject --resume: '", path, "' was written by a campaign with ", name, " ",
                                         saved.dump(), ", this one has ", value.dump(),
                                         ": resume with the same settings, or delete the file to start over");
    }
    return faults::campaign_from_json(partial["campaign"].dump(), path);
}

}  // namespace

std::string campaign_key(const std::string& model_file, const datasets::Dataset& data, const std::string& split,
                         const faults::CampaignOptions& options) {
    std::string counts;
    for (int64_t k : options.exact_counts) counts += (counts.empty() ? "" : ",") + std::to_string(k);
    const Json key = {{"model_file", core::hex64(core::hash_purpose(core::read_file(model_file)))},
                      {"images", core::hex64(faults::data_checksum(train::input_batches(data), data.labels))},
                      {"split", split},
                      {"format", options.format.to_string()},
                      {"fault_model", options.fault_model.to_string()},
                      {"bers", ber_list_text(options.bers)},
                      {"k", counts},
                      {"bit_mask", options.bit_mask},
                      {"patterns", name_list(options.patterns, ",")},
                      {"fault_thresholds", options.fault_thresholds},
                      {"trials", options.trials},
                      {"seed", std::to_string(options.seed)},
                      {"ci_margin", core::shortest(options.ci_margin)},
                      {"min_trials", options.min_trials},
                      {"shard", std::to_string(options.shard.index) + "/" + std::to_string(options.shard.count)},
                      {"purpose", options.purpose},
                      {"batch_norm", options.batch_norm},
                      {"site", options.site},
                      {"activation_layers", name_list(options.activation_layers, ",")},
                      {"label", options.label},
                      {"model", options.model_name},
                      {"dataset", options.dataset_name}};
    return key.dump();
}

faults::CampaignResult run_by_point(layers::Module& model, const datasets::Dataset& data,
                                    const faults::CampaignOptions& options, const PointwiseRun& run) {
    faults::validate_options(options);
    // Without a partial file there is nothing to resume from: the campaign runs as one.
    if (run.partial.empty()) return faults::run_campaign(model, data.images(), data.labels, options);
    faults::CampaignResult whole;
    size_t done = 0;
    const bool partial = options.progress ? announce_partial(run.partial, run.resume, "campaign", "running every point")
                                          : std::filesystem::exists(run.partial);
    if (run.resume && partial) {
        whole = read_partial(run.partial, run.key);
        done = whole.points.size();
        for (size_t p = 0; p < done; ++p)
            if (p >= point_count(options) || whole.points[p].rate != point_rate(options, p))
                core::fail<core::FormatError>("inject --resume: '", run.partial, "' holds point ", p, " at rate ",
                                              whole.points[p].rate, ", not one of this campaign's in order");
        if (options.progress)
            std::fprintf(stderr, "resuming from %s: %zu of %zu points done\n", run.partial.c_str(), done,
                         point_count(options));
    }
    if (done > 0 && done == point_count(options)) return whole;
    // One set-up (the fault-free pass, the stage cache, the probe) for the points still to run.
    const auto start = std::chrono::steady_clock::now();
    faults::Campaign campaign(model, data.images(), data.labels, options);
    if (done == 0) whole = campaign.settings_result();
    const size_t count = point_count(options);
    const int64_t shard_trials = (options.trials - options.shard.index + options.shard.count - 1) / options.shard.count;
    core::ProgressBar bar("inject", shard_trials * static_cast<int64_t>(count - done), options.progress);
    bar.set_unit("trials/s");
    int64_t trials_done = 0;
    for (size_t p = done; p < count; ++p) {
        whole.points.push_back(campaign.run_point(p, whole, bar, trials_done));
        // A partial file of version 3 (before SDC counts) is continued as it was written: without.
        if (!whole.outcomes) whole.points.back().sdc.clear();
        trials_done = shard_trials * static_cast<int64_t>(p + 1 - done);
        faults::recompute_stats(whole);  // the partial file carries each point's statistics
        write_partial(run.partial, run.key, whole);
    }
    bar.finish();
    whole.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    whole.setup_seconds = campaign.setup_seconds();
    whole.cached_bytes = campaign.cached_bytes();
    whole.batch_size = campaign.batch_size();
    return whole;
}

}  // namespace proact::apps
