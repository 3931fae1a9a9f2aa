// Campaigns: statistics, replay of single trials, thread-count independence, the speed-ups giving
// the same numbers as plain recomputation, --ci-margin stopping, shards merged byte for byte, and
// bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/threads.hpp"
#include "faults/campaign.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"
#include "support/test_support.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;
using faults_test::per_trial;
using faults_test::per_trial_outcomes;
using faults_test::error_message;

namespace {

CampaignOptions quick_options() {
    CampaignOptions options;
    options.format = StorageFormat::float32();
    options.bers = {1e-3, 1e-2, 5e-2};
    options.trials = 30;
    options.seed = 5;
    options.progress = false;
    options.model_name = "tiny-cnn";
    options.dataset_name = "noise";
    return options;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

}  // namespace

TEST_CASE("statistics of a hand-made list") {
    const AccuracyStats stats = accuracy_stats({90.0, 92.0, 94.0, 96.0, 98.0});
    CHECK(stats.trials == 5);
    CHECK(stats.mean == doctest::Approx(94.0));
    CHECK(stats.std == doctest::Approx(std::sqrt(10.0)));  // sample std: 40 / (5 - 1)
    CHECK(stats.min == 90.0);
    CHECK(stats.max == 98.0);
    CHECK(stats.ci95_half_width == doctest::Approx(2.776445 * std::sqrt(10.0) / std::sqrt(5.0)).epsilon(1e-6));

    const AccuracyStats one = accuracy_stats({71.5});
    CHECK(one.mean == 71.5);
    CHECK(one.std == 0.0);
    CHECK(std::isnan(one.ci95_half_width));
    CHECK_THROWS_AS(accuracy_stats({}), core::ValueError);

    // Student t quantiles against tables.
    CHECK(student_t_quantile(0.975, 1) == doctest::Approx(12.706205).epsilon(1e-6));
    CHECK(student_t_quantile(0.975, 9) == doctest::Approx(2.262157).epsilon(1e-6));
    CHECK(student_t_quantile(0.975, 99) == doctest::Approx(1.984217).epsilon(1e-6));
    CHECK(student_t_quantile(0.975, 1e7) == doctest::Approx(1.959964).epsilon(1e-5));
    CHECK(student_t_quantile(0.025, 9) == doctest::Approx(-2.262157).epsilon(1e-6));
    CHECK(student_t_quantile(0.5, 3) == 0.0);
    CHECK(student_t_quantile(0.995, 4) == doctest::Approx(4.604095).epsilon(1e-6));
}

TEST_CASE("bad input: clear errors naming the input") {
    CHECK(error_message<core::ValueError>([] { StorageFormat::parse("q99.1"); }).find("Q99.1") != std::string::npos);
    CHECK(error_message<core::ValueError>([] { StorageFormat::parse("int4"); }).find("'int4'") != std::string::npos);
    const std::string ber = error_message<core::ValueError>([] { parse_ber_list("1e-6,1.5"); });
    CHECK(ber.find("1.5") != std::string::npos);
    CHECK(ber.find("[0, 1]") != std::string::npos);
    CHECK(error_message<core::ValueError>([] { parse_ber_list("1e-6,abc"); }).find("'abc'") != std::string::npos);
    CHECK(error_message<core::ValueError>([] { parse_ber_list("-0.1"); }).find("outside [0, 1]") != std::string::npos);
    CHECK(parse_ber_list("1e-6, 3e-6,1") == std::vector<double>{1e-6, 3e-6, 1.0});
    const std::string shard = error_message<core::ValueError>([] { parse_shard("3/2"); });
    CHECK(shard.find("'3/2'") != std::string::npos);
    CHECK(shard.find("0..1") != std::string::npos);
    CHECK_THROWS_AS(parse_shard("1/0"), core::ValueError);
    CHECK_THROWS_AS(parse_shard("-1/2"), core::ValueError);
    CHECK_THROWS_AS(parse_shard("1-2"), core::ValueError);
    CHECK(parse_shard("2/3").index == 2);
    CHECK(parse_shard("2/3").count == 3);
    CHECK(error_message<core::ValueError>([] { FaultModelSpec::parse("bitflip"); }).find("'bitflip'") !=
          std::string::npos);
    CHECK(FaultModelSpec::parse("stuck1") == FaultModelSpec{FaultCount::ber, BitAction::stuck_at_1});

    CampaignOptions options = quick_options();
    options.bers = {1e-5, 1.5};
    CHECK(error_message<core::ValueError>([&] { validate_options(options); }).find("BER 1.5 outside [0, 1]") !=
          std::string::npos);
    options = quick_options();
    options.ci_margin = 0.5;
    options.shard = {1, 3};
    CHECK(error_message<core::ValueError>([&] { validate_options(options); }).find("--ci-margin") != std::string::npos);
    options = quick_options();
    options.purpose = "final";
    const std::string purpose = error_message<core::ValueError>([&] { validate_options(options); });
    CHECK(purpose.find("'final'") != std::string::npos);
    CHECK(purpose.find("evaluation, search, tuning") != std::string::npos);
    options = quick_options();
    options.batch_norm = "drop";
    const std::string batch_norm = error_message<core::ValueError>([&] { validate_options(options); });
    CHECK(batch_norm.find("'drop'") != std::string::npos);
    CHECK(batch_norm.find("fold") != std::string::npos);
    CHECK(batch_norm.find("keep") != std::string::npos);
    for (const char* known : {"evaluation", "search", "tuning"}) {
        options = quick_options();
        options.purpose = known;
        options.batch_norm = "keep";
        CHECK_NOTHROW(validate_options(options));
    }
    options = quick_options();
    options.bit_mask = "exponent";
    options.format = StorageFormat::fixed_point(15, 16);
    CHECK(error_message<core::ValueError>([&] { validate_options(options); }).find("'exponent'") != std::string::npos);

    layers::ModulePtr model = faults_test::tiny_cnn(1);
    faults_test::TinyData data = faults_test::tiny_data(*model, 16, 1);
    options = quick_options();
    options.patterns = {"features.9.*"};
    CHECK(error_message<core::ValueError>([&] { Campaign(*model, data.images, data.labels, options); })
              .find("'features.9.*' matches no parameter") != std::string::npos);
    // A fixed-point campaign on a model that was not quantised would silently round every weight.
    options = quick_options();
    options.format = StorageFormat::fixed_point(15, 16);
    CHECK(error_message<core::ValueError>([&] { Campaign(*model, data.images, data.labels, options); })
              .find("quantize") != std::string::npos);
    options = quick_options();
    options.fault_model = FaultModelSpec::parse("exact");
    options.exact_counts = {1000};  // features.0.bias has 4 x 32 bits
    CHECK(error_message<core::ValueError>([&] { Campaign(*model, data.images, data.labels, options); })
              .find("features.0.bias") != std::string::npos);
    CHECK_THROWS_AS(Campaign(*model, data.images, std::vector<int32_t>(15, 0), quick_options()), core::ShapeError);
    options = quick_options();
    options.purpose = "Search";
    CHECK(error_message<core::ValueError>([&] { Campaign(*model, data.images, data.labels, options); })
              .find("'Search'") != std::string::npos);
}

TEST_CASE("a trial replayed alone gives what it gave inside the campaign, in any order") {
    layers::ModulePtr model = faults_test::tiny_cnn(2);
    faults_test::TinyData data = faults_test::tiny_data(*model, 200, 2);
    const CampaignOptions options = quick_options();
    const CampaignResult result = run_campaign(*model, data.images, data.labels, options);
    Campaign campaign(*model, data.images, data.labels, options);
    for (int64_t trial : {29, 3, 17, 0, 3}) {
        for (size_t point = 0; point < 3; ++point) {
            const TrialOutcome outcome = campaign.run_trial(point, trial);
            CHECK(outcome.correct == result.points[point].correct[static_cast<size_t>(trial)]);
            CHECK(outcome.faults == result.points[point].faults[static_cast<size_t>(trial)]);
        }
    }
    // The campaign found something to measure: faults, and accuracy that moves.
    CHECK(result.points[2].stats.min < result.fault_free_accuracy());
    CHECK(result.points[2].mean_faults() > 1.0);
}

TEST_CASE("the same numbers on 1 and 2 threads") {
    layers::ModulePtr model = faults_test::tiny_cnn(3);
    faults_test::TinyData data = faults_test::tiny_data(*model, 300, 3);
    CampaignOptions options = quick_options();
    options.batch_size = 128;
    const int threads = core::num_threads();
    core::set_num_threads(1);
    const CampaignResult one = run_campaign(*model, data.images, data.labels, options);
    core::set_num_threads(2);
    const CampaignResult two = run_campaign(*model, data.images, data.labels, options);
    core::set_num_threads(threads);
    CHECK(per_trial(one) == per_trial(two));
    CHECK(campaign_json(one) == campaign_json(two));
}

TEST_CASE("the same numbers at any batch size, automatic included") {
    // The automatic batch is a speed choice (layers::auto_batch_rows): changing it, or the user's
    // --batch-size, must change no trial's outcome.
    layers::ModulePtr model = faults_test::tiny_cnn(3);
    faults_test::TinyData data = faults_test::tiny_data(*model, 300, 3);
    CampaignOptions options = quick_options();
    options.batch_size = 300;  // one batch
    const CampaignResult whole = run_campaign(*model, data.images, data.labels, options);
    CHECK(whole.batch_size == 300);
    for (int64_t batch : {int64_t(0), int64_t(1), int64_t(7), int64_t(128)}) {
        CAPTURE(batch);
        options.batch_size = batch;
        const CampaignResult split = run_campaign(*model, data.images, data.labels, options);
        CHECK(per_trial(split) == per_trial(whole));
        CHECK(per_trial_outcomes(split) == per_trial_outcomes(whole));
        CHECK(campaign_json(split) == campaign_json(whole));
    }
}

TEST_CASE("stage cache, channel-sparse restarts and fault-free reuse change no number") {
    for (int64_t stride : {1, 2}) {
        CAPTURE(stride);
        layers::ModulePtr model = faults_test::tiny_cnn(4, stride);
        faults_test::TinyData data = faults_test::tiny_data(*model, 150, 4);
        for (const char* format_name : {"float32", "q7.8"}) {
            CAPTURE(format_name);
            CampaignOptions options = quick_options();
            options.format = StorageFormat::parse(format_name);
            options.bers = {1e-4, 3e-3, 3e-2};
            options.batch_size = 64;  // several batches, the last one short
            std::vector<FaultTarget> targets = select_targets(*model);
            quantize_targets(targets, options.format);

            options.stage_cache = false;
            options.reuse_fault_free = false;
            const CampaignResult plain = run_campaign(*model, data.images, data.labels, options);
            CHECK(plain.trials_reused == 0);

            options.stage_cache = true;
            options.channel_sparse = false;
            const CampaignResult cached = run_campaign(*model, data.images, data.labels, options);
            CHECK(per_trial(cached) == per_trial(plain));

            options.channel_sparse = true;
            const CampaignResult sparse = run_campaign(*model, data.images, data.labels, options);
            CHECK(per_trial(sparse) == per_trial(plain));

            options.reuse_fault_free = true;
            const CampaignResult fast = run_campaign(*model, data.images, data.labels, options);
            CHECK(per_trial(fast) == per_trial(plain));
            CHECK(per_trial_outcomes(cached) == per_trial_outcomes(plain));
            CHECK(per_trial_outcomes(sparse) == per_trial_outcomes(plain));
            CHECK(per_trial_outcomes(fast) == per_trial_outcomes(plain));
            CHECK(plain.points[2].sdc_stats.max > 0.0);  // BER 3e-2 corrupts some images silently
            CHECK(fast.trials_reused > 0);  // BER 1e-4 leaves most trials fault-free
            CHECK(fast.fault_free_correct == plain.fault_free_correct);
            CHECK(campaign_json(fast) == campaign_json(plain));

            // The start-up probe found the channel-subset arithmetic identical on every conv and
            // linear stage, so the fast path is really in use.
            Campaign campaign(*model, data.images, data.labels, options);
            int sparse_stages = 0;
            for (const Campaign::Stage& stage : campaign.stages()) {
                CHECK((stage.channel_sparse ? stage.owns_targets : true));
                sparse_stages += stage.channel_sparse;
            }
            CHECK(sparse_stages == 4);  // on every GEMM kernel (core/conv_channels.hpp)
            CHECK(campaign.stages().size() == 9);  // 5 features + flatten + 3 classifier
        }
    }
}

TEST_CASE("the evaluation matches layers::evaluate and leaves the model's mode as it was") {
    layers::ModulePtr model = faults_test::tiny_cnn(5);
    faults_test::TinyData data = faults_test::tiny_data(*model, 100, 5);
    model->train();
    CampaignOptions options = quick_options();
    options.trials = 3;
    const CampaignResult result = run_campaign(*model, data.images, data.labels, options);
    CHECK(model->is_training());
    CHECK(result.fault_free_correct == layers::evaluate(*model, data.images, data.labels, 64).correct);
    CHECK(result.samples == 100);
}

TEST_CASE("a row of logits that is not all finite is no prediction, and wrong") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const core::Tensor logits =
        core::Tensor::from_vector({5, 3}, {1, 3, 2, nan, 1, 0, inf, 0, 0, 0, 5, 5, -inf, -inf, -inf});
    CHECK(layers::predict_classes(logits) == std::vector<int64_t>{1, layers::kNoPrediction, layers::kNoPrediction, 1,
                                                                   layers::kNoPrediction});
    CHECK_THROWS_AS(layers::predict_classes(core::Tensor::zeros({3})), core::ShapeError);

