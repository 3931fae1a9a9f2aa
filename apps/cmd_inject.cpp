// proact inject: a bit-flip fault campaign on a checkpoint, with statistics, CSV/JSON and a plot.
//
//   proact inject --model-file m.safetensors --dataset fashion-mnist --format q15.16
//                 --ber 1e-6,1e-5 --trials 100 --seed 0 --csv out.csv --json out.json --plot out.svg
//
// A format other than float32 first quantises the fault targets to that format (once); faults then
// hit the stored words (16-bit floats, integer codes, int8 codes and each tensor's scale). --shard i/n runs trials i, i+n, ... for `proact merge`. A hardened
// checkpoint loads like any other; its thresholds are targets too unless --no-threshold-faults.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/campaign_points.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "core/file_io.hpp"
#include "datasets/registry.hpp"
#include "faults/campaign.hpp"
#include "faults/paired_comparison.hpp"
#include "faults/report.hpp"
#include "faults/storage_format.hpp"
#include "layers/fold_batchnorm.hpp"

namespace proact::apps {

namespace {

struct InjectCommand {
    CommonOptions common;
    std::string model_file;
    std::string dataset = "fashion-mnist";
    std::string split = "test";
    std::string format = "q15.16";
    std::string bers = ber_list_text(faults::default_bers());
    std::string fault_model = "ber";
    std::vector<int64_t> exact_counts = {1};
    std::string bit_mask = "all";
    std::vector<std::string> patterns;
    int64_t trials = 100;
    double ci_margin = 0.0;
    std::string shard = "0/1";
    int64_t batch_size = 0;
    std::string label;
    std::string batch_norm = "fold";
    FaultSiteFlags sites;
    std::string csv_path, json_path, plot_path, fault_log_path;
    std::vector<std::string> plot_with;
    std::vector<std::string> compare_with;
    std::string compare_csv_path;
    bool no_stage_cache = false;
    bool no_reuse = false;
    bool no_threshold_faults = false;
    bool allow_nonfinite = false;
    bool resume = false;
};

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<faults::CampaignResult> read_campaigns(const std::vector<std::string>& paths) {
    std::vector<faults::CampaignResult> campaigns;
    for (const std::string& path : paths) campaigns.push_back(faults::campaign_from_json(core::read_file(path), path));
    return campaigns;
}

// This campaign minus each baseline, trial by trial (faults/paired_comparison.hpp).
void print_comparisons(const faults::CampaignResult& result, const std::vector<faults::CampaignResult>& baselines,
                       const std::string& csv_path) {
    std::vector<faults::PairedComparison> comparisons;
    for (const faults::CampaignResult& baseline : baselines) {
        comparisons.push_back(faults::compare_paired(result, baseline));
        std::printf("%s", faults::paired_table(comparisons.back()).c_str());
    }
    if (!csv_path.empty()) write_output(csv_path, faults::paired_csv(comparisons));
}

void run_inject(const InjectCommand& command) {
    apply_common_options(command.common);
    // Every setting is checked before the model and data are loaded.
    faults::CampaignOptions options;
    options.format = faults::StorageFormat::parse(command.format);
    options.fault_model = faults::FaultModelSpec::parse(command.fault_model);
    options.bers = faults::parse_ber_list(command.bers);
    options.exact_counts = command.exact_counts;
    options.bit_mask = command.bit_mask;
    options.patterns = command.patterns;
    options.fault_thresholds = !command.no_threshold_faults;
    options.trials = command.trials;
    options.seed = command.common.seed;
    options.ci_margin = command.ci_margin;
    options.shard = faults::parse_shard(command.shard);
    options.batch_size = command.batch_size;
    options.stage_cache = !command.no_stage_cache;
    options.reuse_fault_free = !command.no_reuse;
    options.progress = !command.common.quiet;
    options.log_faults = !command.fault_log_path.empty();
    options.dataset_name = command.dataset;
    options.label = command.label;
    options.batch_norm = command.batch_norm;
    options.site = command.sites.site;
    options.activation_layers = command.sites.activation_layers;
    faults::validate_options(options);
    OutputPlan plan("inject");
    plan.input("--model-file", command.model_file);
    plan.data_set(command.dataset, command.common.data_dir);
    plan.inputs("--plot-with", command.plot_with);
    plan.inputs("--compare-with", command.compare_with);
    plan.output("--csv", command.csv_path);
    plan.output("--json", command.json_path);
    plan.output("--plot", command.plot_path);
    plan.output("--log-faults", command.fault_log_path);
    plan.output("--compare-csv", command.compare_csv_path);
    if (!command.json_path.empty()) plan.output("--json (its partial campaign)", partial_path(command.json_path));
    plan.check();
    const std::vector<faults::CampaignResult> others = read_campaigns(command.plot_with);
    const std::vector<faults::CampaignResult> baselines = read_campaigns(command.compare_with);

    const LoadedModel loaded = load_model_file(command.model_file);
    if (!command.allow_nonfinite) refuse_non_finite(loaded, "inject");
    options.model_name = loaded.name;
    // As a deployment stores the model: batch norm folded into the convolutions before the weights
    // are put on the storage grid (a checkpoint folded already has none left to fold).
    if (command.batch_norm == "fold" && layers::fold_batch_norm(*loaded.model) > 0)
        std::printf("batch norm folded into the convolutions (--batch-norm keep: a fault-free stage)\n");
    // Targets first: a pattern that matches nothing fails before the data set is read.
    std::vector<faults::FaultTarget> targets =
        faults::select_targets(*loaded.model, options.patterns, options.fault_thresholds);
    const datasets::Dataset data = load_split_for(loaded, "inject", command.dataset, command.split, command.common);
    quantise_and_report(targets, options.format);
    if (command.batch_size > 0)
        note_memory_request("--batch-size", "batches of " + std::to_string(command.batch_size) + " images of " +
                                                core::shape_str(data.sample_shape()) + " (inputs alone)",
                            double(command.batch_size) * double(core::numel_of(data.sample_shape())) * 4.0);
    // With --json the campaign so far is kept in JSON.partial after every point, for --resume.
    const PointwiseRun run{command.json_path.empty() ? "" : partial_path(command.json_path), command.resume,
                           campaign_key(command.model_file, data, command.split, options)};
    const faults::CampaignResult result = run_by_point(*loaded.model, data, options, run);
    std::printf("%s", faults::campaign_table(result).c_str());
    const int64_t trials_run = result.trials_evaluated + result.trials_reused;
    std::printf("%lld trials in %.2f s (%.1f ms per trial; %lld evaluated, %lld changed no bit and reused the "
                "fault-free result; stage cache %.1f MB)\n",
                static_cast<long long>(trials_run), result.seconds,
                trials_run ? 1000.0 * result.seconds / double(trials_run) : 0.0,
                static_cast<long long>(result.trials_evaluated), static_cast<long long>(result.trials_reused),
                double(result.cached_bytes) / 1e6);

    std::vector<faults::CampaignResult> plotted = {result};
    plotted.insert(plotted.end(), others.begin(), others.end());
    if (!command.csv_path.empty()) write_output(command.csv_path, faults::campaign_csv({result}));
    if (!command.json_path.empty()) write_output(command.json_path, faults::campaign_json(result));
    if (!command.plot_path.empty())
        write_output(command.plot_path, faults::campaign_svg(plotted, "Accuracy under bit faults, " + result.dataset));
    if (!command.fault_log_path.empty())
        write_output(command.fault_log_path,
                     ends_with(command.fault_log_path, ".json") ? faults::fault_log_json(result.fault_log, options.format)
                                                                : faults::fault_log_csv(result.fault_log),
                     std::to_string(result.fault_log.size()) + " faults");
    if (!run.partial.empty()) {
        std::error_code ignored;  // the JSON holds every point now; a stale partial is only resumed
        std::filesystem::remove(run.partial, ignored);
    }
    // Last: a baseline of other settings fails here, after this campaign's own files are written.
    print_comparisons(result, baselines, command.compare_csv_path);
}

}  // namespace

void register_inject(CLI::App& app) {
    auto command = std::make_shared<InjectCommand>();
    CLI::App* sub = app.add_subcommand("inject", "Bit-flip fault campaign: accuracy against bit error rate");
    sub->add_option("--model-file", command->model_file, "Checkpoint (safetensors) written by proact train")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--dataset", command->dataset, "Data set: " + name_list(datasets::dataset_names()))->capture_default_str();
    sub->add_option("--split", command->split, "train | test")->check(CLI::IsMember({"train", "test"}))->capture_default_str();
    sub->add_option("--format", command->format, std::string("Storage format: ") + faults::kStorageFormatNames)
        ->check(storage_format_flag())
        ->capture_default_str();
    sub->add_option("--batch-norm", command->batch_norm,
                    "fold: batch norm folded into the convolutions before quantisation, as deployed | keep: a "
                    "fault-free stage (the toolbox's setting); the campaign JSON records which")
        ->check(CLI::IsMember({"fold", "keep"}))
        ->capture_default_str();
    add_fault_site_options(*sub, command->sites);
    sub->add_option("--ber", command->bers, "Comma-separated bit error rates in [0, 1]")
        ->check(ber_list_flag())
        ->capture_default_str();
    sub->add_option("--fault-model", command->fault_model,
                    std::string("How faults are counted and what they do: ") + faults::FaultModelSpec::names() +
                        " (ber-floor: the toolbox's floor(values x bits x BER) per tensor, with repetition)")
        ->check(parsed_by([](const std::string& text) { (void)faults::FaultModelSpec::parse(text); }, "MODEL"))
        ->capture_default_str();
    sub->add_option("--k", command->exact_counts, "Faulty bits per tensor for --fault-model exact (comma-separated)")
        ->delimiter(',')
        ->check(whole_number(0, kMaxImages))
        ->capture_default_str();
    sub->add_option("--bit-mask", command->bit_mask,
                    "Bit positions that may be hit: all, sign, exponent, mantissa (float32, bf16, fp16), integer, "
                    "fraction (Qm.n) or positions, comma-separated; int8 scales are hit only under 'all'")
        ->capture_default_str();
    sub->add_option("--pattern", command->patterns,
                    "Target parameters by glob (repeatable); default: conv/linear weights and biases and "
                    "every clipping threshold");
    sub->add_flag("--no-threshold-faults", command->no_threshold_faults,
                  "Leave the clipping thresholds and range-guard bounds of a hardened model out of the targets");
    sub->add_option("--trials", command->trials, "Trials per rate (the most with --ci-margin)")
        ->check(whole_number(1, kMaxTrials))
        ->capture_default_str();
    sub->add_option("--ci-margin", command->ci_margin,
                    "Stop a rate once the 95% CI of the mean accuracy is within ± this many points (at least 10 "
                    "trials)")
        ->check(non_negative_number());
    sub->add_option("--shard", command->shard, "Run trials i, i+n, ... of the campaign (i/n); join with proact merge")
        ->check(parsed_by([](const std::string& text) { (void)faults::parse_shard(text); }, "i/n"))
        ->capture_default_str();
    sub->add_option("--batch-size", command->batch_size,
                    "Inference batch size (0: automatic, the whole set in batches of at most 4 MB of activations)")
        ->check(whole_number(0, kMaxBatchSize))
        ->capture_default_str();
    sub->add_option("--label", command->label, "Name of this campaign in plots (default: model and format)");
    sub->add_option("--csv", command->csv_path, "Write the statistics as CSV");
    CLI::Option* json =
        sub->add_option("--json", command->json_path, "Write the full result (with per-trial accuracies) as JSON");
    sub->add_option("--plot", command->plot_path, "Write an SVG plot of accuracy against BER");
    sub->add_option("--plot-with", command->plot_with, "Campaign JSON files to draw in the same plot (repeatable)")
        ->check(CLI::ExistingFile);
    sub->add_option("--compare-with", command->compare_with,
                    "Campaign JSON files of the same settings (seed, format, fault model, rates, trials) on another "
                    "model: print this campaign's accuracy minus theirs, trial by trial, with a 95% CI (repeatable)")
        ->check(CLI::ExistingFile);
    sub->add_option("--compare-csv", command->compare_csv_path, "Write the --compare-with differences as CSV");
    CLI::Option* log_faults =
        sub->add_option("--log-faults", command->fault_log_path, "Write every injected fault (CSV, or JSON if *.json)");
    sub->add_flag("--allow-nonfinite", command->allow_nonfinite,
                  "Run on a checkpoint whose weights hold NaN or Inf (refused otherwise)");
    sub->add_flag("--resume", command->resume,
                  "Continue an interrupted campaign from JSON.partial (written after every BER): the files are the "
                  "ones an uninterrupted run writes, byte for byte")
        ->needs(json)
        ->excludes(log_faults);
    sub->add_flag("--no-stage-cache", command->no_stage_cache, "Run the whole model in every trial (for checking)")
        ->group("");
    sub->add_flag("--no-reuse", command->no_reuse, "Evaluate fault-free trials again (for checking)")->group("");
    add_common_options(*sub, command->common);
    sub->callback([command] { run_inject(*command); });
}

}  // namespace proact::apps
