// proact reproduce: the comparison experiment, from training to the results table.
//
//   proact reproduce --model lenet5 --dataset fashion-mnist --format q15.16 --out-dir out [--resume]
//   proact reproduce --model-file m.safetensors --dataset cifar10 --data-dir cifar-10-batches-bin --out-dir out
//
// Trains the model into DIR/model.safetensors (or takes --model-file), hardens a fresh copy with
// each method of --methods, runs the same campaign on each (thresholds faulted) and writes
// DIR/results.{md,csv,json,svg} beside every method's hardened checkpoint and campaign JSON.
// results.json holds harden_seconds, the one figure that differs from run to run; --no-times
// writes it as null so that the same seed gives the same bytes at any thread count.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "core/rng.hpp"
#include "datasets/split.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "proact/comparison.hpp"

namespace proact::apps {

namespace {

struct ReproduceCommand {
    CommonOptions common;
    train::TrainOptions train;
    std::string model = "lenet5", model_file, dataset = "fashion-mnist", format = "q15.16", out_dir;
    std::string methods = "all", bers;
    int64_t trials = 30;
    int64_t eval_images = 0;
    int64_t train_images = 0;  // the model's training images (0: the whole training split)
    double validation_fraction = 0.1;
    bool resume = false, no_times = false, quick = false;
    method::ProActOptions proact;
    method::FitActOptions fitact;
    int64_t profile_images = 1024;
    int64_t max_train_images = 0;  // ProAct's and FitAct's threshold-training images (0: all)
};

// Fewer trials, epochs and images for every flag the user did not give: a smoke run in seconds.
void apply_quick(const CLI::App& sub, ReproduceCommand& command) {
    const auto unset = [&sub](const char* flag) { return sub.count(flag) == 0; };
    if (unset("--trials")) command.trials = 3;
    if (unset("--epochs")) command.train.epochs = 1;
    if (unset("--eval-images")) command.eval_images = 1000;
    if (unset("--train-images")) command.train_images = 5000;
    if (unset("--max-train-images")) command.max_train_images = 2000;
    if (unset("--fitact-epochs")) command.fitact.epochs = 1;
    command.proact.epochs_scalar = command.proact.epochs_neuron = 1;
    command.proact.decays = {4e-2f, 4e-4f};
}

// The trained model: --model-file, or DIR/model.safetensors kept by --resume when it was trained
// with the same model, data set, epochs and seed, or trained now.
std::string trained_model(const ReproduceCommand& command) {
    if (!command.model_file.empty()) return command.model_file;
    const std::string path = (std::filesystem::path(command.out_dir) / "model.safetensors").string();
    if (command.resume && std::filesystem::exists(path)) {
        try {
            const auto meta = layers::load_checkpoint(path).metadata;
            if (meta.at("model") == command.model && meta.at("dataset") == command.dataset &&
                meta.at("epochs") == std::to_string(command.train.epochs) &&
                meta.at("train_images") == std::to_string(command.train_images) &&
                meta.at("seed") == std::to_string(command.common.seed)) {
                std::fprintf(stderr, "[train] kept %s\n", path.c_str());
                return path;
            }
        } catch (const std::exception&) {
        }
    }
    const datasets::Dataset full = load_split(command.dataset, "train", command.common);
    auto [train, validation] = datasets::split(full, command.validation_fraction, command.common.seed);
    if (command.train_images > 0 && command.train_images < train.size()) {
        std::vector<int64_t> rows(static_cast<size_t>(command.train_images));
        for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
        train = train.subset(rows);
    }
    layers::ModulePtr model = layers::make_model(command.model, full.sample_shape(), full.num_classes, command.common.seed);
    std::filesystem::create_directories(command.out_dir);
    std::fprintf(stderr, "[train] %s, %d epochs on %lld images\n", command.model.c_str(), command.train.epochs,
                 static_cast<long long>(train.size()));
    train::TrainOptions options = command.train;
    options.seed = command.common.seed;
    options.progress = !command.common.quiet;
    train::train_classifier(*model, train, &validation, options);
    layers::save_checkpoint(path, *model,
                            {{"dataset", command.dataset},
                             {"epochs", std::to_string(command.train.epochs)},
                             {"train_images", std::to_string(command.train_images)},
                             {"seed", std::to_string(command.common.seed)}});
    return path;
}

// A seeded subset of `images` test images (all of them for 0), in their original order.
datasets::Dataset evaluation_subset(const datasets::Dataset& test, int64_t images, uint64_t seed) {
    if (images <= 0 || images >= test.size()) return test;
    core::Rng rng(seed, "reproduce_eval_subset");
    std::vector<int64_t> rows = datasets::random_permutation(test.size(), rng);
    rows.resize(static_cast<size_t>(images));
    std::sort(rows.begin(), rows.end());
    return test.subset(rows);
}

void run_reproduce(ReproduceCommand& command, const CLI::App& sub) {
    apply_common_options(command.common);
    if (command.quick) apply_quick(sub, command);
    method::ComparisonOptions options;
    options.methods = method::parse_method_list(command.methods);
    options.campaign.format = faults::StorageFormat::parse(command.format);
    options.campaign.trials = command.trials;
    options.campaign.seed = command.common.seed;
    options.campaign.dataset_name = command.dataset;
    if (!command.bers.empty()) options.campaign.bers = faults::parse_ber_list(command.bers);
    faults::validate_options(options.campaign);
    command.proact.max_train_images = command.fitact.max_train_images = command.max_train_images;
    method::validate_options(command.proact);
    method::validate_options(command.fitact);
    options.harden.proact = command.proact;
    options.harden.fitact = command.fitact;
    options.harden.profile_images = command.profile_images;
    options.harden.seed = command.common.seed;
    options.out_dir = command.out_dir;
    options.resume = command.resume;
    options.times = !command.no_times;
    options.progress = !command.common.quiet;

    const std::string checkpoint = trained_model(command);
    const layers::ModelInfo info = layers::model_info_from_metadata(layers::load_checkpoint(checkpoint).metadata, checkpoint);
    if (command.bers.empty()) options.campaign.bers = method::default_comparison_bers(info);
    method::ComparisonData data = method::load_comparison_data(command.dataset, command.common.data_dir, info.input_shape,
                                                               command.validation_fraction, command.common.seed);
    data.test = evaluation_subset(data.test, command.eval_images, command.common.seed);
    const method::ComparisonResult result = method::run_comparison(checkpoint, data, options);
    method::write_comparison_files(result, options);
    std::printf("%s\n", method::results_markdown(result, options.times).c_str());
    std::printf("wrote %s/results.{md,csv,json,svg} in %.1f s\n", command.out_dir.c_str(), result.seconds);
}

}  // namespace

void register_reproduce(CLI::App& app) {
    auto command = std::make_shared<ReproduceCommand>();
    CLI::App* sub = app.add_subcommand(
        "reproduce", "The comparison: train, harden with every method, the same fault campaign on each, one table");
    sub->add_option("--model", command->model, "Model to train: " + [] {
        std::string names;
        for (const std::string& name : layers::model_names()) names += (names.empty() ? "" : ", ") + name;
        return names;
    }())->check(CLI::IsMember(layers::model_names()))->capture_default_str();
    sub->add_option("--model-file", command->model_file, "Trained checkpoint to use instead of training")
        ->check(CLI::ExistingFile);
    sub->add_option("--dataset", command->dataset, "Data set: fashion-mnist, mnist, cifar10, cifar100")->capture_default_str();
    sub->add_option("--format", command->format, "Storage format: q15.16 (or any Qm.n) or float32")->capture_default_str();
    sub->add_option("--out-dir", command->out_dir, "Folder for the checkpoints, campaigns and results")->required();
    sub->add_option("--methods", command->methods, "all, or some of: " + method::comparison_method_names())
        ->capture_default_str();
    sub->add_option("--ber", command->bers,
                    "Comma-separated BERs (default: lenet5 1e-5,1e-4,3e-4,1e-3; other 28x28 models "
                    "1e-6,1e-5,3e-5,1e-4,3e-4; 32x32 models 1e-7,3e-7,1e-6,3e-6,1e-5,3e-5)");
    sub->add_option("--trials", command->trials, "Trials per BER and method")->check(CLI::PositiveNumber)->capture_default_str();
    sub->add_option("--eval-images", command->eval_images, "Evaluate on a seeded subset of the test set (0: all)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    sub->add_option("--train-images", command->train_images,
                    "Train the model on the first N images of the training split (0: all)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    sub->add_option("--val-fraction", command->validation_fraction, "Share of the training set held out for validation")
        ->check(CLI::Range(0.01, 0.9))->capture_default_str();
    sub->add_option("--profile-images", command->profile_images, "Training images the activation maxima come from (Ranger, and ProAct's starting thresholds)")->capture_default_str();
    sub->add_option("--max-train-images", command->max_train_images,
                    "Cap on the images ProAct and FitAct train thresholds on, a seeded subset (0: the whole training split)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    sub->add_option("--fitact-epochs", command->fitact.epochs, "FitAct's epochs over its training images (the toolbox: 100)")
        ->check(CLI::PositiveNumber)->capture_default_str();
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
    add_common_options(*sub, command->common);
    sub->callback([command, sub] { run_reproduce(*command, *sub); });
}

}  // namespace proact::apps
