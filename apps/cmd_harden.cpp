// proact harden: make a trained checkpoint resilient with one method of the registry.
//
//   proact harden --method proact --model-file m.safetensors --dataset fashion-mnist --out h.safetensors
//                 [--log h.json] [--seed 0]
//   proact harden --method ranger --granularity neuron --mode saturate --model-file m.safetensors ...
//   proact harden --method fitact --fitact-epochs 6 ...   (neuron-wise smooth, all thresholds at once)
//   proact harden --method ftclipact --format q15.16 --search-bers 1e-7,1e-6,3e-6,1e-5,3e-5 ...
//   proact harden --method guard ...                      (the weight range guard alone)
//   proact harden --method proact --guard ...             (any clipping method plus the guard)
//
// The command binds flags and calls the registry (proact/methods.hpp): every method, its settings
// (apps/method_flags.hpp, the same flags as reproduce and tune) and its log lines come from there.
// Batch norm is folded into the convolutions first (--batch-norm fold, as a deployment stores the
// model; keep: the toolbox's fault-free BN stage), and for any --format but float32 the weights are put
// on its grid, so thresholds are trained against the weights a campaign will see. The validation
// split is the one the checkpoint was trained with (its recorded seed and fraction), never the test
// set. The hardened checkpoint is an ordinary one: eval and inject load it with no extra flags.
// Every flag is checked before anything is loaded, and the output is written once, at the end,
// atomically. ProAct's state after every layer goes to OUT.partial; --resume continues from it.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/method_flags.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "core/file_io.hpp"
#include "core/format.hpp"
#include "core/rng.hpp"
#include "datasets/split.hpp"
#include "faults/injector.hpp"
#include "faults/storage_format.hpp"
#include "layers/checkpoint.hpp"
#include "layers/fold_batchnorm.hpp"
#include "layers/range_guard.hpp"
#include "layers/zoo.hpp"
#include "proact/comparison.hpp"
#include "proact/hardening_report.hpp"
#include "proact/methods.hpp"
#include "train/evaluate.hpp"