    // A linear model: rows 1 and 4 of the input carry a NaN and an infinity into every logit.
    core::Rng rng(3, "init");
    auto model = std::make_shared<layers::Sequential>();
    model->add("classifier", std::make_shared<layers::Linear>(4, 3, rng));
    core::Tensor images = core::Tensor::normal({6, 4}, 0.0f, 1.0f, rng);
    std::vector<int32_t> labels = layers::evaluate(*model, images, std::vector<int32_t>(6, 0)).predictions;
    images.data()[1 * 4 + 2] = nan;
    images.data()[4 * 4 + 0] = inf;
    labels[1] = labels[4] = 0;  // what an argmax over NaN used to say: a "correct" class 0
    const layers::EvalResult evaluated = layers::evaluate(*model, images, labels, 4);
    CHECK(evaluated.correct == 4);
    CHECK(evaluated.no_prediction == 2);
    CHECK(evaluated.predictions[1] == layers::kNoPrediction);
    CHECK(evaluated.predictions[4] == layers::kNoPrediction);
    int64_t confused = 0;
    for (int64_t count : evaluated.confusion) confused += count;
    CHECK(confused == 4);

    CampaignOptions options = quick_options();
    options.bers = {0.0};
    options.trials = 2;
    const CampaignResult result = run_campaign(*model, images, labels, options);
    CHECK(result.fault_free_correct == 4);
    CHECK(result.fault_free_no_prediction == 2);
    CHECK(result.points[0].correct == std::vector<int64_t>{4, 4});
    CHECK(result.points[0].no_prediction == std::vector<int64_t>{2, 2});
    CHECK(result.points[0].no_prediction_stats.mean == doctest::Approx(100.0 / 3.0));
    // No fault-free prediction and none under the (absent) faults: no prediction, not an SDC.
    CHECK(result.points[0].sdc == std::vector<int64_t>{0, 0});
}

