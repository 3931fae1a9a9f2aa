// proact reproduce: the comparison experiment, from training to the results table.
//
//   proact reproduce --model lenet5 --dataset fashion-mnist --format q15.16 --out-dir out [--replicates 3] [--resume]
//   proact reproduce --model-file a.safetensors --model-file b.safetensors --dataset fashion-mnist --out-dir out
//
// Trains --replicates models (seeds --seed, --seed + 1, ...) into DIR/model[-r].safetensors, or
// takes the --model-file checkpoints; hardens a fresh copy of each with every method of --methods
// (the registry, proact/methods.hpp, with the flags of apps/method_flags.hpp), runs the same
// campaign on each (thresholds faulted, fault purpose "evaluation", seed --seed) and writes
// DIR/results.{md,csv,json,svg} beside every method's hardened checkpoint and campaign JSON. Each
// model is hardened on the validation split it was trained with (its recorded seed and fraction)
// and with its own training seed. results.json holds harden_seconds, the one figure that differs
// from run to run; --no-times writes it as null so that the same seed gives the same bytes at any
// thread count.
//
//   proact reproduce --shard 1/3 --out-dir out/shard-1 ...   then   proact merge out/shard-* --out-dir out
//
// --shard i/n hardens as one run does but runs trials i, i+n, ... of each campaign, and writes
// DIR/shard.json instead of the results; proact merge joins the folders (proact/comparison_shards.hpp).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/method_flags.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "core/rng.hpp"
#include "datasets/split.hpp"
#include "faults/storage_format.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "proact/comparison.hpp"
#include "proact/comparison_shards.hpp"