namespace proact::apps {

namespace {

struct HardenCommand {
    CommonOptions common;
    MethodFlags flags;
    std::string method = "proact";
    std::string model_file, dataset = "fashion-mnist", out, log_path;
    std::string granularity;  // default: the method's own
    std::string mode;
    float slope = 20.0f;
    std::string format = "q15.16";
    std::string bers;         // where the model will be judged; FtClipAct searches there
    std::string batch_norm = "fold";
    double validation_fraction = 0.1;
    bool log_times = false;
    bool guard = false;
    bool resume = false;
};

// Methods harden can run: every registry entry but the unhardened one.
std::vector<std::string> harden_method_names() {
    std::vector<std::string> names;
    for (const method::Method& entry : method::methods())
        if (entry.name != "unprotected") names.push_back(entry.name);
    return names;
}

// --granularity, --mode and --slope change the chosen method's clip (ProAct's hybrid:smooth by
// default, FitAct's neuron:smooth, Ranger's layer:hard, FtClipAct's layer:hard).
void apply_clip_flags(const HardenCommand& command, method::MethodSettings& settings) {
    const std::string& name = command.method;
    const auto clip_of = [&](layers::HybridClip clip) {
        if (!command.granularity.empty()) clip.scheme = layers::parse_clip_scheme(command.granularity);
        if (!command.mode.empty()) clip.mode = core::parse_clip_mode(command.mode);
        clip.slope = command.slope;
        return clip;
    };
    if (name == "proact" || name == "proact+guard") settings.proact.clip = clip_of(settings.proact.clip);
    if (name == "fitact") settings.fitact.clip = clip_of(settings.fitact.clip);
    if (name == "ranger") settings.ranger_clip = clip_of(settings.ranger_clip);
    if (name == "ftclipact") {
        if (!command.granularity.empty() && command.granularity != "layer")
            core::fail<core::ValueError>("harden: FtClipAct is layer-wise, not '", command.granularity, "'");
        if (!command.mode.empty()) settings.ftclipact_mode = core::parse_clip_mode(command.mode);
    }
}

// Checks every choice; throws before anything is loaded.
method::MethodSettings resolve(HardenCommand& command, const CLI::App& sub) {
    method::find_method(command.method);
    if (command.method == "unprotected")
        core::fail<core::ValueError>("harden: 'unprotected' hardens nothing; choose one of ", name_list(harden_method_names()));
    if (command.guard && (command.method == "guard" || command.method == "proact+guard"))
        core::fail<core::ValueError>("harden: --guard adds the guard to a clipping method; ", command.method,
                                     " has it already");
    if (command.resume && !method::resumes_by_layer(method::find_method(command.method)))
        core::fail<core::ValueError>("harden --resume: ", command.method,
                                     " does not go layer by layer and keeps no partial state; only proact and "
                                     "proact+guard continue an interrupted run");
    if (command.batch_norm != "fold" && command.batch_norm != "keep")
        core::fail<core::ValueError>("harden: --batch-norm '", command.batch_norm, "' is not one of fold, keep");
    (void)faults::StorageFormat::parse(command.format);
    if (!command.bers.empty()) (void)faults::parse_ber_list(command.bers);
    method::MethodSettings settings = resolve_method_flags(sub, command.flags);
    apply_clip_flags(command, settings);
    method::validate_settings(settings);
    return settings;
}

void run_harden(HardenCommand& command, const CLI::App& sub) {
    apply_common_options(command.common);
    const method::MethodSettings settings = resolve(command, sub);
    OutputPlan plan("harden");
    plan.input("--model-file", command.model_file);
    plan.data_set(command.dataset, command.common.data_dir);
    plan.output("--out", command.out);
    plan.output("--log", command.log_path);
    plan.output("--out (its partial run)", partial_path(command.out));
    plan.check();
    note_hardening_memory(settings);
    const faults::StorageFormat format = faults::StorageFormat::parse(command.format);
    const LoadedModel loaded = load_model_file(command.model_file);
    if (loaded.metadata.count("activation"))
        core::fail<core::ValueError>("harden: ", command.model_file, " is hardened already (activation '",
                                     loaded.metadata.at("activation"), "'); harden the unprotected checkpoint");
    if (loaded.metadata.count("range_guard"))
        core::fail<core::ValueError>("harden: ", command.model_file, " is guarded already; harden the unprotected checkpoint");
    const SplitRecord split = validation_split_of(loaded.metadata, command.model_file, command.validation_fraction,
                                                  sub.count("--val-fraction") > 0, command.common.seed);
    layers::Module& model = *loaded.model;
    const datasets::Dataset full = load_split_for(loaded, "harden", command.dataset, "train", command.common);
    const datasets::Dataset test = load_split_for(loaded, "harden", command.dataset, "test", command.common);
    auto [train, validation] = datasets::split(full, split.fraction, split.seed);
    std::printf("validation: %lld images held out with seed %llu and fraction %g (%s)\n",
                static_cast<long long>(validation.size()), static_cast<unsigned long long>(split.seed), split.fraction,
                split.recorded ? "as the checkpoint records" : "no record in the checkpoint: from the flags");
    const double accuracy_before = 100.0 * train::evaluate(model, test).accuracy();
    if (command.batch_norm == "fold" && layers::fold_batch_norm(model) > 0)
        std::printf("batch norm folded into the convolutions (--batch-norm keep leaves it)\n");
    std::vector<faults::FaultTarget> weights = faults::select_targets(model, {}, false);
    quantise_and_report(weights, format);

    const method::Method& chosen = method::find_method(command.method);
    std::printf("%s: %s\n", chosen.name.c_str(), chosen.summary.c_str());
    const layers::ModelInfo info = layers::model_info_from_metadata(loaded.metadata, command.model_file);
    const std::vector<double> bers =
        command.bers.empty() ? method::default_comparison_bers(info) : faults::parse_ber_list(command.bers);
    method::HardenInputs inputs{loaded.input_shape, &train, &validation, format, bers, {}};
    if (method::resumes_by_layer(chosen)) {
        // Everything the hardened bits depend on: a partial state continues only this very run.
        inputs.resume = {partial_path(command.out), command.resume,
                         {{"model_file", core::hex64(core::hash_purpose(core::read_file(command.model_file)))},
                          {"method", command.method},
                          {"settings", chosen.settings(settings, inputs)},
                          {"seed", std::to_string(command.common.seed)},
                          {"format", format.to_string()},
                          {"batch_norm", command.batch_norm},
                          {"train", core::hex64(faults::data_checksum(train::input_batches(train), train.labels))},
                          {"validation", core::hex64(faults::data_checksum(train::input_batches(validation), validation.labels))}}};
        if (!command.common.quiet)
            announce_partial(inputs.resume.state_path, command.resume, "hardening", "hardening every layer");
    }
    const method::RunSettings run{command.common.seed, !command.common.quiet};
    const method::LogLine print = [](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
    };
    const auto start = std::chrono::steady_clock::now();
    method::HardenReport hardened = method::harden_with_base(chosen, model, inputs, settings, run, print);
    if (command.guard) hardened = method::add_reports(hardened, method::find_method("guard").harden(model, inputs, settings, run, print));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Thresholds and guard bounds are stored words like the weights: on the format's grid, as
    // reproduce and tune leave them, so the checkpoint holds what a campaign will fault.
    faults::CampaignOptions grid;
    grid.format = format;
    method::quantize_hardened(model, grid);
    const std::string name = command.method + (command.guard ? "+guard" : "");
    const method::HardeningReport report = method::hardening_report(
        model, name, format, 100.0 * train::evaluate(model, validation).accuracy(), seconds,
        hardened.details_json);
    const double accuracy_after = 100.0 * train::evaluate(model, test).accuracy();
    std::map<std::string, std::string> metadata = loaded.metadata;
    metadata["hardening"] = name;
    metadata["hardening_seed"] = std::to_string(command.common.seed);
    metadata["hardening_settings"] = hardened.settings;
    layers::save_checkpoint(command.out, model, metadata);
    std::printf("hardened %s\ntest accuracy %.2f%% -> %.2f%%\nwrote %s\n", method::hardening_summary(report).c_str(),
                accuracy_before, accuracy_after, command.out.c_str());
    if (!command.log_path.empty()) write_output(command.log_path, method::hardening_json(report, command.log_times));
    std::error_code ignored;  // its outputs are written: the partial state has served
    std::filesystem::remove(inputs.resume.state_path, ignored);
}

}  // namespace

void register_harden(CLI::App& app) {
    auto command = std::make_shared<HardenCommand>();
    CLI::App* sub = app.add_subcommand("harden", "Harden a trained model: ProAct, the FitAct / FtClipAct / Ranger baselines, the range guard");
    sub->add_option("--method", command->method, name_list(harden_method_names(), " | "))
        ->check(CLI::IsMember(harden_method_names()))
        ->capture_default_str();
    sub->add_flag("--guard", command->guard, "Add the weight range guard after clipping");
    sub->add_option("--model-file", command->model_file, "Trained checkpoint (proact train)")->required()->check(CLI::ExistingFile);
    sub->add_option("--dataset", command->dataset, "Data set it was trained on")->capture_default_str();
    sub->add_option("--out", command->out, "Hardened checkpoint to write")->required();
    sub->add_option("--log", command->log_path, "Write the report (counts, bytes, accuracy, the method's log) as JSON");
    sub->add_flag("--log-times", command->log_times, "Put the seconds in the JSON too (they differ per run)");
    sub->add_option("--granularity", command->granularity,
                    "hybrid | layer | channel | neuron (default: hybrid for proact, neuron for fitact, layer for ranger "
                    "and ftclipact)");
    sub->add_option("--mode", command->mode,
                    "smooth | saturate (proact, fitact; default smooth), hard | saturate (ranger, ftclipact; default hard)");
    sub->add_option("--slope", command->slope, "Slope k of the smooth step")->check(positive_number())->capture_default_str();
    sub->add_option("--format", command->format,
                    std::string("Storage format (") + faults::kStorageFormatNames +
                        "): the weights are put on its grid first; the report's bytes; FtClipAct's campaigns")
        ->check(storage_format_flag())
        ->capture_default_str();
    sub->add_option("--ber", command->bers,
                    "BERs the model will be judged at: FtClipAct searches at them (at most 5) unless --search-bers "
                    "says otherwise (default: reproduce's for the model)")
        ->check(ber_list_flag());
    sub->add_option("--batch-norm", command->batch_norm,
                    "fold: batch norm folded into the convolutions first, as deployed | keep: a fault-free stage")
        ->capture_default_str();
    sub->add_option("--val-fraction", command->validation_fraction,
                    "Share held out for validation, for a checkpoint that does not record its split")
        ->check(number_in(0.01, 0.9))
        ->capture_default_str();
    sub->add_flag("--resume", command->resume,
                  "ProAct: continue an interrupted run from OUT.partial (written after every layer) with the same "
                  "settings: the checkpoint is the one an uninterrupted run writes, byte for byte");
    add_method_flags(*sub, command->flags);
    add_common_options(*sub, command->common);
    sub->callback([command, sub] { run_harden(*command, *sub); });
}

}  // namespace proact::apps
