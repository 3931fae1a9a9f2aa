// proact harden: make a trained checkpoint resilient by clipping its activations.
//
//   proact harden --method proact --model-file m.safetensors --dataset fashion-mnist --out h.safetensors
//                 [--log h.json] [--seed 0]
//   proact harden --method ranger --granularity neuron --mode saturate --model-file m.safetensors ...
//
// ProAct: hybrid thresholds from Ranger, trained layer by layer from the last (every setting of
// proact.hpp is a flag; --preset toolbox gives the reference toolbox's). Ranger: thresholds = the
// activation maxima, no training. The validation split is the seeded one `proact train` holds out
// with the same --seed and --val-fraction, never the test set. The hardened checkpoint is an
// ordinary one: eval and inject load it with no extra flags. Every flag is checked before anything
// is loaded, and the output is written once, at the end, atomically.
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "datasets/split.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "proact/method.hpp"

namespace proact::apps {

namespace {

struct HardenCommand {
    CommonOptions common;
    std::string method = "proact";
    std::string model_file, dataset = "fashion-mnist", out, log_path;
    std::string granularity;  // default: hybrid (proact), layer (ranger)
    std::string mode;         // default: smooth (proact), hard (ranger)
    std::string preset = "ours";
    double validation_fraction = 0.1;
    int64_t cache_budget_mb = 1024;
    bool log_times = false;
    method::ProActOptions proact;
};

// The reference toolbox's setting for every flag the user did not give.
void apply_toolbox_preset(const CLI::App& sub, method::ProActOptions& options) {
    const auto unset = [&sub](const char* flag) { return sub.count(flag) == 0; };
    if (unset("--ce-weight")) options.ce_weight = 1.0f;
    if (unset("--kd-weight")) options.kd_weight = 1.0f;
    if (unset("--l2-weight")) options.l2_weight = 0.0f;
    if (unset("--optimizer")) options.optimizer = "adam";
    if (unset("--lr-neuron")) options.lr_neuron = 0.01f;
    if (unset("--schedule")) options.schedule = "cosine";
    if (unset("--decays")) {
        options.decays.clear();
        for (int exponent = 5; exponent <= 15; ++exponent) options.decays.push_back(4.0f * std::pow(10.0f, -float(exponent)));
    }
    if (unset("--epochs-scalar")) options.epochs_scalar = 100;
    if (unset("--epochs-neuron")) options.epochs_neuron = 100;
    if (unset("--check-every-epoch")) options.check_every_epoch = true;
    if (unset("--tolerance")) options.tolerance = 0.2;
}

// Checks every choice and fills the clip configuration; throws before anything is loaded.
void resolve_options(HardenCommand& command, const CLI::App& sub) {
    if (command.method != "proact" && command.method != "ranger")
        core::fail<core::ValueError>("harden: method '", command.method, "' is not one of proact, ranger");
    if (command.preset != "ours" && command.preset != "toolbox")
        core::fail<core::ValueError>("harden: preset '", command.preset, "' is not one of ours, toolbox");
    const bool ranger = command.method == "ranger";
    const std::string granularity = !command.granularity.empty() ? command.granularity : ranger ? "layer" : "hybrid";
    const std::string mode = !command.mode.empty() ? command.mode : ranger ? "hard" : "smooth";
    layers::HybridClip& clip = command.proact.clip;
    clip.scheme = layers::parse_clip_scheme(granularity);
    clip.mode = core::parse_clip_mode(mode);
    if (ranger && clip.mode == core::ClipMode::smooth)
        core::fail<core::ValueError>("harden: Ranger clips hard or saturate, not '", mode, "'");
    if (command.preset == "toolbox") apply_toolbox_preset(sub, command.proact);
    if (command.cache_budget_mb < 0)
        core::fail<core::ValueError>("harden: --cache-budget-mb must be >= 0, got ", command.cache_budget_mb);
    command.proact.cache_budget_bytes = command.cache_budget_mb * (int64_t(1) << 20);
    command.proact.seed = command.common.seed;
    command.proact.progress = !command.common.quiet;
    if (!ranger) method::validate_options(command.proact);
}

double test_accuracy(layers::Module& model, const datasets::Dataset& test) {
    return 100.0 * layers::evaluate(model, test.images, test.labels).accuracy();
}

void run_harden(HardenCommand& command, const CLI::App& sub) {
    apply_common_options(command.common);
    resolve_options(command, sub);
    const layers::Checkpoint checkpoint = layers::load_checkpoint(command.model_file);
    if (checkpoint.metadata.count("activation"))
        core::fail<core::ValueError>("harden: ", command.model_file, " is hardened already (activation '",
                                     checkpoint.metadata.at("activation"), "'); harden the unprotected checkpoint");
    layers::ModulePtr model = layers::load_model(command.model_file);
    const core::Shape input_shape = layers::model_info(*model)->input_shape;
    const datasets::Dataset full = load_split(command.dataset, "train", command.common, input_shape);
    const datasets::Dataset test = load_split(command.dataset, "test", command.common, input_shape);
    auto [train, validation] = datasets::split(full, command.validation_fraction, command.common.seed);
    const double accuracy_before = test_accuracy(*model, test);

    method::ProActResult result;
    if (command.method == "ranger") {
        const auto rows = method::ranger_subset(train.size(), command.proact.profile_images, command.common.seed);
        const auto profiles =
            method::profile_activations(*model, input_shape, method::gather_images(train.images, rows));
        const auto sites = method::ranger_harden(*model, input_shape, profiles, command.proact.clip);
        for (size_t i = 0; i < sites.size(); ++i) {
            const auto& clip = static_cast<const layers::ClippedReLU&>(*sites[i].module);
            std::printf("%-16s %-7s %6lld thresholds, layer max %.4g\n", sites[i].path.c_str(),
                        core::to_string(clip.granularity()), static_cast<long long>(clip.threshold().numel()),
                        profiles[i].layer_max());
        }
    } else {
        std::printf("ProAct: %s thresholds from Ranger on %lld images, trained layer by layer from the last, "
                    "tolerance %.2g points on %lld validation images\n",
                    command.proact.clip.to_string().c_str(), static_cast<long long>(command.proact.profile_images),
                    command.proact.tolerance, static_cast<long long>(validation.size()));
        result = method::proact_harden(*model, input_shape, train, validation, command.proact,
                                       [](const method::LayerLog& layer) {
                                           std::printf("%s\n", method::layer_summary(layer).c_str());
                                           std::fflush(stdout);
                                       });
    }
    const double accuracy_after = test_accuracy(*model, test);
    std::map<std::string, std::string> metadata = checkpoint.metadata;
    metadata["hardening"] = command.method;
    metadata["hardening_seed"] = std::to_string(command.common.seed);
    layers::save_checkpoint(command.out, *model, metadata);
    int64_t thresholds = 0;
    for (const auto& [name, p] : model->named_parameters())
        if (name.ends_with(".threshold")) thresholds += p.numel();
    std::printf("hardened (%s, %s): %lld thresholds; test accuracy %.2f%% -> %.2f%%", command.method.c_str(),
                command.proact.clip.to_string().c_str(), static_cast<long long>(thresholds), accuracy_before,
                accuracy_after);
    if (command.method == "proact") std::printf(" (validation %.2f%% -> %.2f%%), %.1f s", result.original_accuracy,
                                                result.final_accuracy, result.seconds);
    std::printf("\nwrote %s\n", command.out.c_str());
    if (!command.log_path.empty() && command.method == "proact") {
        write_text_file(command.log_path, method::proact_json(result, command.proact, command.log_times));
        std::printf("wrote %s\n", command.log_path.c_str());
    }
}

}  // namespace

void register_harden(CLI::App& app) {
    auto command = std::make_shared<HardenCommand>();
    CLI::App* sub = app.add_subcommand("harden", "Clip a trained model's activations: ProAct, or the Ranger baseline");
    method::ProActOptions& o = command->proact;
    sub->add_option("--method", command->method, "proact | ranger")->capture_default_str();
    sub->add_option("--model-file", command->model_file, "Trained checkpoint (proact train)")->required()->check(CLI::ExistingFile);
    sub->add_option("--dataset", command->dataset, "Data set it was trained on")->capture_default_str();
    sub->add_option("--out", command->out, "Hardened checkpoint to write")->required();
    sub->add_option("--log", command->log_path, "Write the per-layer report as JSON (proact)");
    sub->add_flag("--log-times", command->log_times, "Put the seconds in the JSON too (they differ per run)");
    sub->add_option("--granularity", command->granularity,
                    "hybrid | layer | channel | neuron (default: hybrid for proact, layer for ranger)");
    sub->add_option("--mode", command->mode, "smooth | saturate (proact; default smooth), hard | saturate (ranger; default hard)");
    sub->add_option("--slope", o.clip.slope, "Slope k of the smooth step")->capture_default_str();
    sub->add_option("--preset", command->preset, "ours | toolbox: the defaults of every setting below")->capture_default_str();
    sub->add_option("--ce-weight", o.ce_weight, "Loss weight of the cross-entropy")->capture_default_str();
    sub->add_option("--kd-weight", o.kd_weight, "Loss weight of the distillation from the original model")->capture_default_str();
    sub->add_option("--l2-weight", o.l2_weight, "Loss weight of mean(threshold^2)")->capture_default_str();
    sub->add_option("--optimizer", o.optimizer, "adamw | adam")->capture_default_str();
    sub->add_option("--lr-scalar", o.lr_scalar, "Learning rate of layer-wise thresholds")->capture_default_str();
    sub->add_option("--lr-neuron", o.lr_neuron, "Learning rate of channel- and neuron-wise thresholds")->capture_default_str();
    sub->add_option("--schedule", o.schedule, "constant | cosine (over each try)")->capture_default_str();
    sub->add_option("--decays", o.decays, "Weight decays to try, first to last (comma-separated)")->delimiter(',')->capture_default_str();
    sub->add_option("--epochs-scalar", o.epochs_scalar, "Epochs per try, layer-wise thresholds")->capture_default_str();
    sub->add_option("--epochs-neuron", o.epochs_neuron, "Epochs per try, channel-/neuron-wise thresholds")->capture_default_str();
    sub->add_flag("--check-every-epoch", o.check_every_epoch, "Validate after every epoch and accept at the first fit");
    sub->add_option("--tolerance", o.tolerance, "Accuracy points a try may lose on the validation split")->capture_default_str();
    sub->add_option("--batch-size", o.batch_size, "Threshold-training batch size")->capture_default_str();
    sub->add_option("--profile-images", o.profile_images, "Training images Ranger profiles on")->capture_default_str();
    sub->add_option("--max-train-images", o.max_train_images,
                    "Cap on the training images ProAct trains on (0: all of the training split)")->capture_default_str();
    sub->add_option("--val-fraction", command->validation_fraction,
                    "Share of the training set held out for validation (as proact train)")
        ->check(CLI::Range(0.01, 0.9))->capture_default_str();
    sub->add_option("--cache-budget-mb", command->cache_budget_mb,
                    "Memory for the frozen prefix's outputs (training + validation images)")->capture_default_str();
    add_common_options(*sub, command->common);
    sub->callback([command, sub] { run_harden(*command, *sub); });
}

}  // namespace proact::apps
