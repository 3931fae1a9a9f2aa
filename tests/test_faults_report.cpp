// Campaign reports: the table, CSV, JSON (written and read back) and the SVG plot.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/format.hpp"
#include "faults/campaign.hpp"
#include "faults/report.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;

namespace {

size_t count_of(const std::string& text, const std::string& piece) {
    size_t count = 0;
    for (size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + piece.size())) ++count;
    return count;
}

// A result as a campaign would give it, without running one.
CampaignResult made_up_result(const std::string& label, int64_t offset) {
    CampaignResult result;
    result.label = label;
    result.model = "lenet5";
    result.dataset = "fashion-mnist";
    result.format = "Q15.16";
    result.fault_model = FaultModelSpec::parse("ber");
    result.bit_mask = "0,1,2,3,31";
    result.targets = {"features.0.weight", "features.0.bias"};
    result.target_values = 156;
    result.seed = 3;
    result.trials = 4;
    result.samples = 1000;
    result.images_hash = 0x0123456789abcdefull;
    result.fault_free_correct = 900;
    result.fault_free_no_prediction = 2;
    const double rates[] = {1e-6, 1e-5, 1e-4};
    for (int p = 0; p < 3; ++p) {
        PointResult point;
        point.rate = rates[p];
        for (int64_t t = 0; t < 4; ++t) {
            point.trial_ids.push_back(t);
            point.correct.push_back(900 - offset - 100 * p - 7 * t);
            point.no_prediction.push_back(p == 2 ? 10 * t : 0);  // at 1e-4: 0, 1, 2, 3 % of the images
            point.sdc.push_back(20 * p + 2 * t);                  // 2p + 0.2t % of the images
            point.faults.push_back(p * 10 + t);
        }
        result.points.push_back(point);
    }
    recompute_stats(result);
    return result;
}

}  // namespace

TEST_CASE("JSON written and read back gives the same result and the same bytes") {
    const CampaignResult result = made_up_result("baseline", 0);
    const std::string json = campaign_json(result);
    const CampaignResult back = campaign_from_json(json, "test");
    CHECK(campaign_json(back) == json);
    CHECK(back.points.size() == 3);
    CHECK(back.points[1].correct == result.points[1].correct);
    CHECK(back.points[1].stats.mean == result.points[1].stats.mean);
    CHECK(back.points[2].no_prediction == std::vector<int64_t>{0, 10, 20, 30});
    CHECK(back.points[2].no_prediction_stats.mean == doctest::Approx(1.5));
    CHECK(back.points[2].no_prediction_stats.max == 3.0);
    CHECK(back.fault_free_no_prediction == 2);
    CHECK(back.bit_mask == result.bit_mask);
    CHECK(back.purpose == "evaluation");
    CHECK(back.batch_norm == "fold");
    CHECK(back.images_hash == 0x0123456789abcdefull);
    CHECK(back.outcomes);
    CHECK(back.points[2].sdc == std::vector<int64_t>{40, 42, 44, 46});
    CHECK(back.points[2].sdc_stats.mean == doctest::Approx(4.3));
    CHECK(back.points[2].sdc_stats.ci95_half_width == result.points[2].sdc_stats.ci95_half_width);

    const nlohmann::json parsed = nlohmann::json::parse(json);
    CHECK(parsed["proact_campaign"] == kCampaignJsonVersion);
    CHECK(parsed["fault_free_accuracy"] == 90.0);
    CHECK(parsed["points"][0]["accuracy"][1] == 89.3);
    CHECK(parsed["points"][2]["rate"] == 1e-4);
    CHECK(parsed["shard"] == "0/1");
    CHECK(parsed["seed"] == 3);
    CHECK(parsed["purpose"] == "evaluation");
    CHECK(parsed["batch_norm"] == "fold");
    CHECK(parsed["images_hash"] == "0x0123456789abcdef");
    CHECK(parsed["fault_free_no_prediction"] == 2);
    CHECK(parsed["points"][2]["no_prediction"][3] == 30);
    CHECK(parsed["points"][2]["no_prediction_mean"] == 1.5);
    CHECK(parsed["points"][2]["sdc"][3] == 46);
    CHECK(parsed["points"][2]["sdc_mean"] == doctest::Approx(4.3));
    CHECK(parsed["points"][2]["sdc_max"] == doctest::Approx(4.6));
}

