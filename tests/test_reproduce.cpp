// The comparison experiment on a tiny synthetic problem: the files it writes, resume (a deleted or
// corrupt campaign is recomputed, the rest kept, the same bytes), thread-count invariance, the
// method table, the paired difference, and the CIFAR data path on generated binary files.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file_io.hpp"
#include "core/threads.hpp"
#include "datasets/cifar.hpp"
#include "datasets/synthetic.hpp"
#include "layers/checkpoint.hpp"
#include "layers/evaluate.hpp"
#include "proact/comparison.hpp"
#include "proact/comparison_shards.hpp"
#include "train/training.hpp"
#include "support/test_support.hpp"

using namespace proact;
using test::TempDir;

namespace {

// Three Gaussian blobs in 784 dimensions shown as 1x28x28 images: LeNet-5 learns them in an epoch.
datasets::Dataset blob_images(int64_t per_class, uint64_t seed) {
    datasets::Dataset data = datasets::gaussian_blobs(per_class, 3, 28 * 28, 1.0f, seed, 1.0f);
    data.set_images(data.images().reshape({data.size(), 1, 28, 28}));
    return data;
}

struct Problem {
    TempDir dir{"proact-reproduce"};
    method::ComparisonData data;
    std::string checkpoint;

    Problem() {
        data.train = blob_images(40, 1);
        data.validation = blob_images(10, 1);
        data.test = blob_images(20, 1);
        layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 3, 7);
        train::TrainOptions train;
        train.epochs = 1;
        train.batch_size = 16;
        train.lr = 0.01f;
        train.progress = false;
        train::train_classifier(*model, data.train, &data.validation, train);
        checkpoint = dir.file("model.safetensors");
        layers::save_checkpoint(checkpoint, *model);
    }

    method::ComparisonOptions options(const std::string& out) const {
        method::ComparisonOptions options;
        options.methods = {"unprotected", "ranger", "proact"};
        options.campaign.bers = {1e-3, 1e-2};
        options.campaign.trials = 3;
        options.run = {5, false};
        options.settings.profile_images = 64;
        options.settings.proact.epochs_scalar = options.settings.proact.epochs_neuron = 1;
        options.settings.proact.decays = {4e-2f};
        options.settings.batch_size = 32;
        options.out_dir = dir.file(out);
        return options;
    }

    method::Replicate replicate() const { return {checkpoint, data, 5}; }

    // One replicate's outcomes.
    std::vector<method::MethodOutcome> run(const method::ComparisonOptions& options) const {
        method::ComparisonResult result = method::run_comparison({replicate()}, options);
        method::write_comparison_files(result, options);
        return result.replicates.front().methods;
    }
};

std::string results_of(const method::ComparisonOptions& options) {
    return core::read_file((std::filesystem::path(options.out_dir) / "results.json").string());
}

}  // namespace

