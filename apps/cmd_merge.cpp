// proact merge: joins the JSON results of `proact inject --shard i/n` runs into the result of the
// whole campaign, or the --out-dir folders of `proact reproduce --shard i/n` runs into the results
// of the whole comparison: the same bytes one unsharded run writes.
//
//   proact merge shard0.json shard1.json shard2.json --json all.json --csv all.csv --plot all.svg
//   proact merge out/shard-0 out/shard-1 out/shard-2 --out-dir out    (results.*, <method>.campaign.json)
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "core/file_io.hpp"
#include "faults/campaign.hpp"
#include "faults/report.hpp"
#include "proact/comparison_shards.hpp"

namespace proact::apps {

namespace {

struct MergeCommand {
    std::vector<std::string> inputs;
    std::string csv_path, json_path, plot_path, out_dir;
    bool quiet = false;
};

// The folders of a sharded `proact reproduce`: the results one run writes into --out-dir.
void merge_reproduce(const MergeCommand& command) {
    if (command.out_dir.empty())
        core::fail<core::ValueError>("merge: the inputs are folders of proact reproduce --shard runs; give --out-dir "
                                     "for the merged results");
    if (!command.csv_path.empty() || !command.json_path.empty() || !command.plot_path.empty())
        core::fail<core::ValueError>("merge: --csv, --json and --plot are for campaign JSON files; the merged "
                                     "results of reproduce shards go to --out-dir");
    const method::MergedComparison merged = method::merge_comparison_shards(command.inputs);
    OutputPlan plan("merge");
    plan.inputs("shard", merged.sources);
    plan.output_folder("--out-dir", command.out_dir);
    for (const std::string& path : method::merged_comparison_outputs(merged, command.out_dir))
        plan.output("--out-dir", path);
    plan.check();
    method::write_merged_comparison(merged, command.out_dir);
    if (!command.quiet) std::printf("%s\n", method::results_markdown(merged.result, merged.times).c_str());
    std::printf("merged %zu shards into %s/results.{md,csv,json,svg}\n", command.inputs.size(), command.out_dir.c_str());
}

void run_merge(const MergeCommand& command) {
    size_t folders = 0;
    for (const std::string& path : command.inputs) folders += std::filesystem::is_directory(path);
    if (folders == command.inputs.size()) return merge_reproduce(command);
    if (folders > 0)
        core::fail<core::ValueError>("merge: give either campaign JSON files (inject --shard) or folders (reproduce "
                                     "--shard), not both");
    if (!command.out_dir.empty())
        core::fail<core::ValueError>("merge: --out-dir is for the folders of proact reproduce --shard runs; merged "
                                     "campaign JSON files go to --json, --csv and --plot");
    OutputPlan plan("merge");
    plan.inputs("shard", command.inputs);
    plan.output("--csv", command.csv_path);
    plan.output("--json", command.json_path);
    plan.output("--plot", command.plot_path);
    plan.check();
    std::vector<faults::CampaignResult> shards;
    for (const std::string& path : command.inputs) shards.push_back(faults::campaign_from_json(core::read_file(path), path));
    const faults::CampaignResult merged = faults::merge_shards(shards);
    if (!command.quiet) std::printf("%s", faults::campaign_table(merged).c_str());
    if (!command.csv_path.empty()) write_output(command.csv_path, faults::campaign_csv({merged}));
    if (!command.json_path.empty()) write_output(command.json_path, faults::campaign_json(merged));
    if (!command.plot_path.empty())
        write_output(command.plot_path, faults::campaign_svg({merged}, "Accuracy under bit faults, " + merged.dataset));
}

}  // namespace

void register_merge(CLI::App& app) {
    auto command = std::make_shared<MergeCommand>();
    CLI::App* sub = app.add_subcommand(
        "merge", "Join sharded runs: the JSON of inject --shard campaigns, or the folders of reproduce --shard runs");
    sub->add_option("inputs", command->inputs,
                    "JSON files written by proact inject --shard i/n --json, or the --out-dir folders of proact "
                    "reproduce --shard i/n")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("--csv", command->csv_path, "Write the merged statistics as CSV");
    sub->add_option("--json", command->json_path, "Write the merged result as JSON");
    sub->add_option("--plot", command->plot_path, "Write an SVG plot of accuracy against BER");
    sub->add_option("--out-dir", command->out_dir,
                    "Folder for the merged results of reproduce shards: results.{md,csv,json,svg} and each method's "
                    "campaign JSON");
    sub->add_flag("--quiet", command->quiet, "No table on the terminal");
    sub->callback([command] { run_merge(*command); });
}

}  // namespace proact::apps
