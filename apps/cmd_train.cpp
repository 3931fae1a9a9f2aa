// proact train: train a zoo model on a data set, save it as a safetensors checkpoint.
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "datasets/registry.hpp"
#include "datasets/split.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "train/evaluate.hpp"

namespace proact::apps {

namespace {

struct TrainCommand {
    CommonOptions common;
    train::TrainOptions train;
    std::string model = "lenet5";
    std::string dataset = "fashion-mnist";
    std::string image_shape = "3,32,32";
    double validation_fraction = 0.1;
    int64_t train_images = 0;
    std::string out = "model.safetensors";
    std::string log_csv;
    bool skip_test = false;
    bool resume = false;
};

void run_train(TrainCommand& command) {
    apply_common_options(command.common);
    const core::Shape image_shape = layers::parse_shape(command.image_shape);
    const std::string log_path = command.log_csv.empty() ? command.out + ".log.csv" : command.log_csv;
    OutputPlan plan("train");
    plan.data_set(command.dataset, command.common.data_dir);
    plan.output("--out", command.out);
    plan.output("--log", log_path);
    plan.output("--out (its partial run)", partial_path(command.out));
    plan.check();
    if (command.dataset == "folder")
        note_memory_request("--image-shape", "each image decoded at " + command.image_shape,
                            double(core::numel_of(image_shape)) * 4.0);
    TrainRequest request{command.model, command.dataset, command.validation_fraction, command.train_images, command.train,
                         command.common, command.out, log_path, command.resume};
    // The training set lives for this statement only: its pixels are gone before the test set loads.
    const auto [model, history] =
        train_and_save(request, load_split(command.dataset, "train", command.common, image_shape));
    std::printf("saved %s (log %s)\n", command.out.c_str(), log_path.c_str());
    if (!history.empty()) {
        const train::EpochLog& last = history.back();
        std::printf("epoch %d: train loss %.4f, train accuracy %.2f%%, validation accuracy %.2f%%, %.2f s/epoch, %.0f img/s\n",
                    last.epoch, last.train_loss, 100 * last.train_accuracy, 100 * last.validation_accuracy,
                    last.seconds, last.images_per_second);
    }
    if (!command.skip_test) {
        const datasets::Dataset test = load_split(command.dataset, "test", command.common, image_shape);
        const layers::EvalResult result = train::evaluate(*model, test);
        std::printf("test accuracy %.2f%% (%lld/%lld)\n", 100 * result.accuracy(), static_cast<long long>(result.correct),
                    static_cast<long long>(result.total));
    }
}

}  // namespace

void register_train(CLI::App& app) {
    auto command = std::make_shared<TrainCommand>();
    CLI::App* sub = app.add_subcommand("train", "Train a model and save it as a safetensors checkpoint");
    sub->add_option("--model", command->model, "Model: " + name_list(layers::model_names()))
        ->check(CLI::IsMember(layers::model_names()))
        ->capture_default_str();
    sub->add_option("--dataset", command->dataset, "Data set: " + name_list(datasets::dataset_names()))
        ->capture_default_str();
    sub->add_option("--image-shape", command->image_shape, "C,H,W images are decoded to (folder data sets)")
        ->check(parsed_by([](const std::string& text) { (void)layers::parse_shape(text); }, "C,H,W"))
        ->capture_default_str();
    sub->add_option("--val-fraction", command->validation_fraction,
                    "Share of the training set held out for validation")
        ->check(number_in(0.0, 0.9))
        ->capture_default_str();
    sub->add_option("--train-images", command->train_images,
                    "Train on the first N images of the training split (0: all); the validation split is unchanged")
        ->check(whole_number(0, kMaxImages))
        ->capture_default_str();
    sub->add_option("--out", command->out, "Checkpoint to write (safetensors)")->capture_default_str();
    sub->add_option("--log", command->log_csv, "CSV of the per-epoch curves (default: OUT.log.csv)");
    sub->add_flag("--no-test", command->skip_test, "Skip the final test-set evaluation");
    sub->add_flag("--resume", command->resume,
                  "Continue an interrupted run from OUT.partial (written after every epoch) with the same settings: "
                  "the checkpoint is the one an uninterrupted run writes, byte for byte");
    command->train.epochs = 10;
    add_train_options(*sub, command->train);
    add_common_options(*sub, command->common);
    sub->callback([command] { run_train(*command); });
}

}  // namespace proact::apps