TEST_CASE("a version-3 file (before SDC counts) is read without them and written back as it was") {
    // The version-3 layout: this file's JSON without the SDC keys.
    nlohmann::ordered_json json = nlohmann::ordered_json::parse(campaign_json(made_up_result("old", 0)));
    json["proact_campaign"] = 3;
    json.erase("site");  // nor where faults struck: weights, the only site then
    for (nlohmann::ordered_json& point : json["points"])
        for (const char* key : {"sdc", "sdc_mean", "sdc_std", "sdc_max", "sdc_ci95_half_width"}) point.erase(key);
    const std::string v3 = json.dump(2) + "\n";
    const CampaignResult back = campaign_from_json(v3, "v3.json");
    CHECK(!back.outcomes);
    CHECK(back.points[1].sdc.empty());
    CHECK(back.points[1].sdc_stats.trials == 0);
    CHECK(back.points[1].correct == made_up_result("old", 0).points[1].correct);
    CHECK(campaign_json(back) == v3);
    // The reports say there is no SDC rate rather than 0.
    CHECK(campaign_table(back).find(" n/a ") != std::string::npos);
    CHECK(campaign_csv({back}).find(",0.2000,,,,,\n") != std::string::npos);
    CHECK(campaign_svg({back}).find("SDC") == std::string::npos);
    // Shards merge when all are of one version, and not across versions.
    CampaignResult shard0 = back, shard1 = back;
    shard0.shard = {0, 2};
    shard1.shard = {1, 2};
    for (PointResult& point : shard0.points) {
        point.trial_ids = {0, 2};
        point.correct = {point.correct[0], point.correct[2]};
        point.no_prediction = {point.no_prediction[0], point.no_prediction[2]};
        point.faults = {point.faults[0], point.faults[2]};
    }
    for (PointResult& point : shard1.points) {
        point.trial_ids = {1, 3};
        point.correct = {point.correct[1], point.correct[3]};
        point.no_prediction = {point.no_prediction[1], point.no_prediction[3]};
        point.faults = {point.faults[1], point.faults[3]};
    }
    CHECK(campaign_json(merge_shards({shard0, shard1})) == v3);
    CampaignResult newer = shard1;
    newer.outcomes = true;
    for (PointResult& point : newer.points) point.sdc = {0, 0};
    CHECK_THROWS_WITH_AS(merge_shards({shard0, newer}), doctest::Contains("SDC counts"), core::ValueError);
}

