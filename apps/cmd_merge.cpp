// proact merge: joins the JSON results of `proact inject --shard i/n` runs into the result of the
// whole campaign, the same bytes one unsharded run writes.
//
//   proact merge shard0.json shard1.json shard2.json --json all.json --csv all.csv --plot all.svg
#include <cstdio>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "core/file_io.hpp"
#include "faults/campaign.hpp"
#include "faults/report.hpp"

namespace proact::apps {

namespace {

struct MergeCommand {
    std::vector<std::string> inputs;
    std::string csv_path, json_path, plot_path;
    bool quiet = false;
};

void run_merge(const MergeCommand& command) {
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
    CLI::App* sub = app.add_subcommand("merge", "Join the JSON results of sharded fault campaigns (inject --shard)");
    sub->add_option("inputs", command->inputs, "JSON files written by proact inject --shard i/n --json")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--csv", command->csv_path, "Write the merged statistics as CSV");
    sub->add_option("--json", command->json_path, "Write the merged result as JSON");
    sub->add_option("--plot", command->plot_path, "Write an SVG plot of accuracy against BER");
    sub->add_flag("--quiet", command->quiet, "No table on the terminal");
    sub->callback([command] { run_merge(*command); });
}

}  // namespace proact::apps
