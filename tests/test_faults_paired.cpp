// Paired comparisons of two campaigns: per-trial differences against hand-computed values, their
// reports, campaigns of different settings refused, and the identity mean(a - b) = mean(a) - mean(b)
// on real campaigns.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "faults/campaign.hpp"
#include "faults/paired_comparison.hpp"
#include "faults/report.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;

namespace {

// Two points of a 200-image campaign with the given per-trial correct counts.
CampaignResult made_up(const std::string& label, const std::vector<int64_t>& first,
                       const std::vector<int64_t>& second) {
    CampaignResult result;
    result.label = label;
    result.format = "Q15.16";
    result.bit_mask = "0,31";
    result.seed = 5;
    result.samples = 200;
    result.images_hash = 0xfeedull;
    result.fault_free_correct = 190;
    int64_t p = 0;
    for (const std::vector<int64_t>* counts : {&first, &second}) {
        PointResult point;
        point.rate = p++ == 0 ? 1e-5 : 1e-4;
        for (size_t t = 0; t < counts->size(); ++t) {
            point.trial_ids.push_back(static_cast<int64_t>(t));
            point.correct.push_back((*counts)[t]);
            point.no_prediction.push_back(0);
            point.faults.push_back(1);
        }
        result.points.push_back(point);
    }
    recompute_stats(result);
    return result;
}

std::vector<std::vector<int64_t>> per_trial_faults(const CampaignResult& result) {
    std::vector<std::vector<int64_t>> faults;
    for (const PointResult& point : result.points) faults.push_back(point.faults);
    return faults;
}

}  // namespace

TEST_CASE("paired differences against hand-computed values") {
    // Accuracies a = 90, 85, 80 % and b = 85, 84, 75 %: differences 5, 1, 5 points.
    const CampaignResult a = made_up("ProAct", {180, 170, 160}, {50});
    const CampaignResult b = made_up("FitAct", {170, 168, 150}, {60});
    const PairedComparison comparison = compare_paired(a, b);
    CHECK(comparison.label_a == "ProAct");
    CHECK(comparison.label_b == "FitAct");
    REQUIRE(comparison.points.size() == 2);
    const PairedPoint& point = comparison.points[0];
    CHECK(point.rate == 1e-5);
    CHECK(point.trials == 3);
    CHECK(point.differences == std::vector<double>{5.0, 1.0, 5.0});
    CHECK(point.mean_difference == doctest::Approx(11.0 / 3.0));
    // Squared deviations 16/9 + 64/9 + 16/9 = 32/3 over n - 1 = 2.
    CHECK(point.std == doctest::Approx(std::sqrt(16.0 / 3.0)));
    // t(0.975, 2) = 4.302653.
    CHECK(point.ci95_half_width == doctest::Approx(4.302653 * std::sqrt(16.0 / 3.0) / std::sqrt(3.0)).epsilon(1e-6));
    // One trial: a difference of -5 points and no interval.
    CHECK(comparison.points[1].trials == 1);
    CHECK(comparison.points[1].mean_difference == doctest::Approx(-5.0));
    CHECK(comparison.points[1].std == 0.0);
    CHECK(std::isnan(comparison.points[1].ci95_half_width));

    const std::string table = paired_table(comparison);
    CHECK(table.find("ProAct - FitAct") != std::string::npos);
    CHECK(table.find(", seed 5, purpose evaluation, 200 samples\n") != std::string::npos);
    CHECK(table.find("+3.67") != std::string::npos);
    CHECK(table.find("±5.74") != std::string::npos);
    CHECK(table.find("-5.00") != std::string::npos);
    CHECK(table.find("n/a") != std::string::npos);

    const std::string csv = paired_csv({comparison});
    CHECK(csv.rfind("label_a,label_b,format,fault_model,rate_name,rate,trials,mean_difference,std,ci95_half_width,"
                    "ci95_low,ci95_high\n",
                    0) == 0);
    CHECK(csv.find("ProAct,FitAct,Q15.16,ber,ber,1e-05,3,3.6667,2.3094,5.7369,-2.0702,9.4035\n") != std::string::npos);
    CHECK(csv.find("ProAct,FitAct,Q15.16,ber,ber,0.0001,1,-5.0000,0.0000,,,\n") != std::string::npos);

    const nlohmann::json json = nlohmann::json::parse(paired_json(comparison));
    CHECK(json["label_a"] == "ProAct");
    CHECK(json["points"][0]["differences"] == std::vector<double>{5.0, 1.0, 5.0});
    CHECK(json["points"][0]["mean_difference"].get<double>() == doctest::Approx(11.0 / 3.0));
    CHECK(json["points"][1]["ci95_half_width"].is_null());
    CHECK(json["purpose"] == "evaluation");
    CHECK(json["batch_norm"] == "fold");
    CHECK(json["images_hash"] == "0x000000000000feed");
}

