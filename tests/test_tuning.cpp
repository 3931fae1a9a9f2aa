// proact tune's engine on a tiny problem: each row is the method run with that setting and judged
// on the validation split under "tuning" faults (checked against doing it by hand), the best row
// is the eligible one with the highest score, and bad grids are refused before anything runs.
#include <doctest/doctest.h>

#include "datasets/synthetic.hpp"
#include "faults/campaign.hpp"
#include "layers/checkpoint.hpp"
#include "layers/evaluate.hpp"
#include "layers/zoo.hpp"
#include "proact/ftclipact.hpp"
#include "proact/tuning.hpp"
#include "train/training.hpp"
#include "support/test_support.hpp"

using namespace proact;

namespace {

datasets::Dataset blob_images(int64_t per_class, uint64_t seed) {
    datasets::Dataset data = datasets::gaussian_blobs(per_class, 3, 28 * 28, 1.0f, seed, 1.0f);
    data.set_images(data.images().reshape({data.size(), 1, 28, 28}));
    return data;
}

struct Problem {
    test::TempDir dir{"proact-tune"};
    datasets::Dataset train = blob_images(40, 1), validation = blob_images(10, 2);
    std::string checkpoint = dir.file("model.safetensors");
    method::MethodSettings settings;

    Problem() {
        layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 3, 7);
        train::TrainOptions options;
        options.epochs = 1;
        options.batch_size = 16;
        options.lr = 0.01f;
        options.progress = false;
        train::train_classifier(*model, train, &validation, options);
        layers::save_checkpoint(checkpoint, *model);
        settings.profile_images = 64;
        settings.batch_size = 32;
        settings.proact.epochs_scalar = settings.proact.epochs_neuron = 1;
    }

    method::TuneOptions options() const {
        method::TuneOptions options;
        options.method = "proact";
        options.grid = {method::parse_grid_axis("decays=0.4,0.004:0.0004")};
        options.campaign.bers = {1e-3, 1e-2};
        options.campaign.trials = 3;
        return options;
    }
};

}  // namespace

TEST_CASE("tune: every row is its setting hardened and judged on validation under tuning faults") {
    const Problem problem;
    const method::RunSettings run{4, false};
    const method::TuneResult result =
        method::run_tuning(problem.checkpoint, problem.train, problem.validation, problem.settings, problem.options(), run);
    REQUIRE(result.rows.size() == 2);
    CHECK(result.rows[1].values == std::vector<std::string>{"0.004:0.0004"});
    CHECK(result.validation_images == problem.validation.size());

    // Row 1 by hand: the same settings, the same campaign with purpose "tuning" on the validation set.
    method::MethodSettings settings = problem.settings;
    settings.proact.decays = {0.004f, 0.0004f};
    faults::CampaignOptions campaign = problem.options().campaign;
    campaign.seed = run.seed;
    campaign.purpose = "tuning";
    campaign.progress = false;
    layers::ModulePtr model = method::load_for_hardening(problem.checkpoint, "fold", campaign);
    const method::HardenInputs inputs{{1, 28, 28}, &problem.train, &problem.validation, campaign.format, campaign.bers, {}};
    method::find_method("proact").harden(*model, inputs, settings, run, {});
    method::quantize_hardened(*model, campaign);
    const faults::CampaignResult by_hand =
        faults::run_campaign(*model, problem.validation.images(), problem.validation.labels, campaign);
    CHECK(result.rows[1].score == method::curve_score(by_hand));
    CHECK(result.rows[1].accuracy[1] == by_hand.points[1].stats.mean);
    CHECK(result.rows[1].clean_accuracy ==
          doctest::Approx(100.0 * layers::evaluate(*model, problem.validation.images(), problem.validation.labels).accuracy()));

    // The evaluation faults of the same seed are other faults: the score is not theirs by accident.
    campaign.purpose = "evaluation";
    const faults::CampaignResult evaluation =
        faults::run_campaign(*model, problem.validation.images(), problem.validation.labels, campaign);
    CHECK(evaluation.points[1].correct != by_hand.points[1].correct);

    // The best row is the eligible one with the highest score.
    int best = -1;
    for (size_t r = 0; r < result.rows.size(); ++r)
        if (result.rows[r].eligible && (best < 0 || result.rows[r].score > result.rows[size_t(best)].score)) best = int(r);
    CHECK(result.best == best);
    CHECK(test::contains(method::tuning_markdown(result), "tuning"));
    CHECK(test::contains(method::tuning_json(result), "\"fault_purpose\": \"tuning\""));
}

TEST_CASE("tune: unknown options, bad values and grids over the budget are refused before anything runs") {
    const Problem problem;
    const method::RunSettings run{4, false};
    method::TuneOptions options = problem.options();
    options.budget = 1;
    CHECK(test::contains(test::message_of<core::ValueError>([&] {
                             method::run_tuning(problem.checkpoint, problem.train, problem.validation, problem.settings,
                                                options, run);
                         }),
                         "budget"));
    options = problem.options();
    options.grid = {method::parse_grid_axis("decay=0.4")};
    CHECK(test::contains(test::message_of<core::ValueError>([&] {
                             method::run_tuning(problem.checkpoint, problem.train, problem.validation, problem.settings,
                                                options, run);
                         }),
                         "tolerance"));  // the message lists the method's options
    options.grid = {method::parse_grid_axis("tolerance=abc")};
    CHECK_THROWS_AS(method::run_tuning(problem.checkpoint, problem.train, problem.validation, problem.settings, options, run),
                    core::ValueError);
    options.grid = {method::parse_grid_axis("tolerance=-1")};
    CHECK_THROWS_AS(method::run_tuning(problem.checkpoint, problem.train, problem.validation, problem.settings, options, run),
                    core::ValueError);
    CHECK_THROWS_AS(method::parse_grid_axis("tolerance"), core::ValueError);
    CHECK_THROWS_AS(method::parse_grid_axis("tolerance="), core::ValueError);
    options.method = "nothing";
    CHECK_THROWS_AS(method::run_tuning(problem.checkpoint, problem.train, problem.validation, problem.settings, options, run),
                    core::ValueError);
}

TEST_CASE("FtClipAct searches at the evaluation BERs, at most five: the window where the model falls most") {
    const std::vector<double> bers = {1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5};
    const std::vector<double> accuracy = {90, 90, 89, 70, 30, 10};
    const auto accuracy_at = [&](double ber) {
        for (size_t i = 0; i < bers.size(); ++i)
            if (bers[i] == ber) return accuracy[i];
        return -1.0;
    };
    CHECK(method::search_bers_for(bers, 5, accuracy_at) == std::vector<double>{3e-7, 1e-6, 3e-6, 1e-5, 3e-5});
    CHECK(method::search_bers_for(bers, 2, accuracy_at) == std::vector<double>{3e-6, 1e-5});
    CHECK(method::search_bers_for({1e-3, 1e-5}, 5, accuracy_at) == std::vector<double>{1e-5, 1e-3});
}
