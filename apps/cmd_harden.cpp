// proact harden: make a trained checkpoint resilient by clipping its activations.
//
//   proact harden --method proact --model-file m.safetensors --dataset fashion-mnist --out h.safetensors
//                 [--log h.json] [--seed 0]
//   proact harden --method ranger --granularity neuron --mode saturate --model-file m.safetensors ...
//   proact harden --method fitact --epochs 6 ...        (neuron-wise smooth, all thresholds at once)
//   proact harden --method ftclipact --format q15.16 --search-bers 1e-7,1e-6,3e-6,1e-5,3e-5 ...
//   proact harden --method guard ...                    (the weight range guard alone)
//   proact harden --method proact --guard ...           (any clipping method plus the guard)
//
// ProAct: hybrid thresholds from Ranger, trained layer by layer from the last (every setting of
// proact.hpp is a flag; --preset toolbox gives the reference toolbox's). Ranger: thresholds = the
// activation maxima, no training. FitAct, FtClipAct: the baselines (proact/fitact.hpp,
// ftclipact.hpp). The guard (layers/range_guard.hpp) is added after any clipping, its bounds taken
// from the final weights. FtClipAct scores candidates with campaigns in --format and so puts the
// weights on that format's grid first (as inject does). The validation split is the seeded one `proact train` holds out
// with the same --seed and --val-fraction, never the test set. The hardened checkpoint is an
// ordinary one: eval and inject load it with no extra flags. Every flag is checked before anything
// is loaded, and the output is written once, at the end, atomically.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "datasets/split.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "faults/campaign.hpp"
#include "layers/range_guard.hpp"
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
    bool guard = false;
    std::string format = "q15.16";      // of the report's bytes and FtClipAct's campaigns
    std::string fault_model = "ber";    // FtClipAct's campaigns
    std::string search_bers = "1e-7,1e-6,3e-6,1e-5,3e-5";
    bool no_threshold_faults = false;
    method::ProActOptions proact;
    method::FitActOptions fitact;
    method::FtClipActOptions ftclipact;
};

constexpr const char* kMethods = "proact, fitact, ftclipact, ranger, guard";

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

// The settings ProAct and FitAct share on the command line, and FitAct's own defaults for the
// flags whose ProAct default differs (--granularity, --mode, --l2-weight).
void resolve_fitact(HardenCommand& command, const CLI::App& sub, const std::string& granularity, const std::string& mode) {
    method::FitActOptions& fitact = command.fitact;
    fitact.clip.scheme = layers::parse_clip_scheme(granularity.empty() ? "neuron" : granularity);
    fitact.clip.mode = core::parse_clip_mode(mode.empty() ? "smooth" : mode);
    fitact.clip.slope = command.proact.clip.slope;
    if (sub.count("--l2-weight")) fitact.l2_weight = command.proact.l2_weight;
    fitact.batch_size = command.proact.batch_size;
    fitact.profile_images = command.proact.profile_images;
    fitact.max_train_images = command.proact.max_train_images;
    fitact.cache_budget_bytes = command.proact.cache_budget_bytes;
    fitact.seed = command.common.seed;
    fitact.progress = !command.common.quiet;
    method::validate_options(fitact);
}

void resolve_ftclipact(HardenCommand& command, const std::string& granularity, const std::string& mode) {
    if (!granularity.empty() && granularity != "layer")
        core::fail<core::ValueError>("harden: FtClipAct is layer-wise, not '", granularity, "'");
    const core::ClipMode clip_mode = core::parse_clip_mode(mode.empty() ? "hard" : mode);
    if (clip_mode == core::ClipMode::smooth) core::fail<core::ValueError>("harden: FtClipAct clips hard or saturate, not smooth");
    command.proact.clip = layers::HybridClip{layers::ClipScheme::layer, clip_mode, 20.0f};
    faults::CampaignOptions& campaign = command.ftclipact.campaign;
    campaign.format = faults::StorageFormat::parse(command.format);
    campaign.fault_model = faults::FaultModelSpec::parse(command.fault_model);
    campaign.bers = faults::parse_ber_list(command.search_bers);
    campaign.fault_thresholds = !command.no_threshold_faults;
    campaign.seed = command.common.seed;
    command.ftclipact.progress = !command.common.quiet;
    method::validate_options(command.ftclipact);
}