TEST_CASE("comparison: every file, one record per method and BER, resume keeps what checks out") {
    const Problem problem;
    method::ComparisonOptions options = problem.options("out");
    const auto first = problem.run(options);
    REQUIRE(first.size() == 3);
    CHECK(first[0].report.thresholds == 0);
    CHECK(first[1].report.thresholds == 4);  // LeNet-5: four ReLUs, one threshold each
    CHECK(first[2].report.thresholds > 4);   // hybrid: the last layer neuron-wise (84)
    for (const auto& outcome : first) {
        CHECK(outcome.report.clean_accuracy == doctest::Approx(outcome.campaign.fault_free_accuracy()));
        CHECK(outcome.campaign.points.size() == 2);
    }
    for (const char* name : {"results.md", "results.csv", "results.json", "results.svg", "ranger.safetensors",
                             "proact.campaign.json", "unprotected.campaign.json"})
        CHECK(std::filesystem::exists(std::filesystem::path(options.out_dir) / name));

    const std::string json_text = results_of(options);
    const nlohmann::json json = nlohmann::json::parse(json_text);
    REQUIRE(json.at("records").size() == 6);
    for (const auto& record : json.at("records"))
        for (const char* field : {"method", "format", "ber", "mean_accuracy", "ci95", "clean_accuracy", "clean_drop",
                                  "thresholds", "harden_seconds", "no_prediction", "sdc"})
            CHECK(record.contains(field));
    CHECK(json["records"][0]["format"] == "Q15.16");
    CHECK(json["records"][0]["paired_vs_proact"].is_object());
    CHECK(json["records"][4]["paired_vs_proact"].is_null());
    std::istringstream csv(core::read_file(options.out_dir + "/results.csv"));
    int lines = 0;
    for (std::string line; std::getline(csv, line);) ++lines;
    CHECK(lines == 1 + 6);
    CHECK(test::contains(core::read_file(options.out_dir + "/results.md"), "| proact |"));

    // A deleted campaign and a corrupt one are run again; the rest is read back; same bytes.
    std::filesystem::remove(options.out_dir + "/ranger.campaign.json");
    const std::string proact_campaign = core::read_file(options.out_dir + "/proact.campaign.json");
    core::write_file_atomically(options.out_dir + "/proact.campaign.json", proact_campaign.substr(0, proact_campaign.size() / 2));
    options.resume = true;
    const auto resumed = problem.run(options);
    CHECK(resumed[0].hardening_kept);
    CHECK(resumed[0].campaign_kept);
    CHECK(resumed[1].hardening_kept);
    CHECK_FALSE(resumed[1].campaign_kept);
    CHECK(resumed[2].hardening_kept);
    CHECK_FALSE(resumed[2].campaign_kept);
    CHECK(results_of(options) == json_text);
    CHECK(core::read_file(options.out_dir + "/proact.campaign.json") == proact_campaign);

    // Other campaign settings: nothing of the campaigns is trusted, the hardened models are.
    options.campaign.trials = 2;
    const auto other = problem.run(options);
    for (const auto& outcome : other) {
        CHECK(outcome.hardening_kept);
        CHECK_FALSE(outcome.campaign_kept);
        CHECK(outcome.campaign.points[0].trial_ids.size() == 2);
    }
}

TEST_CASE("comparison: the same results.json on 1 and 2 threads without times") {
    const Problem problem;
    method::ComparisonOptions one = problem.options("one"), two = problem.options("two");
    one.times = two.times = false;
    one.methods = two.methods = {"ranger", "proact"};
    one.campaign.format = two.campaign.format = faults::StorageFormat::float32();
    const int threads = core::num_threads();
    core::set_num_threads(1);
    problem.run(one);
    core::set_num_threads(2);
    problem.run(two);
    core::set_num_threads(threads);
    CHECK(results_of(one) == results_of(two));
    CHECK(test::contains(results_of(one), "\"harden_seconds\": null"));
    CHECK(test::contains(results_of(one), "float32"));
}

TEST_CASE("comparison: FitAct's settings reach it, and other FitAct settings redo only FitAct") {
    const Problem problem;
    method::ComparisonOptions options = problem.options("fitact");
    options.methods = {"ranger", "fitact"};
    options.settings.fitact.epochs = 1;
    options.settings.max_train_images = 50;
    options.settings.batch_size = 25;
    const auto first = problem.run(options);
    REQUIRE(first.size() == 2);
    CHECK(test::contains(first[1].report.settings, "epochs 1"));
    CHECK(test::contains(first[1].report.settings, "train images 50"));
    CHECK(first[1].report.thresholds > first[0].report.thresholds);  // neuron-wise

    options.resume = true;
    options.settings.fitact.epochs = 2;
    const auto second = problem.run(options);
    CHECK(second[0].hardening_kept);
    CHECK_FALSE(second[1].hardening_kept);
    CHECK(test::contains(second[1].report.settings, "epochs 2"));
}