TEST_CASE("JSON errors name the source and the field") {
    CHECK_THROWS_WITH_AS(campaign_from_json("{not json", "a.json"), doctest::Contains("a.json: not valid JSON"),
                         core::FormatError);
    nlohmann::json json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json.erase("samples");
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "b.json"), doctest::Contains("'samples' is missing"),
                         core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["proact_campaign"] = 99;
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "c.json"), doctest::Contains("version 99"), core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["points"][0]["correct"] = {1, 2};
    CHECK_THROWS_AS(campaign_from_json(json.dump(), "d.json"), core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["shard"] = "3/2";
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "e.json"), doctest::Contains("'3/2'"), core::FormatError);
    // Version 1 files counted an image with NaN logits as a prediction of class 0.
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["proact_campaign"] = 1;
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "f.json"), doctest::Contains("version 1, expected 4 (or 3)"),
                         core::FormatError);
    // Version 2 files have no purpose, images hash or batch norm, and their faults came from streams
    // keyed without purpose and rate: refused, naming what they lack.
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["proact_campaign"] = 2;
    for (const char* key : {"purpose", "images_hash", "batch_norm"}) json.erase(key);
    const std::string old_version = faults_test::error_message<core::FormatError>(
        [&] { campaign_from_json(json.dump(), "v2.json"); });
    CHECK(old_version.find("v2.json: campaign JSON version 2, expected 4") != std::string::npos);
    for (const char* key : {"'purpose'", "'images_hash'", "'batch_norm'"})
        CHECK(old_version.find(key) != std::string::npos);
    for (const char* key : {"purpose", "images_hash", "batch_norm"}) {
        CAPTURE(key);
        json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
        json.erase(key);
        const std::string missing = "k.json: field '" + std::string(key) + "' is missing";
        CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "k.json"), doctest::Contains(missing.c_str()),
                             core::FormatError);
    }
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["purpose"] = "final";
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "l.json"), doctest::Contains("'final'"), core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["batch_norm"] = "drop";
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "m.json"), doctest::Contains("'drop'"), core::FormatError);
    for (const char* hash : {"0x123", "0123456789abcdef01", "0x0123456789ABCDEF", "0x0123456789abcdeg"}) {
        CAPTURE(hash);
        json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
        json["images_hash"] = hash;
        CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "n.json"), doctest::Contains(hash), core::FormatError);
    }
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["images_hash"] = 81985529216486895;  // a number, not the hex text
    CHECK_THROWS_AS(campaign_from_json(json.dump(), "o.json"), core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["points"][1].erase("no_prediction");
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "g.json"), doctest::Contains("'no_prediction' is missing"),
                         core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["points"][0]["no_prediction"][0] = 150;  // 900 correct + 150 > 1000 samples
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "h.json"), doctest::Contains("no-prediction count 150"),
                         core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["points"][0]["no_prediction"] = {0, 0};
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "i.json"), doctest::Contains("2 no-prediction counts"),
                         core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["points"][2].erase("sdc");
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "p.json"), doctest::Contains("'points[2]': field 'sdc' is missing"),
                         core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["points"][2]["sdc"][1] = 995;  // 995 SDC + 10 without prediction > 1000 samples
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "q.json"), doctest::Contains("SDC count 995"),
                         core::FormatError);
    json = nlohmann::json::parse(campaign_json(made_up_result("x", 0)));
    json["fault_model"] = "bitflip";
    CHECK_THROWS_WITH_AS(campaign_from_json(json.dump(), "j.json"), doctest::Contains("'bitflip'"), core::FormatError);
}

TEST_CASE("CSV: one row per rate, CI empty when undefined") {
    CampaignResult one_trial = made_up_result("one \"trial\", quoted", 0);
    for (PointResult& point : one_trial.points) {
        point.trial_ids.resize(1);
        point.correct.resize(1);
        point.no_prediction.resize(1);
        point.sdc.resize(1);
        point.faults.resize(1);
    }
    recompute_stats(one_trial);
    const std::string csv = campaign_csv({made_up_result("baseline", 0), one_trial});
    std::istringstream lines(csv);
    std::string header, line;
    std::getline(lines, header);
    CHECK(header ==
          "label,model,dataset,format,fault_model,bit_mask,rate_name,rate,trials,mean_accuracy,std,min,max,"
          "ci95_half_width,ci95_low,ci95_high,fault_free_accuracy,mean_faults,stopped_early,no_prediction_mean,"
          "no_prediction_max,fault_free_no_prediction,sdc_mean,sdc_ci95_half_width,sdc_ci95_low,sdc_ci95_high,"
          "sdc_max");
    std::vector<std::string> rows;
    while (std::getline(lines, line)) rows.push_back(line);
    REQUIRE(rows.size() == 6);
    CHECK(rows[0].rfind("baseline,lenet5,fashion-mnist,Q15.16,ber,\"0-3,31\",ber,1e-06,4,88.9500,", 0) == 0);
    CHECK(rows[3].find("\"one \"\"trial\"\", quoted\"") == 0);
    CHECK(rows[3].find(",1,90.0000,0.0000,90.0000,90.0000,,,,90.0000,") != std::string::npos);
    // no prediction (mean, max, fault-free: 2 of 1000), then SDC (mean, CI, max)
    const std::string sdc_ci = core::fixed(made_up_result("baseline", 0).points[2].sdc_stats.ci95_half_width, 4);
    CHECK(rows[0].find(",0.0000,0.0000,0.2000,0.3000,") != std::string::npos);
    CHECK(rows[2].find(",1.5000,3.0000,0.2000,4.3000," + sdc_ci + ",") != std::string::npos);
    CHECK(rows[2].substr(rows[2].size() - 7) == ",4.6000");
    CHECK(rows[3].substr(rows[3].size() - 38) == ",0.0000,0.0000,0.2000,0.0000,,,,0.0000");  // one trial: no CI

}