// Checks every choice and fills the methods' options; throws before anything is loaded.
void resolve_options(HardenCommand& command, const CLI::App& sub) {
    const std::string& name = command.method;
    if (name != "proact" && name != "fitact" && name != "ftclipact" && name != "ranger" && name != "guard")
        core::fail<core::ValueError>("harden: method '", name, "' is not one of ", kMethods);
    if (command.preset != "ours" && command.preset != "toolbox")
        core::fail<core::ValueError>("harden: preset '", command.preset, "' is not one of ours, toolbox");
    if (name == "guard" && command.guard)
        core::fail<core::ValueError>("harden: --guard combines the guard with a clipping method; --method guard is the guard alone");
    (void)faults::StorageFormat::parse(command.format);
    if (command.cache_budget_mb < 0)
        core::fail<core::ValueError>("harden: --cache-budget-mb must be >= 0, got ", command.cache_budget_mb);
    command.proact.cache_budget_bytes = command.cache_budget_mb * (int64_t(1) << 20);
    command.proact.seed = command.common.seed;
    command.proact.progress = !command.common.quiet;
    if (name == "fitact") return resolve_fitact(command, sub, command.granularity, command.mode);
    if (name == "ftclipact") return resolve_ftclipact(command, command.granularity, command.mode);
    if (name == "guard") return;
    const bool ranger = name == "ranger";
    const std::string granularity = !command.granularity.empty() ? command.granularity : ranger ? "layer" : "hybrid";
    const std::string mode = !command.mode.empty() ? command.mode : ranger ? "hard" : "smooth";
    layers::HybridClip& clip = command.proact.clip;
    clip.scheme = layers::parse_clip_scheme(granularity);
    clip.mode = core::parse_clip_mode(mode);
    if (ranger && clip.mode == core::ClipMode::smooth)
        core::fail<core::ValueError>("harden: Ranger clips hard or saturate, not '", mode, "'");
    if (command.preset == "toolbox") apply_toolbox_preset(sub, command.proact);
    if (!ranger) method::validate_options(command.proact);
}

double accuracy_percent(layers::Module& model, const datasets::Dataset& test) {
    return 100.0 * layers::evaluate(model, test.images, test.labels).accuracy();
}

void print_line(const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

// Runs the chosen method on `model`; returns its own JSON report ("" for the guard alone).
std::string run_method(HardenCommand& command, layers::Module& model, const core::Shape& input_shape,
                       const datasets::Dataset& train, const datasets::Dataset& validation) {
    if (command.method == "guard") return "";
    if (command.method == "ranger") {
        const auto profiles = method::profile_training_subset(model, input_shape, train.images,
                                                              command.proact.profile_images, command.common.seed);
        const auto sites = method::ranger_harden(model, input_shape, profiles, command.proact.clip);
        for (size_t i = 0; i < sites.size(); ++i) {
            const auto& clip = static_cast<const layers::ClippedReLU&>(*sites[i].module);
            std::printf("%-16s %-7s %6lld thresholds, layer max %.4g\n", sites[i].path.c_str(),
                        core::to_string(clip.granularity()), static_cast<long long>(clip.threshold().numel()),
                        profiles[i].layer_max());
        }
        return "";
    }
    if (command.method == "fitact") {
        std::printf("FitAct: %s thresholds from Ranger on %lld images, all trained at once for %d epochs\n",
                    command.fitact.clip.to_string().c_str(), static_cast<long long>(command.fitact.profile_images),
                    command.fitact.epochs);
        const auto result = method::fitact_harden(model, input_shape, train, validation, command.fitact);
        return method::fitact_json(result, command.fitact, command.log_times);
    }
    if (command.method == "ftclipact") {
        std::printf("FtClipAct: layer-wise %s thresholds searched first to last by %s campaigns on %lld training images\n",
                    core::to_string(command.proact.clip.mode), command.ftclipact.campaign.format.to_string().c_str(),
                    static_cast<long long>(command.ftclipact.subset_images));
        const auto result = method::ftclipact_harden(
            model, input_shape, train, validation, command.ftclipact, command.proact.clip.mode,
            [](const method::FtClipActLayer& layer) { print_line(method::layer_summary(layer)); });
        return method::ftclipact_json(result, command.ftclipact, command.log_times);
    }
    std::printf("ProAct: %s thresholds from Ranger on %lld images, trained layer by layer from the last, "
                "tolerance %.2g points on %lld validation images\n",
                command.proact.clip.to_string().c_str(), static_cast<long long>(command.proact.profile_images),
                command.proact.tolerance, static_cast<long long>(validation.size()));
    const auto result = method::proact_harden(model, input_shape, train, validation, command.proact,
                                              [](const method::LayerLog& layer) { print_line(method::layer_summary(layer)); });
    return method::proact_json(result, command.proact, command.log_times);
}

void run_harden(HardenCommand& command, const CLI::App& sub) {
    apply_common_options(command.common);
    resolve_options(command, sub);
    const layers::Checkpoint checkpoint = layers::load_checkpoint(command.model_file);
    if (checkpoint.metadata.count("activation"))
        core::fail<core::ValueError>("harden: ", command.model_file, " is hardened already (activation '",
                                     checkpoint.metadata.at("activation"), "'); harden the unprotected checkpoint");
    if (checkpoint.metadata.count("range_guard"))
        core::fail<core::ValueError>("harden: ", command.model_file, " is guarded already; harden the unprotected checkpoint");
    layers::ModulePtr model = layers::load_model(command.model_file);
    const core::Shape input_shape = layers::model_info(*model)->input_shape;
    const datasets::Dataset full = load_split(command.dataset, "train", command.common, input_shape);
    const datasets::Dataset test = load_split(command.dataset, "test", command.common, input_shape);
    auto [train, validation] = datasets::split(full, command.validation_fraction, command.common.seed);
    const double accuracy_before = accuracy_percent(*model, test);

    const auto start = std::chrono::steady_clock::now();
    const std::string details = run_method(command, *model, input_shape, train, validation);
    if (command.guard || command.method == "guard") layers::apply_range_guard(*model);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const method::HardeningReport report =
        method::hardening_report(*model, command.method, faults::StorageFormat::parse(command.format),
                                 accuracy_percent(*model, validation), seconds, details);
    const double accuracy_after = accuracy_percent(*model, test);
    std::map<std::string, std::string> metadata = checkpoint.metadata;
    metadata["hardening"] = command.method + (command.guard ? "+guard" : "");
    metadata["hardening_seed"] = std::to_string(command.common.seed);
    layers::save_checkpoint(command.out, *model, metadata);
    std::printf("hardened %s\ntest accuracy %.2f%% -> %.2f%%\nwrote %s\n", method::hardening_summary(report).c_str(),
                accuracy_before, accuracy_after, command.out.c_str());
    if (!command.log_path.empty()) {
        write_text_file(command.log_path, method::hardening_json(report, command.log_times));
        std::printf("wrote %s\n", command.log_path.c_str());
    }
}

}  // namespace