TEST_CASE("faults that make every logit non-finite: no prediction for every image, accuracy 0") {
    layers::ModulePtr model = faults_test::tiny_cnn(9);
    faults_test::TinyData data = faults_test::tiny_data(*model, 64, 9);
    REQUIRE(std::count(data.labels.begin(), data.labels.end(), 0) > 0);  // class 0 would have scored
    // Every exponent bit of the output bias stuck at 1: each bias is NaN or infinite.
    CampaignOptions options = quick_options();
    options.fault_model = FaultModelSpec::parse("stuck1");
    options.bit_mask = "exponent";
    options.patterns = {"classifier.2.bias"};
    options.bers = {0.0, 1.0};
    options.trials = 4;
    const CampaignResult result = run_campaign(*model, data.images, data.labels, options);
    CHECK(result.fault_free_no_prediction == 0);
    CHECK(result.points[0].correct == std::vector<int64_t>(4, result.fault_free_correct));
    CHECK(result.points[0].no_prediction == std::vector<int64_t>(4, 0));
    CHECK(result.points[1].correct == std::vector<int64_t>(4, 0));
    CHECK(result.points[1].no_prediction == std::vector<int64_t>(4, 64));
    CHECK(result.points[1].stats.mean == 0.0);
    CHECK(result.points[1].no_prediction_stats.mean == 100.0);
    CHECK(campaign_table(result).find("100.00\n") != std::string::npos);
    CHECK(campaign_csv({result}).find(",100.0000,100.0000,0.0000,0.0000,0.0000,0.0000,0.0000,0.0000\n") !=
          std::string::npos);  // no prediction 100 %, SDC 0 %: an image without a prediction is no SDC
    CHECK(result.points[1].sdc == std::vector<int64_t>(4, 0));
    CHECK(campaign_svg({result}).find("no prediction 100.00%") != std::string::npos);
    const CampaignResult back = campaign_from_json(campaign_json(result));
    CHECK(back.points[1].no_prediction == result.points[1].no_prediction);
    CHECK(back.points[1].no_prediction_stats.mean == 100.0);

    // The plain recomputation counts the same; shards carry the counts through the merge.
    CampaignOptions plain = options;
    plain.stage_cache = false;
    plain.reuse_fault_free = false;
    const CampaignResult reference = run_campaign(*model, data.images, data.labels, plain);
    CHECK(reference.points[1].no_prediction == result.points[1].no_prediction);
    CHECK(reference.points[0].correct == result.points[0].correct);
    std::vector<CampaignResult> shards;
    for (int index = 0; index < 2; ++index) {
        CampaignOptions part = options;
        part.shard = {index, 2};
        shards.push_back(campaign_from_json(campaign_json(run_campaign(*model, data.images, data.labels, part))));
    }
    CHECK(campaign_json(merge_shards(shards)) == campaign_json(result));
    shards[1].points[1].no_prediction.pop_back();
    CHECK_THROWS_WITH_AS(merge_shards(shards), doctest::Contains("1 no-prediction counts"), core::ValueError);
}