TEST_CASE("comparison: ProAct + guard continues ProAct's hardened model, the same bits as hardening it afresh") {
    const Problem problem;
    method::ComparisonOptions both = problem.options("both"), alone = problem.options("alone");
    both.methods = {"proact", "proact+guard"};
    alone.methods = {"proact+guard"};
    const auto with_base = problem.run(both);
    const auto without = problem.run(alone);
    const auto& proact = with_base[0].report;
    const auto& combined = with_base[1].report;
    CHECK(combined.thresholds == proact.thresholds);
    CHECK(combined.guards > 0);
    CHECK(combined.seconds >= proact.seconds);
    CHECK(test::contains(combined.settings, "range guard"));
    CHECK(combined.settings.find(proact.settings) == 0);
    CHECK(without[0].report.thresholds == combined.thresholds);
    CHECK(without[0].report.settings == combined.settings);

    const auto tensors = [](const std::string& path) { return layers::load_checkpoint(path).tensors; };
    const auto guarded = tensors(both.out_dir + "/proact+guard.safetensors");
    const auto fresh = tensors(alone.out_dir + "/proact+guard.safetensors");
    const auto plain = tensors(both.out_dir + "/proact.safetensors");
    REQUIRE(guarded.size() == fresh.size());
    for (const auto& [name, tensor] : guarded) {
        REQUIRE(fresh.count(name));
        CHECK_MESSAGE(tensor.to_vector() == fresh.at(name).to_vector(), name);
        if (plain.count(name)) CHECK_MESSAGE(tensor.to_vector() == plain.at(name).to_vector(), name);
    }
    CHECK(guarded.size() > plain.size());  // the bounds
    CHECK(with_base[1].campaign.points[1].correct == without[0].campaign.points[1].correct);
}

TEST_CASE("comparison: a base checkpoint left by an earlier run is not trusted without resume") {
    const Problem problem;
    method::ComparisonOptions options = problem.options("stale");
    options.methods = {"proact"};
    problem.run(options);
    // Tamper with the earlier run's ProAct checkpoint, keeping its metadata (and so its key).
    const std::string path = options.out_dir + "/proact.safetensors";
    const layers::Checkpoint original = layers::load_checkpoint(path);
    layers::ModulePtr model = layers::load_model(path);
    for (auto& [name, parameter] : model->named_parameters())
        if (name.ends_with("threshold")) parameter.value().data()[0] = 1234.0f;
    std::map<std::string, std::string> metadata;
    for (const auto& [key, value] : original.metadata)
        if (key.starts_with("comparison_") || key == "hardening") metadata[key] = value;
    layers::save_checkpoint(path, *model, metadata);

    options.methods = {"proact+guard"};
    problem.run(options);
    const auto guarded = layers::load_checkpoint(options.out_dir + "/proact+guard.safetensors").tensors;
    for (const auto& [name, tensor] : original.tensors)
        if (name.ends_with("threshold")) CHECK_MESSAGE(guarded.at(name).to_vector() == tensor.to_vector(), name);
}

TEST_CASE("comparison: images without a prediction are counted") {
    const Problem problem;
    method::ComparisonOptions options = problem.options("nan");
    options.methods = {"unprotected"};
    options.campaign.format = faults::StorageFormat::float32();
    options.campaign.bers = {0.0, 0.05};  // 5% of float32 bits: all-ones exponents, NaN and inf weights
    options.campaign.trials = 2;
    const auto result = problem.run(options);
    const method::MethodOutcome& outcome = result.at(0);
    CHECK(outcome.campaign.points[0].no_prediction_stats.mean == 0.0);
    CHECK(outcome.campaign.points[1].no_prediction_stats.mean > 0.0);
    // No prediction counts as wrong: a trial's correct and no-prediction images never exceed the set.
    for (size_t t = 0; t < 2; ++t)
        CHECK(outcome.campaign.points[1].correct[t] + outcome.campaign.points[1].no_prediction[t] <= outcome.campaign.samples);
}