TEST_CASE("the table shows the settings, the fault-free accuracy and one row per rate") {
    const std::string table = campaign_table(made_up_result("baseline", 0));
    CHECK(table.find("lenet5 on fashion-mnist, 1000 samples, seed 3, purpose evaluation\n") != std::string::npos);
    CHECK(table.find("storage Q15.16") != std::string::npos);
    CHECK(table.find("bits 0-3,31") != std::string::npos);
    CHECK(table.find("fault-free accuracy 90.00%, no prediction 0.20%") != std::string::npos);
    CHECK(table.find("no pred %") != std::string::npos);
    CHECK(table.find("SDC %") != std::string::npos);
    CHECK(table.find("    4.30 ") != std::string::npos);  // the mean SDC rate at 1e-4
    CHECK(table.find("1.50\n") != std::string::npos);  // the mean no-prediction share at 1e-4
    CHECK(table.find("0.0001") != std::string::npos);
    CHECK(count_of(table, "\n") == 4 + 3);
    // Batch norm is named when it was not folded (the default goes unsaid); the purpose always.
    CampaignResult kept = made_up_result("baseline", 0);
    kept.purpose = "search";
    kept.batch_norm = "keep";
    const std::string kept_table = campaign_table(kept);
    CHECK(kept_table.find("seed 3, purpose search, batch norm keep\n") != std::string::npos);
    CHECK(count_of(kept_table, "\n") == 4 + 3);
    CHECK(table.find("batch norm") == std::string::npos);
}

TEST_CASE("SVG plot: one line per result, error bars, legend, log axis") {
    CampaignResult second = made_up_result("proact <hybrid>", -50);
    second.points[0].rate = 0.0;  // a rate of 0 has no place on a log axis: left out
    const std::string svg = campaign_svg({made_up_result("baseline", 0), second}, "A & B");
    CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
    CHECK(svg.size() > 2000);
    CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
    CHECK(count_of(svg, "<polyline") == 2);
    CHECK(count_of(svg, "<title>") == 5);  // 3 + 2 points
    const std::string sdc_ci = core::fixed(made_up_result("baseline", 0).points[2].sdc_stats.ci95_half_width);
    CHECK(svg.find("BER 0.0001, mean 68.95%, SDC 4.30% (±" + sdc_ci + "), no prediction 1.50%, 4 trials</title>") !=
          std::string::npos);
    CHECK(svg.find("proact &lt;hybrid&gt;") != std::string::npos);
    CHECK(svg.find("A &amp; B") != std::string::npos);
    CHECK(svg.find("bit error rate (BER), log scale") != std::string::npos);
    CHECK(svg.find("top-1 accuracy (%)") != std::string::npos);
    CHECK(svg.find(">1e-6<") != std::string::npos);
    CHECK(svg.find(">1e-4<") != std::string::npos);
    CHECK(count_of(svg, "stroke-dasharray") == 3);  // two fault-free lines and the legend's
    CHECK(count_of(svg, "<path d=") == 5);           // an error bar per point
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
    CHECK(count_of(svg, "<") == count_of(svg, ">"));
}