TEST_CASE("--ci-margin stops at the first trial count whose 95% CI is narrow enough") {
    layers::ModulePtr model = faults_test::tiny_cnn(6);
    faults_test::TinyData data = faults_test::tiny_data(*model, 200, 6);
    CampaignOptions options = quick_options();
    options.bers = {1e-2, 3e-2};
    options.trials = 150;
    const CampaignResult full = run_campaign(*model, data.images, data.labels, options);
    options.ci_margin = 3.0;
    const CampaignResult stopped = run_campaign(*model, data.images, data.labels, options);
    for (size_t p = 0; p < full.points.size(); ++p) {
        CAPTURE(p);
        const PointResult& point = stopped.points[p];
        const int64_t n = point.stats.trials;
        CHECK(n >= 10);
        // The stopping point: the first prefix of the full run (in trial order) with CI <= margin.
        int64_t expected = options.trials;
        std::vector<double> prefix;
        for (size_t t = 0; t < full.points[p].correct.size(); ++t) {
            prefix.push_back(full.accuracy(full.points[p].correct[t]));
            if (prefix.size() >= 10 && accuracy_stats(prefix).ci95_half_width <= options.ci_margin) {
                expected = static_cast<int64_t>(prefix.size());
                break;
            }
        }
        CHECK(n == expected);
        CHECK(point.stopped_early == (n < options.trials));
        CHECK(std::equal(point.correct.begin(), point.correct.end(), full.points[p].correct.begin()));
        CHECK(point.stats.ci95_half_width <= options.ci_margin);
    }
    CHECK(stopped.points[0].stopped_early);  // this model and margin stop early at BER 1e-2
    // The table reports the count and that the margin was reached.
    const std::string table = campaign_table(stopped);
    CHECK(table.find("(margin reached)") != std::string::npos);
    CHECK(table.find(std::to_string(stopped.points[0].stats.trials)) != std::string::npos);
}