void register_harden(CLI::App& app) {
    auto command = std::make_shared<HardenCommand>();
    CLI::App* sub = app.add_subcommand("harden", "Harden a trained model: ProAct, the FitAct / FtClipAct / Ranger baselines, the range guard");
    method::ProActOptions& o = command->proact;
    sub->add_option("--method", command->method, "proact | fitact | ftclipact | ranger | guard")->capture_default_str();
    sub->add_flag("--guard", command->guard, "Add the weight range guard after clipping (any method but guard)");
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
    method::FitActOptions& f = command->fitact;
    sub->add_option("--epochs", f.epochs, "FitAct: epochs over the training split (the toolbox: 100)")->capture_default_str();
    sub->add_option("--lr", f.lr, "FitAct: Adam learning rate of every threshold")->capture_default_str();
    sub->add_option("--weight-decay", f.weight_decay, "FitAct: Adam weight decay (the toolbox: 4e-11)")->capture_default_str();
    method::FtClipActOptions& c = command->ftclipact;
    sub->add_option("--format", command->format, "Storage format: the report's bytes and FtClipAct's campaigns")->capture_default_str();
    sub->add_option("--fault-model", command->fault_model, "FtClipAct campaigns: ber | stuck0 | stuck1")->capture_default_str();
    sub->add_option("--search-bers", command->search_bers, "FtClipAct: BERs of each candidate's campaign")->capture_default_str();
    sub->add_option("--search-trials", c.campaign.trials, "FtClipAct: trials per BER")->capture_default_str();
    sub->add_option("--subset-images", c.subset_images, "FtClipAct: seeded training images the campaigns run on")->capture_default_str();
    sub->add_option("--candidates", c.candidates, "FtClipAct: equally spaced thresholds per round")->capture_default_str();
    sub->add_option("--min-rounds", c.min_rounds, "FtClipAct: rounds before the score rule may stop a layer")->capture_default_str();
    sub->add_option("--max-rounds", c.max_rounds, "FtClipAct: rounds per layer at most")->capture_default_str();
    sub->add_option("--score-tolerance", c.score_tolerance, "FtClipAct: stop when a round's scores differ by at most this")
        ->capture_default_str();
    sub->add_flag("--no-threshold-faults", command->no_threshold_faults, "FtClipAct: leave thresholds out of the search campaigns");
    add_common_options(*sub, command->common);
    sub->callback([command, sub] { run_harden(*command, *sub); });
}

}  // namespace proact::apps
