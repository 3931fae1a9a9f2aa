// proact demo: the main job end to end on the embedded default (Fashion-MNIST): train LeNet-5,
// evaluate it, and run fault campaigns on its weights stored as float32 and as Q15.16 fixed point.
// (Hardening with ProAct joins when it lands.)
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "faults/campaign.hpp"
#include "faults/report.hpp"
#include "layers/checkpoint.hpp"
#include "datasets/split.hpp"
#include "layers/zoo.hpp"

namespace proact::apps {

namespace {

struct DemoCommand {
    CommonOptions common;
    train::TrainOptions train;
    std::string out_dir = "out/demo";
    int64_t trials = 20;
};

// Accuracy at `ber` in a campaign's points, or NaN when that BER was not run.
double mean_at(const faults::CampaignResult& result, double ber) {
    for (const faults::PointResult& point : result.points)
        if (point.rate == ber) return point.stats.mean;
    return std::nan("");
}

void run_demo(DemoCommand& command) {
    apply_common_options(command.common);
    command.train.seed = command.common.seed;
    command.train.progress = !command.common.quiet;
    std::filesystem::create_directories(command.out_dir);
    const std::string model_path = command.out_dir + "/lenet5.safetensors";
    std::printf("== proact demo: LeNet-5 on Fashion-MNIST, seed %llu ==\n",
                static_cast<unsigned long long>(command.common.seed));

    std::printf("\n[1/3] train (%d epochs, SGD lr %g momentum %g, batch %lld)\n", command.train.epochs,
                command.train.lr, command.train.momentum, static_cast<long long>(command.train.batch_size));
    const datasets::Dataset full = load_split("fashion-mnist", "train", command.common);
    auto [train_set, validation] = datasets::split(full, 0.1, command.common.seed);
    layers::ModulePtr model = layers::make_model("lenet5", full.sample_shape(), full.num_classes, command.common.seed);
    std::vector<train::EpochLog> history;
    train::train_classifier(*model, train_set, &validation, command.train, [&](const train::EpochLog& epoch) {
        history.push_back(epoch);
        write_epoch_csv(command.out_dir + "/train_log.csv", history);
    });
    layers::save_checkpoint(model_path, *model, {{"dataset", "fashion-mnist"}, {"seed", std::to_string(command.common.seed)}});

    std::printf("\n[2/3] evaluate on the 10,000 test images\n");
    const datasets::Dataset test = load_split("fashion-mnist", "test", command.common);
    const layers::EvalResult result = layers::evaluate(*model, test.images, test.labels);
    std::printf("%s", format_confusion(result, test.class_names).c_str());
    write_text_file(command.out_dir + "/eval.json",
                    eval_json(result, test.class_names, {{"model_file", model_path}, {"dataset", "fashion-mnist"}}));

    std::printf("\n[3/3] fault campaigns on the test set: bit flips in conv and linear weights and biases, "
                "%lld trials per BER\n", static_cast<long long>(command.trials));
    faults::CampaignOptions options;
    options.trials = command.trials;
    options.seed = command.common.seed;
    options.progress = !command.common.quiet;
    options.model_name = "lenet5";
    options.dataset_name = "fashion-mnist";
    std::vector<faults::CampaignResult> campaigns;
    // float32 first: quantising to fixed point changes the weights in place.
    options.format = faults::StorageFormat::float32();
    options.label = "LeNet-5 ReLU, float32";
    campaigns.push_back(faults::run_campaign(*model, test.images, test.labels, options));
    std::printf("%s", faults::campaign_table(campaigns.back()).c_str());
    options.format = faults::StorageFormat::fixed_point(15, 16);
    options.label = "LeNet-5 ReLU, Q15.16";
    std::vector<faults::FaultTarget> targets = faults::select_targets(*model, options.patterns);
    faults::quantize_targets(targets, options.format);
    campaigns.push_back(faults::run_campaign(*model, test.images, test.labels, options));
    std::printf("%s", faults::campaign_table(campaigns.back()).c_str());
    write_text_file(command.out_dir + "/campaign.csv", faults::campaign_csv(campaigns));
    write_text_file(command.out_dir + "/campaign_float32.json", faults::campaign_json(campaigns[0]));
    write_text_file(command.out_dir + "/campaign_q15.16.json", faults::campaign_json(campaigns[1]));
    write_text_file(command.out_dir + "/campaign.svg",
                    faults::campaign_svg(campaigns, "LeNet-5 on Fashion-MNIST under weight bit flips"));

    std::printf("\n== summary (top-1 test accuracy, %%; under faults: mean of %lld trials) ==\n",
                static_cast<long long>(command.trials));
    double seconds = 0;
    for (const auto& e : history) seconds += e.seconds;
    std::printf("trained %d epochs, %.2f s/epoch; clean test accuracy %.2f%%\n", command.train.epochs,
                history.empty() ? 0.0 : seconds / double(history.size()), 100 * result.accuracy());
    const std::vector<double> shown = {1e-7, 1e-6, 1e-5, 1e-4};
    std::printf("%-26s %10s", "model, storage", "fault-free");
    for (double ber : shown) std::printf("  BER %-7.0e", ber);
    std::printf("\n");
    for (const faults::CampaignResult& campaign : campaigns) {
        std::printf("%-26s %10.2f", campaign.label.c_str(), campaign.fault_free_accuracy());
        for (double ber : shown) std::printf("  %11.2f", mean_at(campaign, ber));
        std::printf("\n");
    }
    std::printf("files in %s: lenet5.safetensors, train_log.csv, eval.json, campaign.csv, campaign_*.json, "
                "campaign.svg\n", command.out_dir.c_str());
}

}  // namespace

void register_demo(CLI::App& app) {
    auto command = std::make_shared<DemoCommand>();
    CLI::App* sub = app.add_subcommand("demo", "Train, evaluate (and, as they land, harden and fault-test) LeNet-5 on Fashion-MNIST");
    command->train.epochs = 3;
    sub->add_option("--epochs", command->train.epochs, "Training epochs")->check(CLI::PositiveNumber)->capture_default_str();
    sub->add_option("--trials", command->trials, "Fault-campaign trials per BER")->check(CLI::PositiveNumber)->capture_default_str();
    sub->add_option("--out-dir", command->out_dir, "Folder for the checkpoint, logs and reports")->capture_default_str();
    add_common_options(*sub, command->common);
    sub->callback([command] { run_demo(*command); });
}

}  // namespace proact::apps