TEST_CASE("three shards merged give the bytes of one unsharded run") {
    layers::ModulePtr model = faults_test::tiny_cnn(7);
    faults_test::TinyData data = faults_test::tiny_data(*model, 120, 7);
    CampaignOptions options = quick_options();
    options.trials = 20;  // 20 = 7 + 7 + 6: unequal shards
    const CampaignResult whole = run_campaign(*model, data.images, data.labels, options);

    // One folder per process: two suites running at once (two build trees) never share it.
    const test::TempDir temp("proact_test_faults_shards");
    const std::filesystem::path& folder = temp.path;
    write_file(folder / "whole.json", campaign_json(whole));
    write_file(folder / "whole.csv", campaign_csv({whole}));
    write_file(folder / "whole.svg", campaign_svg({whole}));

    std::vector<CampaignResult> shards;
    for (int index : {2, 0, 1}) {  // any order
        options.shard = {index, 3};
        const CampaignResult shard = run_campaign(*model, data.images, data.labels, options);
        CHECK(shard.points[0].trial_ids.front() == index);
        CHECK(shard.points[0].trial_ids.size() == (index == 2 ? 6u : 7u));
        const std::filesystem::path path = folder / ("shard" + std::to_string(index) + ".json");
        write_file(path, campaign_json(shard));
        shards.push_back(campaign_from_json(read_file(path), path.string()));
    }
    const CampaignResult merged = merge_shards(shards);
    write_file(folder / "merged.json", campaign_json(merged));
    write_file(folder / "merged.csv", campaign_csv({merged}));
    write_file(folder / "merged.svg", campaign_svg({merged}));
    CHECK(read_file(folder / "merged.json") == read_file(folder / "whole.json"));
    CHECK(read_file(folder / "merged.csv") == read_file(folder / "whole.csv"));
    CHECK(read_file(folder / "merged.svg") == read_file(folder / "whole.svg"));
    CHECK(read_file(folder / "whole.json").size() > 1000);

    // Shards that do not make one campaign.
    CHECK(error_message<core::ValueError>([&] { merge_shards({shards[0], shards[1]}); }).find("3 shards") !=
          std::string::npos);
    CHECK(error_message<core::ValueError>([&] { merge_shards({shards[0], shards[1], shards[1]}); })
              .find("given twice") != std::string::npos);
    CampaignResult other_seed = shards[2];
    other_seed.seed = 99;
    CHECK(error_message<core::ValueError>([&] { merge_shards({shards[0], shards[1], other_seed}); })
              .find("in its seed (99 against 5)") != std::string::npos);
    CampaignResult other_purpose = shards[2];
    other_purpose.purpose = "tuning";
    CHECK(error_message<core::ValueError>([&] { merge_shards({shards[0], shards[1], other_purpose}); })
              .find("in its purpose (tuning against evaluation)") != std::string::npos);
    CampaignResult other_batch_norm = shards[2];
    other_batch_norm.batch_norm = "keep";
    CHECK(error_message<core::ValueError>([&] { merge_shards({shards[0], shards[1], other_batch_norm}); })
              .find("in its batch norm (keep against fold)") != std::string::npos);
    CampaignResult other_images = shards[2];
    other_images.images_hash ^= 1;
    const std::string images =
        error_message<core::ValueError>([&] { merge_shards({shards[0], shards[1], other_images}); });
    CHECK(images.find("in its evaluation images (hash of images and labels) (" +
                      checksum_hex(other_images.images_hash) + " against " + checksum_hex(shards[0].images_hash) +
                      ")") != std::string::npos);
    std::filesystem::remove_all(folder);
}

