// proact vuln: a layer x bit vulnerability map of a checkpoint (faults/vulnerability.hpp).
//
//   proact vuln --model-file m.safetensors --dataset fashion-mnist --format q15.16 --images 1000
//               --margin 0.05 --confidence 0.95 --seed 0 --out-dir vuln
//   proact vuln ... --targets features.0.weight --exhaustive      # every site: the ground truth
//
// Strata are (target tensor, bit); each gets its injections from statistics (Leveugle's sample
// size, or --sequential Wilson stopping) or all of its sites (--exhaustive). Writes map.csv,
// map.json, map.svg (the heatmap) and summary.md (the layers to protect first) into --out-dir. A
// hardened checkpoint's thresholds and guard bounds are strata of their own.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "datasets/registry.hpp"
#include "faults/campaign.hpp"
#include "faults/vulnerability.hpp"
#include "faults/vulnerability_report.hpp"
#include "layers/fold_batchnorm.hpp"

namespace proact::apps {

namespace {

struct VulnCommand {
    CommonOptions common;
    std::string model_file;
    std::string dataset = "fashion-mnist";
    std::string format = "q15.16";
    std::string batch_norm = "fold";
    int64_t images = 1000;
    std::vector<std::string> patterns;
    std::string bits = "all";
    int64_t k = 1;
    double margin = 0.05;
    double confidence = 0.95;
    bool sequential = false;
    bool exhaustive = false;
    int64_t batch_size = 0;
    std::string out_dir;
    std::string label;
    bool no_threshold_faults = false;
    bool allow_nonfinite = false;
};

const char* const kOutputs[] = {"map.csv", "map.json", "map.svg", "summary.md"};

std::string output_file(const VulnCommand& command, const char* name) {
    return (std::filesystem::path(command.out_dir) / name).string();
}

void run_vuln(const VulnCommand& command) {
    apply_common_options(command.common);
    // Every setting is checked before the model and data are loaded.
    faults::CampaignOptions campaign_options;
    campaign_options.format = faults::StorageFormat::parse(command.format);
    campaign_options.patterns = command.patterns;
    campaign_options.fault_thresholds = !command.no_threshold_faults;
    campaign_options.seed = command.common.seed;
    campaign_options.batch_size = command.batch_size;
    campaign_options.progress = false;
    campaign_options.dataset_name = command.dataset;
    campaign_options.batch_norm = command.batch_norm;
    faults::VulnerabilityOptions options;
    options.bits = faults::parse_bit_list(command.bits, campaign_options.format);
    options.k = command.k;
    options.mode = command.exhaustive   ? faults::SampleMode::exhaustive
                   : command.sequential ? faults::SampleMode::sequential
                                        : faults::SampleMode::margin;
    options.margin = command.margin;
    options.confidence = command.confidence;
    options.seed = command.common.seed;
    options.progress = !command.common.quiet;
    faults::validate_vulnerability_options(options, campaign_options.format);
    OutputPlan plan("vuln");
    plan.input("--model-file", command.model_file);
    plan.data_set(command.dataset, command.common.data_dir);
    plan.output_folder("--out-dir", command.out_dir);
    for (const char* name : kOutputs) plan.output("--out-dir", output_file(command, name));
    plan.check();

    const LoadedModel loaded = load_model_file(command.model_file);
    if (!command.allow_nonfinite) refuse_non_finite(loaded, "vuln");
    campaign_options.model_name = loaded.name;
    if (command.batch_norm == "fold" && layers::fold_batch_norm(*loaded.model) > 0)
        std::printf("batch norm folded into the convolutions (--batch-norm keep: a fault-free stage)\n");
    std::vector<faults::FaultTarget> targets =
        faults::select_targets(*loaded.model, campaign_options.patterns, campaign_options.fault_thresholds);
    const datasets::Dataset test = load_split_for(loaded, "vuln", command.dataset, "test", command.common);
    const datasets::Dataset data = evaluation_subset(test, command.images, command.common.seed);
    if (data.size() < test.size())
        std::printf("evaluating on %lld of the %lld test images (--images)\n", static_cast<long long>(data.size()),
                    static_cast<long long>(test.size()));
    quantise_and_report(targets, campaign_options.format);

    faults::Campaign campaign(*loaded.model, data.images(), data.labels, campaign_options);
    const faults::VulnerabilityMap map = faults::run_vulnerability(campaign, options);
    const std::string summary = faults::vulnerability_summary(map);
    std::printf("\n%s\n", summary.c_str());
    std::printf("%lld injections in %.2f s: %.1f injections per second (set-up %.2f s; %zu strata, %lld images)\n",
                static_cast<long long>(map.injections), map.seconds,
                map.seconds > 0.0 ? double(map.injections) / map.seconds : 0.0, campaign.setup_seconds(),
                map.strata.size(), static_cast<long long>(map.samples));
    const std::string title = (command.label.empty() ? loaded.name + " " + map.format : command.label) +
                              ": SDC rate per tensor and stored bit";
    write_output(output_file(command, "map.csv"), faults::vulnerability_csv(map));
    write_output(output_file(command, "map.json"), faults::vulnerability_json(map));
    write_output(output_file(command, "map.svg"), faults::vulnerability_svg(map, title));
    write_output(output_file(command, "summary.md"), summary);
}

}  // namespace

void register_vuln(CLI::App& app) {
    auto command = std::make_shared<VulnCommand>();
    CLI::App* sub = app.add_subcommand(
        "vuln", "Vulnerability map: SDC rate and accuracy drop per (tensor, bit), the layers to protect first");
    sub->add_option("--model-file", command->model_file, "Checkpoint (safetensors), plain or hardened")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--dataset", command->dataset, "Data set: " + name_list(datasets::dataset_names()))
        ->capture_default_str();
    sub->add_option("--format", command->format, std::string("Storage format: ") + faults::kStorageFormatNames)
        ->check(storage_format_flag())
        ->capture_default_str();
    sub->add_option("--batch-norm", command->batch_norm,
                    "fold: batch norm folded into the convolutions before quantisation | keep: a fault-free stage")
        ->check(CLI::IsMember({"fold", "keep"}))
        ->capture_default_str();
    sub->add_option("--images", command->images, "Evaluate on a seeded subset of the test split (0: all)")
        ->check(whole_number(0, kMaxImages))
        ->capture_default_str();
    sub->add_option("--targets", command->patterns,
                    "Target parameters by glob, comma-separated or repeated; default: conv/linear weights and "
                    "biases, clipping thresholds and guard bounds")
        ->delimiter(',');
    sub->add_flag("--no-threshold-faults", command->no_threshold_faults,
                  "Leave the clipping thresholds and range-guard bounds of a hardened model out");
    sub->add_option("--bits", command->bits,
                    "Bit positions of the stored word: all, positions and ranges (0-7,31) or names (sign, exponent, "
                    "mantissa, integer, fraction), comma-separated")
        ->capture_default_str();
    sub->add_option("--k", command->k, "Sites flipped per injection, all in one stratum")
        ->check(whole_number(1, 1'000'000))
        ->capture_default_str();
    sub->add_option("--margin", command->margin,
                    "Error margin of each stratum's SDC rate, as a proportion (0.05: ± 5 points): Leveugle's "
                    "sample size, or the --sequential stopping width")
        ->check(number_in(1e-6, 0.5))
        ->capture_default_str();
    sub->add_option("--confidence", command->confidence, "Confidence of the margin and of the Wilson intervals")
        ->check(number_in(0.5, 0.999999))
        ->capture_default_str();
    CLI::Option* sequential = sub->add_flag(
        "--sequential", command->sequential,
        "Inject each stratum's sites one by one until the Wilson interval's half-width reaches --margin");
    sub->add_flag("--exhaustive", command->exhaustive, "Inject every site of every stratum (k = 1): the ground truth")
        ->excludes(sequential);
    sub->add_option("--batch-size", command->batch_size, "Inference batch size (0: automatic)")
        ->check(whole_number(0, kMaxBatchSize))
        ->capture_default_str();
    sub->add_option("--label", command->label, "Name of the model in the heatmap's title (default: model and format)");
    sub->add_option("--out-dir", command->out_dir, "Folder for map.csv, map.json, map.svg and summary.md")
        ->required();
    sub->add_flag("--allow-nonfinite", command->allow_nonfinite,
                  "Run on a checkpoint whose weights hold NaN or Inf (refused otherwise)");
    add_common_options(*sub, command->common);
    sub->callback([command] { run_vuln(*command); });
}

}  // namespace proact::apps
