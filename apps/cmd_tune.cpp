// proact tune: score settings of one method on the validation split under "tuning" faults.
//
//   proact tune --method proact --model-file m.safetensors --dataset fashion-mnist
//               --grid tolerance=0.5,1,1.5 --grid lr_scalar=0.01,0.003 --ber 1e-5,1e-4,3e-4 --trials 10 --out-dir tune
//
// The command binds flags and calls proact/tuning.hpp: every setting of the grid hardened with the
// registry's method (the other settings from the same flags as harden and reproduce), judged on
// the checkpoint's own validation split (its recorded seed and fraction) with fault purpose
// "tuning", never on the test images or the faults of a reported campaign. Prints the table and the
// best setting; writes DIR/tune.{md,csv,json}.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/method_flags.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "datasets/split.hpp"
#include "faults/storage_format.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "proact/comparison.hpp"
#include "proact/tuning.hpp"

namespace proact::apps {

namespace {

struct TuneCommand {
    CommonOptions common;
    MethodFlags flags;
    std::string method = "proact", model_file, dataset = "fashion-mnist", format = "q15.16", bers, out_dir;
    std::string batch_norm = "fold";
    FaultSiteFlags sites;
    std::vector<std::string> grid;
    int64_t trials = 10;
    int64_t budget = 0;
    double max_clean_drop = 1.5;
    double validation_fraction = 0.1;
};

void run_tune(TuneCommand& command, const CLI::App& sub) {
    apply_common_options(command.common);
    const method::MethodSettings settings = resolve_method_flags(sub, command.flags);
    const std::filesystem::path dir(command.out_dir);
    OutputPlan plan("tune");
    plan.input("--model-file", command.model_file);
    plan.data_set(command.dataset, command.common.data_dir);
    plan.output_folder("--out-dir", command.out_dir);
    for (const char* name : {"tune.md", "tune.csv", "tune.json"}) plan.output("--out-dir", (dir / name).string());
    plan.check();
    note_hardening_memory(settings);
    method::TuneOptions options;
    options.method = command.method;
    for (const std::string& axis : command.grid) options.grid.push_back(method::parse_grid_axis(axis));
    options.campaign.format = faults::StorageFormat::parse(command.format);
    options.campaign.trials = command.trials;
    options.campaign.site = command.sites.site;
    options.campaign.activation_layers = command.sites.activation_layers;
    options.batch_norm = command.batch_norm;
    options.max_clean_drop = command.max_clean_drop;
    options.budget = command.budget;
    const auto metadata = layers::load_checkpoint(command.model_file).metadata;
    const layers::ModelInfo info = layers::model_info_from_metadata(metadata, command.model_file);
    options.campaign.bers =
        command.bers.empty() ? method::default_comparison_bers(info) : faults::parse_ber_list(command.bers);
    const SplitRecord split = validation_split_of(metadata, command.model_file, command.validation_fraction,
                                                  sub.count("--val-fraction") > 0, command.common.seed);
    const method::ComparisonData data = method::load_comparison_data(command.dataset, command.common.data_dir,
                                                                     info.input_shape, split.fraction, split.seed);
    std::filesystem::create_directories(command.out_dir);
    std::fprintf(stderr, "tune %s: %zu axes on %lld validation images, fault purpose tuning, seed %llu\n",
                 command.method.c_str(), options.grid.size(), static_cast<long long>(data.validation.size()),
                 static_cast<unsigned long long>(command.common.seed));
    const method::TuneResult result = method::run_tuning(
        command.model_file, data.train, data.validation, settings, options,
        method::RunSettings{command.common.seed, !command.common.quiet}, [&](const method::TuneRow& row) {
            if (command.common.quiet) return;
            std::string values;
            for (const std::string& value : row.values) values += (values.empty() ? "" : " ") + value;
            std::fprintf(stderr, "[%s] clean %.2f%% (drop %.2f), score %.2f%s\n", values.c_str(), row.clean_accuracy,
                         row.clean_drop, row.score, row.eligible ? "" : " (over the clean-drop bound)");
        });
    write_text_file((dir / "tune.md").string(), method::tuning_markdown(result));
    write_text_file((dir / "tune.csv").string(), method::tuning_csv(result));
    write_text_file((dir / "tune.json").string(), method::tuning_json(result));
    std::printf("%s\nwrote %s/tune.{md,csv,json}\n", method::tuning_markdown(result).c_str(), command.out_dir.c_str());
}

}  // namespace

void register_tune(CLI::App& app) {
    auto command = std::make_shared<TuneCommand>();
    CLI::App* sub = app.add_subcommand(
        "tune", "Score a method's settings on the validation split under tuning faults (never the reported ones)");
    sub->add_option("--method", command->method, "Method: " + method::method_names())->capture_default_str();
    sub->add_option("--model-file", command->model_file, "Trained checkpoint (proact train)")->required()->check(CLI::ExistingFile);
    sub->add_option("--dataset", command->dataset, "Data set it was trained on")->capture_default_str();
    sub->add_option("--grid", command->grid,
                    "name=v1,v2,... over one of the method's options (repeat for more axes; a list value uses ':'). "
                    "proact: " + method::option_names(method::find_method("proact")) +
                    "; fitact: " + method::option_names(method::find_method("fitact")) +
                    "; ftclipact: " + method::option_names(method::find_method("ftclipact")));
    sub->add_option("--format", command->format, std::string("Storage format: ") + faults::kStorageFormatNames)
        ->check(storage_format_flag())
        ->capture_default_str();
    add_fault_site_options(*sub, command->sites);
    sub->add_option("--batch-norm", command->batch_norm, "fold | keep (as reproduce)")
        ->check(CLI::IsMember({"fold", "keep"}))
        ->capture_default_str();
    sub->add_option("--ber", command->bers, "Comma-separated BERs (default: reproduce's for the model)")
        ->check(ber_list_flag());
    sub->add_option("--trials", command->trials, "Trials per BER and setting")
        ->check(whole_number(1, kMaxTrials))
        ->capture_default_str();
    sub->add_option("--budget", command->budget, "Settings evaluated at most: give every method the same (0: no bound)")
        ->check(whole_number(0, 100000))
        ->capture_default_str();
    sub->add_option("--max-clean-drop", command->max_clean_drop,
                    "Validation accuracy points a setting may cost and still be chosen")
        ->check(number_in(0.0, 100.0))
        ->capture_default_str();
    sub->add_option("--val-fraction", command->validation_fraction,
                    "Share held out for validation, for a checkpoint that does not record its split")
        ->check(number_in(0.01, 0.9))
        ->capture_default_str();
    sub->add_option("--out-dir", command->out_dir, "Folder for tune.{md,csv,json}")->required();
    add_method_flags(*sub, command->flags);
    add_common_options(*sub, command->common);
    sub->callback([command, sub] { run_tune(*command, *sub); });
}

}  // namespace proact::apps