TEST_CASE("comparison: replicates give a CI over the models and paired differences over every (replicate, trial)") {
    const Problem problem;
    // A second model: another training seed, its own validation split.
    method::Replicate second = problem.replicate();
    {
        layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 3, 8);
        train::TrainOptions train;
        train.epochs = 1;
        train.batch_size = 16;
        train.lr = 0.01f;
        train.seed = 8;
        train.progress = false;
        train::train_classifier(*model, problem.data.train, &problem.data.validation, train);
        second.checkpoint = problem.dir.file("model-1.safetensors");
        layers::save_checkpoint(second.checkpoint, *model);
        second.seed = 6;
    }
    method::ComparisonOptions options = problem.options("replicates");
    options.methods = {"unprotected", "proact"};
    options.times = false;
    const method::ComparisonResult result = method::run_comparison({problem.replicate(), second}, options);
    method::write_comparison_files(result, options);
    REQUIRE(result.replicates.size() == 2);
    CHECK(std::filesystem::exists(options.out_dir + "/replicate-1/proact.campaign.json"));
    const std::vector<method::MethodSummary> summaries = method::summarize(result);
    REQUIRE(summaries.size() == 2);
    for (size_t p = 0; p < result.bers.size(); ++p) {
        const method::PointSummary& point = summaries[0].points[p];
        const double a = result.replicates[0].methods[0].campaign.points[p].stats.mean;
        const double b = result.replicates[1].methods[0].campaign.points[p].stats.mean;
        CHECK(point.mean == doctest::Approx((a + b) / 2));
        // The CI over two replicate means: t(0.975, 1) * |a - b| / 2.
        if (a != b) CHECK(point.ci95_replicates == doctest::Approx(12.7062 * std::fabs(a - b) / 2.0).epsilon(1e-3));
        CHECK(point.has_paired);
    }
    // The clean drop is against each replicate's own trained model.
    const double drop = ((result.replicates[0].trained_accuracy - result.replicates[0].methods[1].report.clean_accuracy) +
                         (result.replicates[1].trained_accuracy - result.replicates[1].methods[1].report.clean_accuracy)) / 2;
    CHECK(summaries[1].clean_drop == doctest::Approx(drop));
    CHECK(summaries[0].clean_drop == doctest::Approx(0.0));
    const nlohmann::json json = nlohmann::json::parse(results_of(options));
    CHECK(json["settings"]["replicates"] == 2);
    CHECK(json["settings"]["batch_norm"] == "fold");
    CHECK(json["settings"]["tolerance_reference"] == "original");
    CHECK(json["settings"]["ftclipact_search_bers"] == "evaluation BERs");
    for (const auto& record : json["records"])
        for (const char* field : {"clean_accuracy", "clean_drop", "ci95_replicates", "replicates"}) CHECK(record.contains(field));
    CHECK(test::contains(core::read_file(options.out_dir + "/results.md"), "| drop |"));

    // Replicates evaluated on other test images are refused.
    method::Replicate other = second;
    other.data.test.labels[0] = (other.data.test.labels[0] + 1) % 3;
    CHECK_THROWS_AS(method::run_comparison({problem.replicate(), other}, options), core::ValueError);
}

TEST_CASE("comparison: method table, method lists and bad options") {
    CHECK(method::parse_method_list("all").size() == method::methods().size());
    CHECK(method::parse_method_list("proact,unprotected") == std::vector<std::string>{"proact", "unprotected"});
    const std::string unknown =
        test::message_of<core::ValueError>([] { method::parse_method_list("ranger,fitactt"); });
    CHECK(test::contains(unknown, "fitactt"));
    CHECK(test::contains(unknown, "unprotected, ranger"));
    CHECK(test::contains(test::message_of<core::ValueError>([] { method::parse_method_list("ranger,ranger"); }),
                         "twice"));
    CHECK(method::default_comparison_bers({"lenet5", {1, 28, 28}, 10, 0}).back() == 1e-3);

    const Problem problem;
    method::ComparisonOptions options = problem.options("bad");
    options.campaign.ci_margin = 1.0;
    CHECK_THROWS_AS(method::run_comparison({problem.replicate()}, options), core::ValueError);
    options = problem.options("bad");
    options.methods = {"nothing"};
    CHECK_THROWS_AS(method::run_comparison({problem.replicate()}, options), core::ValueError);
}

