// proact demo: the main job end to end on Fashion-MNIST: train LeNet-5, harden it with ProAct, and
// run the same fault campaigns (weights stored as float32, then as Q15.16 fixed point) on the
// unprotected and the hardened model; print the table and write the plots; then the comparison
// with every baseline (proact reproduce's, FitAct shortened to kDemoFitActEpochs) on the same model.
//
// Both models face the same weight faults: a trial's faults come from (seed, trial, parameter
// name), and the hardened model's thresholds are faulted on top (they are stored words too).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "datasets/split.hpp"
#include "faults/campaign.hpp"
#include "faults/report.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "proact/comparison.hpp"
#include "proact/method.hpp"
#include "train/evaluate.hpp"

namespace proact::apps {

namespace {

struct DemoCommand {
    CommonOptions common;
    train::TrainOptions train;
    method::MethodSettings settings;
    std::string out_dir = "out/demo";
    int64_t trials = 20;
};

const std::vector<double> kFloatBers = {1e-7, 1e-6, 1e-5, 1e-4};
const std::vector<double> kFixedBers = {1e-6, 1e-5, 1e-4, 3e-4};
// FitAct's epochs in the demo (reproduce: 24): its accuracy barely moves after the first few on
// LeNet-5, and the demo should stay within a couple of minutes.
constexpr int kDemoFitActEpochs = 3;
constexpr double kValidationFraction = 0.1;

// Accuracy at `ber` in a campaign's points, or NaN when that BER was not run.
double mean_at(const faults::CampaignResult& result, double ber) {
    for (const faults::PointResult& point : result.points)
        if (point.rate == ber) return point.stats.mean;
    return std::nan("");
}

layers::ModulePtr train_lenet(DemoCommand& command, const datasets::Dataset& full, const std::string& path) {
    std::printf("\n[1/5] train LeNet-5 (%d epochs, SGD lr %g momentum %g, batch %lld)\n", command.train.epochs,
                command.train.lr, command.train.momentum, static_cast<long long>(command.train.batch_size));
    return train_and_save({"lenet5", "fashion-mnist", kValidationFraction, 0, command.train, command.common, path,
                           command.out_dir + "/train_log.csv"},
                          full)
        .model;
}

// Float32 first, then Q15.16: quantising to fixed point changes the stored values in place.
std::vector<faults::CampaignResult> campaigns_of(layers::Module& model, const std::string& name,
                                                 const datasets::Dataset& test, const DemoCommand& command) {
    faults::CampaignOptions options;
    options.trials = command.trials;
    options.seed = command.common.seed;
    options.progress = !command.common.quiet;
    options.model_name = "lenet5";
    options.dataset_name = "fashion-mnist";
    std::vector<faults::CampaignResult> results;
    options.format = faults::StorageFormat::float32();
    options.bers = kFloatBers;
    options.label = "LeNet-5 " + name + ", float32";
    results.push_back(faults::run_campaign(model, test.images(), test.labels, options));
    options.format = faults::StorageFormat::fixed_point(15, 16);
    options.bers = kFixedBers;
    options.label = "LeNet-5 " + name + ", Q15.16";
    std::vector<faults::FaultTarget> targets = faults::select_targets(model);
    faults::quantize_targets(targets, options.format);
    results.push_back(faults::run_campaign(model, test.images(), test.labels, options));
    return results;
}

void print_table(const std::vector<faults::CampaignResult>& campaigns, const std::vector<double>& bers) {
    std::printf("%-30s %10s", "model, storage", "fault-free");
    for (double ber : bers) std::printf("  BER %-7.0e", ber);
    std::printf("\n");
    for (const faults::CampaignResult& campaign : campaigns) {
        std::printf("%-30s %10.2f", campaign.label.c_str(), campaign.fault_free_accuracy());
        for (double ber : bers) std::printf("  %11.2f", mean_at(campaign, ber));
        std::printf("\n");
    }
}

void run_demo(DemoCommand& command) {
    apply_common_options(command.common);
    command.settings.fitact.epochs = kDemoFitActEpochs;
    method::validate_settings(command.settings);
    const std::string model_path = command.out_dir + "/lenet5.safetensors";
    const std::string hardened_path = command.out_dir + "/lenet5_proact.safetensors";
    OutputPlan plan("demo");
    plan.data_set("fashion-mnist", command.common.data_dir);
    plan.output_folder("--out-dir", command.out_dir);
    for (const char* name : {"lenet5.safetensors", "lenet5.safetensors.partial", "lenet5_proact.safetensors",
                             "train_log.csv", "proact_log.json", "campaign.csv", "campaign_float32.svg",
                             "campaign_q15.16.svg"})
        plan.output("--out-dir", command.out_dir + "/" + name);
    plan.check();
    std::filesystem::create_directories(command.out_dir);
    std::printf("== proact demo: LeNet-5 on Fashion-MNIST, ProAct against bit flips, seed %llu ==\n",
                static_cast<unsigned long long>(command.common.seed));
    const datasets::Dataset full = load_split("fashion-mnist", "train", command.common);
    const datasets::Dataset test = load_split("fashion-mnist", "test", command.common);
    auto [train, validation] = datasets::split(full, kValidationFraction, command.common.seed);
    layers::ModulePtr model = train_lenet(command, full, model_path);

    const method::Method& proact = method::find_method("proact");
    std::printf("\n[2/5] harden with ProAct (%s thresholds, trained layer by layer from the last)\n",
                command.settings.proact.clip.to_string().c_str());
    layers::ModulePtr hardened = layers::load_model(model_path);
    const method::HardenInputs inputs{full.sample_shape(), &train, &validation, faults::StorageFormat::float32(), {}, {}};
    const method::HardenReport hardening =
        proact.harden(*hardened, inputs, command.settings, method::RunSettings{command.common.seed, !command.common.quiet},
                      [](const std::string& line) { std::printf("%s\n", line.c_str()); });
    layers::save_checkpoint(hardened_path, *hardened, {{"dataset", "fashion-mnist"}, {"hardening", "proact"}});
    write_text_file(command.out_dir + "/proact_log.json", hardening.details_json);

    std::printf("\n[3/5] evaluate on the %lld test images\n", static_cast<long long>(test.size()));
    const double clean = 100.0 * train::evaluate(*model, test).accuracy();
    const double clean_hardened = 100.0 * train::evaluate(*hardened, test).accuracy();
    std::printf("unprotected %.2f%%, ProAct %.2f%% (%lld thresholds, hardened in %.1f s)\n", clean, clean_hardened,
                static_cast<long long>(hardening.thresholds), hardening.seconds);

    std::printf("\n[4/5] fault campaigns on the test set: bit flips in conv/linear weights and biases (and ProAct's "
                "thresholds), %lld trials per BER\n", static_cast<long long>(command.trials));
    std::vector<faults::CampaignResult> unprotected = campaigns_of(*model, "ReLU", test, command);
    std::vector<faults::CampaignResult> protected_ = campaigns_of(*hardened, "ProAct", test, command);
    const std::vector<faults::CampaignResult> float32 = {unprotected[0], protected_[0]};
    const std::vector<faults::CampaignResult> fixed = {unprotected[1], protected_[1]};
    write_text_file(command.out_dir + "/campaign.csv",
                    faults::campaign_csv({unprotected[0], unprotected[1], protected_[0], protected_[1]}));
    write_text_file(command.out_dir + "/campaign_float32.svg",
                    faults::campaign_svg(float32, "LeNet-5 / Fashion-MNIST, weights as float32: ReLU vs ProAct"));
    write_text_file(command.out_dir + "/campaign_q15.16.svg",
                    faults::campaign_svg(fixed, "LeNet-5 / Fashion-MNIST, weights as Q15.16: ReLU vs ProAct"));

    std::printf("\n== summary (top-1 test accuracy, %%; under faults: mean of %lld trials) ==\n",
                static_cast<long long>(command.trials));
    print_table(float32, kFloatBers);
    print_table(fixed, kFixedBers);

    std::printf("\n[5/5] the comparison (as proact reproduce): every method on the same Q15.16 faults, thresholds "
                "and guard bounds faulted too, %lld trials per BER\n", static_cast<long long>(command.trials));
    method::ComparisonOptions options;
    options.methods = method::parse_method_list("all");
    options.campaign.format = faults::StorageFormat::fixed_point(15, 16);
    options.campaign.bers = method::default_comparison_bers(*layers::model_info(*model));
    options.campaign.trials = command.trials;
    options.campaign.dataset_name = "fashion-mnist";
    options.settings = command.settings;
    options.run = {command.common.seed, !command.common.quiet};
    options.out_dir = command.out_dir + "/comparison";
    const method::Replicate replicate{model_path, {std::move(train), std::move(validation), test}, command.common.seed};
    const method::ComparisonResult comparison = method::run_comparison({replicate}, options);
    method::write_comparison_files(comparison, options);
    std::printf("%s\n", method::results_markdown(comparison, true).c_str());
    std::printf("files in %s: lenet5.safetensors, lenet5_proact.safetensors, train_log.csv, proact_log.json, "
                "campaign.csv, campaign_float32.svg, campaign_q15.16.svg, comparison/results.{md,csv,json,svg}\n",
                command.out_dir.c_str());
}

}  // namespace

void register_demo(CLI::App& app) {
    auto command = std::make_shared<DemoCommand>();
    CLI::App* sub = app.add_subcommand("demo", "Train LeNet-5 on Fashion-MNIST, harden it with ProAct, fault-test both, compare every method");
    command->train.epochs = 3;
    sub->add_option("--epochs", command->train.epochs, "Training epochs")
        ->check(whole_number(1, kMaxEpochs))
        ->capture_default_str();
    sub->add_option("--trials", command->trials, "Fault-campaign trials per BER")
        ->check(whole_number(1, kMaxTrials))
        ->capture_default_str();
    sub->add_option("--out-dir", command->out_dir, "Folder for the checkpoints, logs and reports")->capture_default_str();
    add_common_options(*sub, command->common);
    sub->callback([command] { run_demo(*command); });
}

}  // namespace proact::apps