TEST_CASE("campaigns of different settings are refused, naming the first difference") {
    const CampaignResult a = made_up("A", {180, 170, 160}, {50});
    const auto refused = [&](CampaignResult b) {
        try {
            compare_paired(a, b);
        } catch (const core::ValueError& error) {
            return std::string(error.what());
        }
        return std::string("accepted");
    };
    CampaignResult b = made_up("B", {170, 168, 150}, {60});
    b.seed = 6;
    CHECK(refused(b).find("differ in their seed (5 against 6)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.format = "float32";
    CHECK(refused(b).find("storage format (Q15.16 against float32)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.fault_model = FaultModelSpec::parse("stuck1");
    CHECK(refused(b).find("fault model (ber against stuck1)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.samples = 100;
    CHECK(refused(b).find("evaluation set size (200 against 100)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.points[1].rate = 3e-4;
    CHECK(refused(b).find("rates (0.0001 against 0.0003)") != std::string::npos);
    b = made_up("B", {170, 168}, {60});
    CHECK(refused(b).find("trial ids at rate 1e-05 (3 trials, id 2 at position 2 against 2 trials, no id at "
                          "position 2)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.points[0].trial_ids = {0, 4, 2};  // as many trials, another one among them
    CHECK(refused(b).find("trial ids at rate 1e-05 (3 trials, id 1 at position 1 against 3 trials, id 4 at "
                          "position 1)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.images_hash = 0xbeefull;  // as many images, other ones (or other labels)
    CHECK(refused(b).find("evaluation images (hash of images and labels) (0x000000000000feed against "
                          "0x000000000000beef)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.purpose = "search";
    CHECK(refused(b).find("differ in their purpose (evaluation against search)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.batch_norm = "keep";
    CHECK(refused(b).find("differ in their batch norm (fold against keep)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    std::swap(b.points[0], b.points[1]);  // the same rates in another order
    CHECK(refused(b).find("rates (1e-05 against 0.0001)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.points.pop_back();
    CHECK(refused(b).find("number of rates (2 against 1)") != std::string::npos);
    b = made_up("B", {170, 168, 150}, {60});
    b.bit_mask = "31";
    CHECK(refused(b).find("bit mask (0,31 against 31)") != std::string::npos);
    CHECK(refused(made_up("B", {170, 168, 150}, {60})) == "accepted");
}

TEST_CASE("two models under the same faults: the mean difference is the difference of the means") {
    const layers::ModulePtr first = faults_test::tiny_cnn(2);
    const layers::ModulePtr second = faults_test::tiny_cnn(3);
    const faults_test::TinyData data = faults_test::tiny_data(*first, 100, 2);
    CampaignOptions options;
    options.format = StorageFormat::float32();
    options.bers = {1e-3, 1e-2};
    options.trials = 12;
    options.seed = 4;
    options.progress = false;
    options.label = "first";
    const CampaignResult a = run_campaign(*first, data.images, data.labels, options);
    options.label = "second";
    const CampaignResult b = run_campaign(*second, data.images, data.labels, options);
    const PairedComparison comparison = compare_paired(a, b);
    for (size_t p = 0; p < 2; ++p) {
        const PairedPoint& point = comparison.points[p];
        CHECK(point.trials == 12);
        CHECK(point.mean_difference == doctest::Approx(a.points[p].stats.mean - b.points[p].stats.mean));
        double squares = 0.0;
        for (size_t t = 0; t < 12; ++t) {
            const double difference = a.accuracy(a.points[p].correct[t]) - b.accuracy(b.points[p].correct[t]);
            CHECK(point.differences[t] == doctest::Approx(difference));
            squares += (difference - point.mean_difference) * (difference - point.mean_difference);
        }
        CHECK(point.std == doctest::Approx(std::sqrt(squares / 11.0)));
        CHECK(point.ci95_half_width == doctest::Approx(student_t_quantile(0.975, 11) * point.std / std::sqrt(12.0)));
    }
    // The same model on other labels of the same images, or under the search's faults: refused.
    faults_test::TinyData relabelled = data;
    relabelled.labels[0] = (relabelled.labels[0] + 1) % 5;
    options.label = "relabelled";
    const CampaignResult other_labels = run_campaign(*second, relabelled.images, relabelled.labels, options);
    CHECK(other_labels.samples == a.samples);
    CHECK(faults_test::error_message<core::ValueError>([&] { compare_paired(a, other_labels); })
              .find("evaluation images (hash of images and labels)") != std::string::npos);
    options.label = "search";
    options.purpose = "search";
    const CampaignResult searched = run_campaign(*second, data.images, data.labels, options);
    CHECK(faults_test::error_message<core::ValueError>([&] { compare_paired(a, searched); })
              .find("purpose (evaluation against search)") != std::string::npos);
    CHECK(per_trial_faults(searched) != per_trial_faults(b));  // the search drew faults of its own
    // A model against itself: every difference is 0.
    for (const PairedPoint& point : compare_paired(a, a).points) {
        CHECK(point.mean_difference == 0.0);
        CHECK(point.ci95_half_width == 0.0);
    }
}