TEST_CASE("exact-k and stuck-at campaigns") {
    layers::ModulePtr model = faults_test::tiny_cnn(8);
    faults_test::TinyData data = faults_test::tiny_data(*model, 64, 8);
    CampaignOptions options = quick_options();
    options.fault_model = FaultModelSpec::parse("exact");
    options.exact_counts = {1, 3};
    options.trials = 8;
    const CampaignResult exact = run_campaign(*model, data.images, data.labels, options);
    REQUIRE(exact.points.size() == 2);
    CHECK(exact.is_exact());
    CHECK(exact.points[1].rate == 3.0);
    for (int64_t faults : exact.points[1].faults) CHECK(faults == 3 * 8);  // 8 target tensors
    CHECK(campaign_table(exact).find("k") != std::string::npos);

    // Stuck-at-0 on the sign bit only: a fault on a positive weight changes nothing, so many
    // trials take the fault-free result without evaluating.
    options = quick_options();
    options.fault_model = FaultModelSpec::parse("stuck0");
    options.bit_mask = "sign";
    options.bers = {0.02};
    const CampaignResult stuck = run_campaign(*model, data.images, data.labels, options);
    CHECK(stuck.fault_model.to_string() == "stuck0");
    CHECK(stuck.bit_mask == "31");
    options.reuse_fault_free = false;
    options.stage_cache = false;
    CHECK(per_trial(run_campaign(*model, data.images, data.labels, options)) == per_trial(stuck));

    // The toolbox's floor rule: at most floor(numel * 32 * BER) bits per tensor, none in a tensor
    // too small for one; the name survives the JSON.
    options = quick_options();
    options.fault_model = FaultModelSpec::parse("ber-floor");
    options.bers = {0.01};
    const CampaignResult floor = run_campaign(*model, data.images, data.labels, options);
    int64_t most = 0;
    for (const FaultTarget& target : select_targets(*model)) most += target.numel() * 32 / 100;
    for (int64_t faults : floor.points[0].faults) {
        CHECK(faults <= most);
        CHECK((most - faults) % 2 == 0);  // flips drawn twice cancel in pairs
    }
    CHECK(campaign_from_json(campaign_json(floor)).fault_model ==
          FaultModelSpec{FaultCount::ber_floor, BitAction::flip});
    options.stage_cache = false;
    CHECK(per_trial(run_campaign(*model, data.images, data.labels, options)) == per_trial(floor));
}
