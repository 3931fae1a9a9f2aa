// proact demo: the main job end to end on the embedded default (Fashion-MNIST): train LeNet-5,
// evaluate it. (Hardening with ProAct and the fault campaign join as they land.)
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "layers/checkpoint.hpp"
#include "datasets/split.hpp"
#include "layers/zoo.hpp"

namespace proact::apps {

namespace {

struct DemoCommand {
    CommonOptions common;
    method::TrainOptions train;
    std::string out_dir = "out/demo";
};

void run_demo(DemoCommand& command) {
    apply_common_options(command.common);
    command.train.seed = command.common.seed;
    command.train.progress = !command.common.quiet;
    std::filesystem::create_directories(command.out_dir);
    const std::string model_path = command.out_dir + "/lenet5.safetensors";
    std::printf("== proact demo: LeNet-5 on Fashion-MNIST, seed %llu ==\n",
                static_cast<unsigned long long>(command.common.seed));

    std::printf("\n[1/2] train (%d epochs, SGD lr %g momentum %g, batch %lld)\n", command.train.epochs,
                command.train.lr, command.train.momentum, static_cast<long long>(command.train.batch_size));
    const datasets::Dataset full = load_split("fashion-mnist", "train", command.common);
    auto [train, validation] = datasets::split(full, 0.1, command.common.seed);
    layers::ModulePtr model = layers::make_model("lenet5", full.sample_shape(), full.num_classes, command.common.seed);
    std::vector<method::EpochLog> history;
    method::train_classifier(*model, train, &validation, command.train, [&](const method::EpochLog& epoch) {
        history.push_back(epoch);
        write_epoch_csv(command.out_dir + "/train_log.csv", history);
    });
    layers::save_checkpoint(model_path, *model, {{"dataset", "fashion-mnist"}, {"seed", std::to_string(command.common.seed)}});

    std::printf("\n[2/2] evaluate on the 10,000 test images\n");
    const datasets::Dataset test = load_split("fashion-mnist", "test", command.common);
    const layers::EvalResult result = layers::evaluate(*model, test.images, test.labels);
    std::printf("%s", format_confusion(result, test.class_names).c_str());
    write_text_file(command.out_dir + "/eval.json",
                    eval_json(result, test.class_names, {{"model_file", model_path}, {"dataset", "fashion-mnist"}}));

    std::printf("\n== summary ==\n");
    std::printf("%-28s %10s %12s %14s\n", "model", "epochs", "s/epoch", "test acc (%)");
    double seconds = 0;
    for (const auto& e : history) seconds += e.seconds;
    std::printf("%-28s %10d %12.2f %14.2f\n", "LeNet-5 (ReLU, float32)", command.train.epochs,
                history.empty() ? 0.0 : seconds / double(history.size()), 100 * result.accuracy());
    std::printf("files: %s, %s/train_log.csv, %s/eval.json\n", model_path.c_str(), command.out_dir.c_str(),
                command.out_dir.c_str());
}

}  // namespace

void register_demo(CLI::App& app) {
    auto command = std::make_shared<DemoCommand>();
    CLI::App* sub = app.add_subcommand("demo", "Train, evaluate (and, as they land, harden and fault-test) LeNet-5 on Fashion-MNIST");
    command->train.epochs = 3;
    sub->add_option("--epochs", command->train.epochs, "Training epochs")->check(CLI::PositiveNumber)->capture_default_str();
    sub->add_option("--out-dir", command->out_dir, "Folder for the checkpoint, logs and reports")->capture_default_str();
    add_common_options(*sub, command->common);
    sub->callback([command] { run_demo(*command); });
}

}  // namespace proact::apps
