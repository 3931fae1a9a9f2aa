// A sharded comparison's manifest and the merge of the shards' folders (comparison_shards.hpp).
#include "proact/comparison_shards.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"

namespace proact::method {

namespace {

using Json = nlohmann::json;

constexpr const char* kTag = "proact_reproduce_shard";
constexpr size_t kMaxText = 1 << 16;
constexpr int64_t kMaxCount = int64_t(1) << 40;

// Everything the result files depend on besides the campaigns and the per-model figures; two
// shards of one run hold the same object.
Json settings_of(const ShardManifest& manifest) {
    const ComparisonResult& result = manifest.result;
    return {{"model", result.model},
            {"dataset", result.dataset},
            {"format", result.format},
            {"seed", result.seed},
            {"samples", result.samples},
            {"bers", result.bers},
            {"methods", result.methods},
            {"trials", manifest.trials},
            {"replicates", result.replicates.size()},
            {"batch_norm", result.batch_norm},
            {"tolerance_reference", result.tolerance_reference},
            {"site", result.site},
            {"ftclipact_search_bers", result.ftclipact_search_bers},
            {"times", manifest.times}};
}

// One shard's folder and its manifest.
struct Manifest {
    std::string dir, path;
    ShardManifest content;
};

std::vector<double> read_rates(const core::JsonFields& fields, const char* key) {
    std::vector<double> rates;
    for (const Json& value : fields.array(key, 1000)) {
        if (!value.is_number() || !(value.get<double>() > 0.0 && value.get<double>() <= 1.0))
            core::fail<core::FormatError>(fields.where(key), " holds ", core::excerpt(value.dump()),
                                          ", expected rates in (0, 1]");
        rates.push_back(value.get<double>());
    }
    return rates;
}

Manifest read_manifest(const std::string& dir) {
    Manifest manifest;
    manifest.dir = dir;
    manifest.path = (std::filesystem::path(dir) / kShardManifest).string();
    if (!std::filesystem::exists(manifest.path))
        core::fail<core::IoError>("merge: '", dir, "' holds no ", kShardManifest,
                                  ": give the --out-dir of each `proact reproduce --shard i/n` run");
    manifest.content = parse_shard_manifest(core::read_file(manifest.path), manifest.path);
    return manifest;
}

[[noreturn]] void differ(const Manifest& first, const Manifest& shard, const std::string& what,
                         const std::string& value_first, const std::string& value_shard) {
    core::fail<core::ValueError>("merge: shard '", shard.dir, "' (", shard.content.shard.to_string(), ") differs from '",
                                 first.dir, "' (", first.content.shard.to_string(), ") in its ", what, " (", value_shard,
                                 " against ", value_first, "); only shards of one reproduce run can be merged");
}

// ValueError naming the first setting, trained model or hardened model in which `shard` differs.
void check_same_run(const Manifest& first, const Manifest& shard) {
    if (shard.content.shard.count != first.content.shard.count)
        differ(first, shard, "shard count", std::to_string(first.content.shard.count), std::to_string(shard.content.shard.count));
    const Json settings = settings_of(shard.content), expected = settings_of(first.content);
    for (const auto& [name, value] : expected.items())
        if (settings.at(name) != value) differ(first, shard, name, value.dump(), settings.at(name).dump());
    for (size_t r = 0; r < first.content.result.replicates.size(); ++r) {
        const ReplicateResult& a = first.content.result.replicates[r];
        const ReplicateResult& b = shard.content.result.replicates[r];
        const std::string which = first.content.result.replicates.size() > 1 ? "replicate " + std::to_string(r) + "'s " : "";
        if (a.seed != b.seed) differ(first, shard, which + "training seed", std::to_string(a.seed), std::to_string(b.seed));
        if (a.trained_checksum != b.trained_checksum)
            differ(first, shard, which + "trained model (checksum)", faults::checksum_hex(a.trained_checksum),
                   faults::checksum_hex(b.trained_checksum));
        for (size_t m = 0; m < a.methods.size(); ++m) {
            const MethodOutcome& x = a.methods[m];
            const MethodOutcome& y = b.methods[m];
            if (x.report.settings != y.report.settings)
                differ(first, shard, which + x.method + " settings", x.report.settings, y.report.settings);
            if (x.hardened_checksum != y.hardened_checksum)
                differ(first, shard, which + "hardened " + x.method + " model (checksum)",
                       faults::checksum_hex(x.hardened_checksum), faults::checksum_hex(y.hardened_checksum));
        }
    }
}

}  // namespace

ShardManifest parse_shard_manifest(std::string_view text, const std::string& source) {
    ShardManifest manifest;
    const Json json = core::parse_json(text, source);
    if (!json.is_object() || !json.contains(kTag))
        core::fail<core::FormatError>(source, " is not a shard manifest written by proact reproduce --shard");
    const core::JsonFields top{source, json};
    top.integer(kTag, 1, 1);
    manifest.shard = top.parsed("shard", 32, [](const std::string& text) { return faults::parse_shard(text); });
    const Json& settings_json = top.get("settings");
    if (!settings_json.is_object()) core::fail<core::FormatError>(top.where("settings"), " is not an object");
    const core::JsonFields settings{source, settings_json, "settings."};
    ComparisonResult& result = manifest.result;
    result.model = settings.text("model", kMaxText);
    result.dataset = settings.text("dataset", kMaxText);
    result.format = settings.text("format", kMaxText);
    result.seed = settings.unsigned_integer("seed");
    result.samples = settings.integer("samples", 1, kMaxCount);
    result.bers = read_rates(settings, "bers");
    if (result.bers.empty()) core::fail<core::FormatError>(settings.where("bers"), " is empty");
    result.methods = settings.texts("methods", 64, kMaxText);
    // The names become file names: only the registry's, each once.
    if (result.methods.empty()) core::fail<core::FormatError>(settings.where("methods"), " is empty");
    for (size_t m = 0; m < result.methods.size(); ++m) {
        const std::string& name = result.methods[m];
        if (std::find(result.methods.begin(), result.methods.begin() + long(m), name) != result.methods.begin() + long(m))
            core::fail<core::FormatError>(settings.where("methods"), " names '", core::excerpt(name), "' twice");
        try {
            find_method(name);
        } catch (const core::ValueError&) {
            core::fail<core::FormatError>(settings.where("methods"), " names '", core::excerpt(name),
                                          "', not a method of proact: ", method_names());
        }
    }
    manifest.trials = settings.integer("trials", 1, kMaxCount);
    result.batch_norm = settings.text("batch_norm", kMaxText);
    result.tolerance_reference = settings.text("tolerance_reference", kMaxText);
    result.site = settings.text("site", kMaxText);
    result.ftclipact_search_bers = settings.text("ftclipact_search_bers", kMaxText);
    manifest.times = settings.boolean("times");
    const Json& replicates = top.array("replicates", 100);
    const int64_t replicate_count = settings.integer("replicates", 1, 100);
    if (int64_t(replicates.size()) != replicate_count)
        core::fail<core::FormatError>(top.where("replicates"), " holds ", replicates.size(),
                                      " entries, settings.replicates says ", replicate_count);
    for (size_t r = 0; r < replicates.size(); ++r) {
        const core::JsonFields row{source, replicates[r], "replicates[" + std::to_string(r) + "]."};
        ReplicateResult replicate;
        replicate.seed = row.unsigned_integer("seed");
        replicate.trained_checksum = row.parsed("trained_checksum", 32, faults::parse_checksum_hex);
        replicate.trained_accuracy = row.number("trained_accuracy", 0.0, 100.0);
        const Json& methods = row.array("methods", 64);
        if (methods.size() != result.methods.size())
            core::fail<core::FormatError>(row.where("methods"), " holds ", methods.size(), " methods, expected ",
                                          result.methods.size());
        for (size_t m = 0; m < methods.size(); ++m) {
            const core::JsonFields entry{source, methods[m], row.prefix + "methods[" + std::to_string(m) + "]."};
            MethodOutcome outcome;
            outcome.method = entry.text("method", kMaxText);
            if (outcome.method != result.methods[m])
                core::fail<core::FormatError>(entry.where("method"), " is '", outcome.method, "', expected '",
                                              result.methods[m], "'");
            outcome.hardened_checksum = entry.parsed("hardened_checksum", 32, faults::parse_checksum_hex);
            outcome.report.thresholds = entry.integer("thresholds", 0, kMaxCount);
            outcome.report.guards = entry.integer("guards", 0, kMaxCount);
            outcome.report.seconds = entry.number("seconds", 0.0, 1e12);
            outcome.report.settings = entry.text("settings", kMaxText);
            outcome.report.clean_accuracy = entry.number("clean_accuracy", 0.0, 100.0);
            replicate.methods.push_back(std::move(outcome));
        }
        result.replicates.push_back(std::move(replicate));
    }
    return manifest;
}

std::string shard_manifest_json(const ShardManifest& manifest) {
    Json replicates = Json::array();
    for (const ReplicateResult& replicate : manifest.result.replicates) {
        Json methods = Json::array();
        for (const MethodOutcome& outcome : replicate.methods)
            methods.push_back({{"method", outcome.method},
                               {"hardened_checksum", faults::checksum_hex(outcome.hardened_checksum)},
                               {"thresholds", outcome.report.thresholds},
                               {"guards", outcome.report.guards},
                               {"seconds", manifest.times ? outcome.report.seconds : 0.0},
                               {"settings", outcome.report.settings},
                               {"clean_accuracy", outcome.report.clean_accuracy}});
        replicates.push_back({{"seed", replicate.seed},
                              {"trained_checksum", faults::checksum_hex(replicate.trained_checksum)},
                              {"trained_accuracy", replicate.trained_accuracy},
                              {"methods", methods}});
    }
    const Json json = {{kTag, 1},
                       {"shard", manifest.shard.to_string()},
                       {"settings", settings_of(manifest)},
                       {"replicates", replicates}};
    return json.dump(1) + "\n";
}

void write_shard_manifest(const ComparisonResult& result, const ComparisonOptions& options) {
    const ShardManifest manifest{options.campaign.shard, options.campaign.trials, options.times, result};
    core::write_file_atomically((std::filesystem::path(options.out_dir) / kShardManifest).string(),
                                shard_manifest_json(manifest));
}

MergedComparison merge_comparison_shards(const std::vector<std::string>& dirs) {
    if (dirs.empty()) core::fail<core::ValueError>("merge: no shard folders given");
    std::vector<Manifest> shards;
    for (const std::string& dir : dirs) shards.push_back(read_manifest(dir));
    std::sort(shards.begin(), shards.end(),
              [](const Manifest& a, const Manifest& b) { return a.content.shard.index < b.content.shard.index; });
    const Manifest& first = shards.front();
    for (const Manifest& shard : shards) check_same_run(first, shard);
    for (size_t i = 0; i < shards.size(); ++i) {
        if (i + 1 < shards.size() && shards[i + 1].content.shard.index == shards[i].content.shard.index)
            core::fail<core::ValueError>("merge: shard ", shards[i].content.shard.to_string(), " is given twice ('",
                                         shards[i].dir, "', '", shards[i + 1].dir, "')");
        if (shards[i].content.shard.index != int(i))
            core::fail<core::ValueError>("merge: the folders hold shards of a ", first.content.shard.count,
                                         "-shard run; shard ", i, "/", first.content.shard.count, " is missing");
    }
    if (int(shards.size()) != first.content.shard.count)
        core::fail<core::ValueError>("merge: the folders hold shards of a ", first.content.shard.count, "-shard run, ",
                                     shards.size(), " given; shard ", shards.size(), "/", first.content.shard.count,
                                     " is missing");

    MergedComparison merged;
    merged.result = first.content.result;
    merged.times = first.content.times;
    const size_t replicates = merged.result.replicates.size();
    for (const Manifest& shard : shards) merged.sources.push_back(shard.path);
    for (size_t r = 0; r < replicates; ++r)
        for (MethodOutcome& outcome : merged.result.replicates[r].methods) {
            std::vector<faults::CampaignResult> parts;
            for (const Manifest& shard : shards) {
                const std::string path =
                    method_files(replicate_dir(shard.dir, r, replicates), outcome.method).campaign;
                parts.push_back(faults::campaign_from_json(core::read_file(path), path));
                if (parts.back().label != outcome.method)
                    core::fail<core::ValueError>("merge: '", path, "' is the campaign of '", parts.back().label,
                                                 "', not of ", outcome.method);
                merged.sources.push_back(path);
            }
            outcome.campaign = faults::merge_shards(parts);
        }
    return merged;
}

std::vector<std::string> merged_comparison_outputs(const MergedComparison& merged, const std::string& out_dir) {
    std::vector<std::string> outputs;
    const size_t replicates = merged.result.replicates.size();
    for (size_t r = 0; r < replicates; ++r)
        for (const std::string& method : merged.result.methods)
            outputs.push_back(method_files(replicate_dir(out_dir, r, replicates), method).campaign);
    for (const char* name : {"results.md", "results.csv", "results.json", "results.svg"})
        outputs.push_back((std::filesystem::path(out_dir) / name).string());
    return outputs;
}

void write_merged_comparison(const MergedComparison& merged, const std::string& out_dir) {
    const size_t replicates = merged.result.replicates.size();
    for (size_t r = 0; r < replicates; ++r)
        for (const MethodOutcome& outcome : merged.result.replicates[r].methods)
            core::write_file_atomically(method_files(replicate_dir(out_dir, r, replicates), outcome.method).campaign,
                                        faults::campaign_json(outcome.campaign));
    ComparisonOptions options;
    options.out_dir = out_dir;
    options.times = merged.times;
    write_comparison_files(merged.result, options);
}

}  // namespace proact::method
