// FtClipAct: the interval search picks the best candidate and stops by its rule; on a model, the
// chosen thresholds are really in the layers, stay there, and are what the campaigns scored.
#include <doctest/doctest.h>

#include <cmath>

#include "layers/hybrid_clip.hpp"
#include "proact/method.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;

namespace {

const method::RunSettings kRun{2, false};

const auto kIdentity = [](float value) { return value; };

// The toolbox's rounds (3 to 4): the expectations below are worked out for them.
method::FtClipActOptions search_options() {
    method::FtClipActOptions options;
    options.max_rounds = 4;
    return options;
}

// A search on tiny_cnn that runs in a second: Q7.8, two BERs, 3 trials, 3 candidates, 1-2 rounds.
method::FtClipActOptions model_search_options() {
    method::FtClipActOptions options = search_options();
    options.campaign.format = faults::StorageFormat::fixed_point(7, 8);
    options.campaign.bers = {1e-3, 1e-2};
    options.campaign.trials = 3;
    options.subset_images = 96;
    options.candidates = 3;
    options.min_rounds = 1;
    options.max_rounds = 2;
    return options;
}

// tiny_data of `model` (count images, seed 3) as a data set.
datasets::Dataset tiny_train(layers::Module& model, int64_t count) {
    const faults_test::TinyData data = faults_test::tiny_data(model, count, 3);
    datasets::Dataset train;
    train.set_images(data.images);
    train.labels = data.labels;
    train.num_classes = 5;
    return train;
}

}  // namespace

TEST_CASE("search: picks the best candidate, narrows around it, stops after max rounds") {
    const auto score = [](float threshold) { return 100.0 - 50.0 * std::fabs(double(threshold) - 0.37); };
    const method::SearchResult result = method::search_threshold(1.0f, search_options(), kIdentity, score);
    REQUIRE(result.rounds.size() == 4);  // the scores keep differing by more than 0.2
    CHECK(result.rounds[0].thresholds == std::vector<float>{0.0f, 1.0f / 3, 2.0f / 3, 1.0f});
    CHECK(result.rounds[1].low == 0.0f);
    CHECK(result.rounds[1].high == doctest::Approx(2.0 / 3));
    CHECK(result.rounds[2].low == doctest::Approx(2.0 / 9));
    CHECK(result.rounds[2].high == doctest::Approx(2.0 / 3));
    CHECK(result.best_threshold == doctest::Approx(0.3704).epsilon(1e-3));
    double best = -1;
    for (const auto& round : result.rounds)
        for (double value : round.scores) best = std::max(best, value);
    CHECK(result.best_score == best);
}

TEST_CASE("search: stops once the scores differ by <= the tolerance, but not before min rounds") {
    const auto flat = [](float threshold) { return 80.0 + 0.01 * double(threshold); };
    method::FtClipActOptions options = search_options();
    CHECK(method::search_threshold(2.0f, options, kIdentity, flat).rounds.size() == 3);
    options.min_rounds = 1;
    CHECK(method::search_threshold(2.0f, options, kIdentity, flat).rounds.size() == 1);
    options.score_tolerance = 0.0;
    CHECK(method::search_threshold(2.0f, options, kIdentity, flat).rounds.size() == 4);
    // candidates pass through the quantiser
    const auto quarter = [](float value) { return std::round(value * 4.0f) / 4.0f; };
    for (const auto& round : method::search_threshold(2.0f, search_options(), quarter, flat).rounds)
        for (float threshold : round.thresholds) CHECK(threshold * 4.0f == std::round(threshold * 4.0f));
}