namespace proact::apps {

namespace {

struct ReproduceCommand {
    CommonOptions common;
    train::TrainOptions train;
    MethodFlags flags;
    std::string model = "lenet5", dataset = "fashion-mnist", format = "q15.16", out_dir;
    std::vector<std::string> model_files;
    std::string methods = "all", bers, batch_norm = "fold", shard = "0/1";
    FaultSiteFlags sites;
    int64_t trials = 30;
    int64_t replicates = 1;
    int64_t eval_images = 0;
    int64_t train_images = 0;  // the model's training images (0: the whole training split)
    double validation_fraction = 0.1;
    bool resume = false, no_times = false, quick = false;
};

// Fewer trials, epochs and images for every flag the user did not give: a smoke run in seconds.
void apply_quick(const CLI::App& sub, ReproduceCommand& command, method::MethodSettings& settings) {
    const auto unset = [&sub](const char* flag) { return sub.count(flag) == 0; };
    if (unset("--trials")) command.trials = 3;
    if (unset("--epochs")) command.train.epochs = 1;
    if (unset("--eval-images")) command.eval_images = 1000;
    if (unset("--train-images")) command.train_images = 5000;
    if (unset("--max-train-images")) settings.max_train_images = 2000;
    if (unset("--fitact-epochs")) settings.fitact.epochs = 1;
    settings.proact.epochs_scalar = settings.proact.epochs_neuron = 1;
    settings.proact.decays = {4e-2f, 4e-4f};
}

// Replicate `r`'s trained model: DIR/model.safetensors (DIR/model-<r>.safetensors for r > 0) kept
// by --resume when it was trained with the same model, data set, epochs, images and seed, or
// trained now with seed --seed + r.
std::string trained_model_path(const ReproduceCommand& command, int64_t r) {
    const std::string name = r == 0 ? "model.safetensors" : "model-" + std::to_string(r) + ".safetensors";
    return (std::filesystem::path(command.out_dir) / name).string();
}

std::string trained_model(const ReproduceCommand& command, int64_t r) {
    const uint64_t seed = command.common.seed + uint64_t(r);
    const std::string path = trained_model_path(command, r);
    if (command.resume && std::filesystem::exists(path)) {
        // A file that does not read as a checkpoint is trained again, saying why; any other
        // error (out of memory, say) is the command's.
        try {
            const auto meta = layers::load_checkpoint(path).metadata;
            const auto records = [&meta](const char* key, const std::string& value) {
                const auto entry = meta.find(key);
                return entry != meta.end() && entry->second == value;
            };
            if (records("model", command.model) && records("dataset", command.dataset) &&
                records("epochs", std::to_string(command.train.epochs)) &&
                records("train_images", std::to_string(command.train_images)) && records("seed", std::to_string(seed))) {
                std::fprintf(stderr, "[train] kept %s\n", path.c_str());
                return path;
            }
        } catch (const core::FormatError& error) {
            std::fprintf(stderr, "[train] %s is not reusable (%s): training again\n", path.c_str(), error.what());
        } catch (const core::IoError& error) {
            std::fprintf(stderr, "[train] %s is not reusable (%s): training again\n", path.c_str(), error.what());
        }
    }
    CommonOptions common = command.common;
    common.seed = seed;
    const datasets::Dataset full = load_split(command.dataset, "train", common);
    std::filesystem::create_directories(command.out_dir);
    std::fprintf(stderr, "[train] %s, %d epochs, seed %llu\n", command.model.c_str(), command.train.epochs,
                 static_cast<unsigned long long>(seed));
    // --resume also continues a training run that was interrupted (DIR/model.safetensors.partial).
    train_and_save({command.model, command.dataset, command.validation_fraction, command.train_images, command.train,
                    common, path, "", command.resume},
                   full);
    return path;
}

// Every file the run writes under --out-dir, against every file it reads.
void check_paths(const ReproduceCommand& command, const std::vector<std::string>& methods, bool sharded) {
    OutputPlan plan("reproduce");
    plan.inputs("--model-file", command.model_files);
    plan.data_set(command.dataset, command.common.data_dir);
    plan.output_folder("--out-dir", command.out_dir);
    const size_t replicates = command.model_files.empty() ? size_t(command.replicates) : command.model_files.size();
    if (command.model_files.empty())
        for (int64_t r = 0; r < command.replicates; ++r) {
            plan.output("--out-dir", trained_model_path(command, r));
            plan.output("--out-dir", partial_path(trained_model_path(command, r)));
        }
    for (size_t r = 0; r < replicates; ++r)
        for (const std::string& method : methods) {
            const method::MethodFiles files = method::method_files(method::replicate_dir(command.out_dir, r, replicates), method);
            plan.output("--out-dir", files.checkpoint);
            plan.output("--out-dir", files.campaign);
        }
    const std::filesystem::path out(command.out_dir);
    if (sharded)
        plan.output("--out-dir", (out / method::kShardManifest).string());
    else
        for (const char* name : {"results.md", "results.csv", "results.json", "results.svg"})
            plan.output("--out-dir", (out / name).string());
    plan.check();
}

// The checkpoints, each with the data split it was trained with and its hardening seed.
std::vector<method::Replicate> replicates_of(const ReproduceCommand& command, const CLI::App& sub) {
    std::vector<std::string> files = command.model_files;
    if (files.empty())
        for (int64_t r = 0; r < command.replicates; ++r) files.push_back(trained_model(command, r));
    std::vector<method::Replicate> replicates;
    for (const std::string& file : files) {
        const auto metadata = layers::load_checkpoint(file).metadata;
        const layers::ModelInfo info = layers::model_info_from_metadata(metadata, file);
        const SplitRecord split = validation_split_of(metadata, file, command.validation_fraction,
                                                      sub.count("--val-fraction") > 0, command.common.seed);
        method::ComparisonData data = method::load_comparison_data(command.dataset, command.common.data_dir,
                                                                   info.input_shape, split.fraction, split.seed);
        data.test = evaluation_subset(data.test, command.eval_images, command.common.seed);
        replicates.push_back({file, std::move(data), split.seed});
    }
    return replicates;
}

void run_reproduce(ReproduceCommand& command, const CLI::App& sub) {
    apply_common_options(command.common);
    method::ComparisonOptions options;
    options.settings = resolve_method_flags(sub, command.flags);
    if (command.quick) apply_quick(sub, command, options.settings);
    note_hardening_memory(options.settings);
    if (!command.model_files.empty() && sub.count("--replicates"))
        core::fail<core::ValueError>("reproduce: --replicates trains that many models; with --model-file the "
                                     "replicates are the files given (", command.model_files.size(), ")");
    options.methods = method::parse_method_list(command.methods);
    options.campaign.format = faults::StorageFormat::parse(command.format);
    options.campaign.trials = command.trials;
    options.campaign.dataset_name = command.dataset;
    if (!command.bers.empty()) options.campaign.bers = faults::parse_ber_list(command.bers);
    options.campaign.site = command.sites.site;
    options.campaign.activation_layers = command.sites.activation_layers;
    options.campaign.shard = faults::parse_shard(command.shard);
    faults::validate_options(options.campaign);
    options.run = {command.common.seed, !command.common.quiet};
    options.batch_norm = command.batch_norm;
    options.out_dir = command.out_dir;
    options.resume = command.resume;
    options.times = !command.no_times;
    const bool sharded = options.campaign.shard.count > 1;
    check_paths(command, options.methods, sharded);

    std::vector<method::Replicate> replicates = replicates_of(command, sub);
    const layers::ModelInfo info =
        layers::model_info_from_metadata(layers::load_checkpoint(replicates.front().checkpoint).metadata,
                                         replicates.front().checkpoint);
    if (command.bers.empty()) options.campaign.bers = method::default_comparison_bers(info);
    const method::ComparisonResult result = method::run_comparison(replicates, options);
    if (sharded) {
        method::write_shard_manifest(result, options);
        std::printf("shard %s: wrote %s/%s and the campaigns' trials of this shard in %.1f s; join the folders of "
                    "every shard with proact merge DIR... --out-dir OUT\n",
                    command.shard.c_str(), command.out_dir.c_str(), method::kShardManifest, result.seconds);
        return;
    }
    method::write_comparison_files(result, options);
    std::printf("%s\n", method::results_markdown(result, options.times).c_str());
    std::printf("wrote %s/results.{md,csv,json,svg} in %.1f s\n", command.out_dir.c_str(), result.seconds);
}

}  // namespace

void register_reproduce(CLI::App& app) {
    auto command = std::make_shared<ReproduceCommand>();
    CLI::App* sub = app.add_subcommand(
        "reproduce", "The comparison: train, harden with every method, the same fault campaign on each, one table");
    sub->add_option("--model", command->model, "Model to train: " + name_list(layers::model_names()))
        ->check(CLI::IsMember(layers::model_names()))
        ->capture_default_str();
    sub->add_option("--model-file", command->model_files,
                    "Trained checkpoint to use instead of training; give it several times for replicates")
        ->check(CLI::ExistingFile);
    sub->add_option("--replicates", command->replicates,
                    "Models trained with seeds --seed, --seed + 1, ...: the results give the spread over them")
        ->check(whole_number(1, 100))
        ->capture_default_str();
    sub->add_option("--dataset", command->dataset, "Data set: fashion-mnist, mnist, cifar10, cifar100")->capture_default_str();
    sub->add_option("--format", command->format, std::string("Storage format: ") + faults::kStorageFormatNames)
        ->check(storage_format_flag())
        ->capture_default_str();
    add_fault_site_options(*sub, command->sites);
    sub->add_option("--batch-norm", command->batch_norm,
                    "fold: batch norm folded into the convolutions before quantisation, as deployed | keep: a "
                    "fault-free stage (the toolbox's)")
        ->check(CLI::IsMember({"fold", "keep"}))
        ->capture_default_str();
    sub->add_option("--out-dir", command->out_dir, "Folder for the checkpoints, campaigns and results")->required();
    sub->add_option("--methods", command->methods, "all, or some of: " + method::method_names())->capture_default_str();
    sub->add_option("--ber", command->bers,
                    "Comma-separated BERs (default: lenet5 1e-5,1e-4,3e-4,1e-3; other 28x28 models "
                    "1e-6,1e-5,3e-5,1e-4,3e-4; 32x32 models 1e-7,3e-7,1e-6,3e-6,1e-5,3e-5)")
        ->check(ber_list_flag());
    sub->add_option("--shard", command->shard,
                    "Run trials i, i+n, ... of every campaign (i/n) and write DIR/shard.json instead of the results; "
                    "join the shards' folders with proact merge DIR... --out-dir OUT")
        ->check(parsed_by([](const std::string& text) { (void)faults::parse_shard(text); }, "i/n"))
        ->capture_default_str();
    sub->add_option("--trials", command->trials, "Trials per BER and method")
        ->check(whole_number(1, kMaxTrials))
        ->capture_default_str();
    sub->add_option("--eval-images", command->eval_images, "Evaluate on a seeded subset of the test set (0: all)")
        ->check(whole_number(0, kMaxImages))
        ->capture_default_str();
    sub->add_option("--train-images", command->train_images,
                    "Train the model on the first N images of the training split (0: all)")
        ->check(whole_number(0, kMaxImages))
        ->capture_default_str();
    sub->add_option("--val-fraction", command->validation_fraction,
                    "Share of the training set held out for validation (a --model-file that records its split "
                    "keeps its own)")
        ->check(number_in(0.01, 0.9))
        ->capture_default_str();
    sub->add_flag("--resume", command->resume,
                  "Keep what a previous run left in --out-dir when it checks out (trained model, hardened models, "
                  "campaigns); recompute the rest");
    sub->add_flag("--no-times", command->no_times,
                  "Write harden_seconds as null: results.json then depends on the seed alone, at any thread count");
    sub->add_flag("--quick", command->quick,
                  "Smoke run: 3 trials, 1 training epoch on 5,000 images, 1,000 test images, ProAct and FitAct on 2,000 "
                  "images, ProAct 1 epoch per try, FitAct 1 epoch");
    command->train.epochs = 10;
    add_train_options(*sub, command->train);
    add_method_flags(*sub, command->flags);
    add_common_options(*sub, command->common);
    sub->callback([command, sub] { run_reproduce(*command, *sub); });
}

}  // namespace proact::apps