TEST_CASE("comparison: CIFAR-10 data from its binary files, for a CIFAR model") {
    TempDir dir{"proact-reproduce-cifar"};
    const auto write = [&dir](const std::string& name, int64_t count, int salt) {
        std::vector<uint8_t> pixels(static_cast<size_t>(count * datasets::kCifarImageBytes));
        for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 7 + size_t(salt) * 13) % 256);
        std::vector<uint8_t> labels;
        for (int64_t i = 0; i < count; ++i) labels.push_back(static_cast<uint8_t>((i + salt) % 10));
        datasets::write_cifar10_file(dir.path / name, pixels, labels);
    };
    for (int batch = 1; batch <= 5; ++batch) write("data_batch_" + std::to_string(batch) + ".bin", 4, batch);
    write("test_batch.bin", 6, 9);
    const method::ComparisonData data = method::load_comparison_data("cifar10", dir.path.string(), {3, 32, 32}, 0.2, 3);
    CHECK(data.train.size() == 16);
    CHECK(data.validation.size() == 4);
    CHECK(data.test.size() == 6);
    layers::ModulePtr model = layers::make_model("alexnet", {3, 32, 32}, 10, 0);
    CHECK(layers::evaluate(*model, data.test.images(), data.test.labels).total == 6);
    CHECK(method::default_comparison_bers({"alexnet", {3, 32, 32}, 10, 0}).front() == 1e-7);
    CHECK_THROWS_AS(method::load_comparison_data("cifar10", dir.path.string(), {1, 28, 28}, 0.2, 3), core::ShapeError);
}

TEST_CASE("comparison: shards of two replicates merge into one run's files; with times only harden_seconds differs") {
    const Problem problem;
    const std::vector<method::Replicate> replicates = {problem.replicate(), problem.replicate()};
    method::ComparisonOptions whole = problem.options("whole");
    whole.methods = {"unprotected", "proact"};
    whole.times = false;
    method::write_comparison_files(method::run_comparison(replicates, whole), whole);
    std::vector<std::string> dirs;
    std::vector<method::ComparisonResult> parts;
    for (int i = 0; i < 2; ++i) {
        method::ComparisonOptions shard = problem.options("shard-" + std::to_string(i));
        shard.methods = whole.methods;
        shard.campaign.shard = faults::parse_shard(std::to_string(i) + "/2");  // times on
        parts.push_back(method::run_comparison(replicates, shard));
        method::write_shard_manifest(parts.back(), shard);
        dirs.push_back(shard.out_dir);
    }
    const method::MergedComparison merged = method::merge_comparison_shards({dirs[1], dirs[0]});  // any order
    CHECK(merged.times);
    const std::string out = problem.dir.file("merged");
    method::write_merged_comparison(merged, out);
    for (const char* file : {"results.svg", "replicate-0/unprotected.campaign.json", "replicate-1/proact.campaign.json"})
        CHECK_MESSAGE(core::read_file(out + "/" + file) == core::read_file(whole.out_dir + "/" + file), file);
    // harden_seconds is shard 0's; set to null, the rest is the unsharded run's.
    nlohmann::json json = nlohmann::json::parse(core::read_file(out + "/results.json"));
    const nlohmann::json shard0 = nlohmann::json::parse(method::results_json(parts[0], true));
    for (size_t r = 0; r < json["records"].size(); ++r) {
        CHECK(json["records"][r]["harden_seconds"] == shard0["records"][r]["harden_seconds"]);
        json["records"][r]["harden_seconds"] = nullptr;
    }
    CHECK(json.dump(1) + "\n" == results_of(whole));

    // A manifest of other settings, or of another hardened model, is refused by name.
    const std::string manifest = dirs[1] + "/shard.json";
    const std::string text = core::read_file(manifest);
    nlohmann::json edited = nlohmann::json::parse(text);
    edited["settings"]["times"] = false;
    core::write_file_atomically(manifest, edited.dump(1));
    CHECK_THROWS_WITH_AS(method::merge_comparison_shards(dirs), doctest::Contains("in its times (false against true)"),
                         core::ValueError);
    edited = nlohmann::json::parse(text);
    edited["replicates"][1]["methods"][1]["hardened_checksum"] = "0x0000000000000001";
    core::write_file_atomically(manifest, edited.dump(1));
    CHECK_THROWS_WITH_AS(method::merge_comparison_shards(dirs),
                         doctest::Contains("in its replicate 1's hardened proact model (checksum)"), core::ValueError);
    core::write_file_atomically(manifest, text.substr(0, text.size() / 2));
    CHECK_THROWS_AS(method::merge_comparison_shards(dirs), core::FormatError);
}