TEST_CASE("FtClipAct on a model: the searched thresholds are set, kept, and what the campaigns scored") {
    layers::ModulePtr model = faults_test::tiny_cnn(6);
    faults_test::TinyData data = faults_test::tiny_data(*model, 160, 3);
    datasets::Dataset train;
    train.set_images(data.images);
    train.labels = data.labels;
    train.num_classes = 5;
    method::FtClipActOptions options = model_search_options();
    const method::FtClipActResult result = method::ftclipact_harden(*model, {1, 8, 8}, train, train, options, core::ClipMode::hard, kRun);
    REQUIRE(result.layers.size() == 3);
    CHECK(result.activation == "layer:hard");
    CHECK(result.threshold_count == 3);
    bool scores_differ = false;
    for (const auto& layer : result.layers) {
        CAPTURE(layer.path);
        const auto& clip = static_cast<const layers::ClippedReLU&>(*model->find(layer.path));
        CHECK(clip.threshold().value().item() == layer.search.best_threshold);  // set and not overwritten
        CHECK(options.campaign.format.quantize(layer.search.best_threshold) == layer.search.best_threshold);
        for (const auto& round : layer.search.rounds)
            scores_differ |= *std::max_element(round.scores.begin(), round.scores.end()) !=
                             *std::min_element(round.scores.begin(), round.scores.end());
    }
    CHECK(scores_differ);  // the candidates reached the layers
    // The final model is the one the last layer's best candidate was scored as.
    const auto rows = method::ranger_subset(train.size(), options.subset_images, kRun.seed);
    std::vector<int32_t> labels;
    for (int64_t row : rows) labels.push_back(train.labels[static_cast<size_t>(row)]);
    options.campaign.seed = kRun.seed;  // the search's own faults: the run's seed, purpose "search"
    options.campaign.purpose = "search";
    CHECK(method::campaign_score(*model, train.gather(rows), labels, options.campaign) ==
          result.layers.back().search.best_score);
    CHECK(result.campaigns == 3 * 2 * 3);
}

TEST_CASE("FtClipAct: bad options are ValueErrors") {
    layers::ModulePtr model = faults_test::tiny_cnn(6);
    faults_test::TinyData data = faults_test::tiny_data(*model, 40, 3);
    datasets::Dataset train;
    train.set_images(data.images);
    train.labels = data.labels;
    train.num_classes = 5;
    method::FtClipActOptions options = search_options();
    options.candidates = 1;
    CHECK_THROWS_AS(method::ftclipact_harden(*model, {1, 8, 8}, train, train, options, core::ClipMode::hard, kRun), core::ValueError);
    options = search_options();
    options.min_rounds = 5;
    CHECK_THROWS_AS(method::ftclipact_harden(*model, {1, 8, 8}, train, train, options, core::ClipMode::hard, kRun), core::ValueError);
    options = search_options();
    options.campaign.bers = {0.0, 1e-5};
    CHECK_THROWS_AS(method::ftclipact_harden(*model, {1, 8, 8}, train, train, options, core::ClipMode::hard, kRun), core::ValueError);
    CHECK_THROWS_AS(method::ftclipact_harden(*model, {1, 8, 8}, train, train, search_options(), core::ClipMode::smooth, kRun),
                    core::ValueError);
    CHECK_FALSE(layers::clip_config_of(*model).has_value());
}

TEST_CASE("FtClipAct: the same search, thresholds and scores with and without keeping the trials' inputs") {
    method::FtClipActOptions options = model_search_options();
    std::string json[2];
    for (int keep = 0; keep < 2; ++keep) {
        layers::ModulePtr model = faults_test::tiny_cnn(6);
        const datasets::Dataset train = tiny_train(*model, 160);
        options.cache_budget_bytes = keep ? int64_t(64) << 20 : 0;  // faults::TrialInputCache
        const method::FtClipActResult result =
            method::ftclipact_harden(*model, {1, 8, 8}, train, train, options, core::ClipMode::hard, kRun);
        json[keep] = method::ftclipact_json(result, options);
    }
    CHECK(json[0] == json[1]);
    options.cache_budget_bytes = -1;
    layers::ModulePtr model = faults_test::tiny_cnn(6);
    const datasets::Dataset train = tiny_train(*model, 40);
    CHECK_THROWS_AS(method::ftclipact_harden(*model, {1, 8, 8}, train, train, options, core::ClipMode::hard, kRun),
                    core::ValueError);
}
