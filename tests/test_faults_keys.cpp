// Fault stream keys: a target's faults depend on (seed, purpose, rate, trial, name) and nothing else;
// one trial at two rates, or under two purposes, draws unrelated maps (each statistic is shown to
// catch the old one-stream-per-trial keying); keys that do not fit are refused; and a campaign
// records its purpose, batch norm and the hash of its images and labels.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>
#include <numeric>
#include <set>

#include "faults/campaign.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;
using faults_test::per_trial;
using faults_test::error_message;

namespace {

CampaignOptions quick_options() {
    CampaignOptions options;
    options.format = StorageFormat::float32();
    options.bers = {1e-3, 1e-2, 5e-2};
    options.trials = 10;
    options.seed = 5;
    options.progress = false;
    return options;
}

}  // namespace

TEST_CASE("a tensor's faults depend on (seed, purpose, rate, trial, name) only") {
    layers::ModulePtr model = faults_test::tiny_cnn(4);
    const std::vector<FaultTarget> all = select_targets(*model);
    const std::vector<FaultTarget> one = select_targets(*model, {"classifier.0.weight"});
    const StorageFormat format = StorageFormat::float32();
    const FaultModel fault_model = FaultModel::bit_error_rate(0.01, BitMask::all(format));
    const FaultStreamKey key{9, "evaluation", 0.01};
    for (int64_t trial = 0; trial < 20; ++trial) {
        // The other targets (a hardened model's extra thresholds, say) leave this one's faults alone.
        const FaultMap from_all = draw_fault_map(all, fault_model, format, key, trial);
        const FaultMap from_one = draw_fault_map(one, fault_model, format, key, trial);
        std::vector<BitFault> in_all, in_one;
        for (const TensorFaults& tensor : from_all.tensors)
            if (all[tensor.target].name == "classifier.0.weight") in_all = tensor.faults;
        if (!from_one.tensors.empty()) in_one = from_one.tensors[0].faults;
        CHECK(in_all == in_one);
        CHECK(faults_test::positions(draw_fault_map(all, fault_model, format, key, trial), all) ==
              faults_test::positions(from_all, all));  // replayable
    }
    // Different trials and seeds give different maps; the mean count matches the BER.
    int64_t total = 0;
    std::set<std::vector<std::pair<std::string, int64_t>>> distinct;
    for (int64_t trial = 0; trial < 200; ++trial) {
        const FaultMap map = draw_fault_map(all, fault_model, format, {1, "evaluation", 0.01}, trial);
        total += map.size();
        distinct.insert(faults_test::positions(map, all));
    }
    const double expected = 200.0 * double(target_values(all)) * 32.0 * 0.01;  // 200 trials
    CHECK(std::fabs(double(total) - expected) < 5.0 * std::sqrt(expected));
    CHECK(distinct.size() == 200);
}

namespace {

// Candidate bits element * 32 + bit of the one target in `map` (float32, every bit allowed), ascending.
std::vector<int64_t> bits_of(const FaultMap& map) {
    std::vector<int64_t> bits;
    for (const TensorFaults& tensor : map.tensors)
        for (const BitFault& fault : tensor.faults) bits.push_back(fault.element * 32 + fault.bit);
    return bits;
}

// Bits in both ascending lists.
size_t overlap(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    std::vector<int64_t> both;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
    return both.size();
}

// The share of the bits of `a` with a bit of `b` at most `distance` away.
double near_share(const std::vector<int64_t>& a, const std::vector<int64_t>& b, int64_t distance) {
    size_t near = 0;
    for (int64_t bit : a) {
        const auto next = std::lower_bound(b.begin(), b.end(), bit - distance);
        near += next != b.end() && *next <= bit + distance;
    }
    return double(near) / double(a.size());
}

// Pearson correlation of the i-th gaps between consecutive bits of two ascending lists, over the
// shorter one: near 1 when one map is the other rescaled (the gaps of one stream at two rates),
// near 0 for independent maps.
double gap_correlation(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    std::vector<double> x, y;
    for (size_t i = 1; i < n; ++i) {
        x.push_back(double(a[i] - a[i - 1]));
        y.push_back(double(b[i] - b[i - 1]));
    }
    const double mean_x = std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
    const double mean_y = std::accumulate(y.begin(), y.end(), 0.0) / double(y.size());
    double xy = 0.0, xx = 0.0, yy = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        xy += (x[i] - mean_x) * (y[i] - mean_y);
        xx += (x[i] - mean_x) * (x[i] - mean_x);
        yy += (y[i] - mean_y) * (y[i] - mean_y);
    }
    return xy / std::sqrt(xx * yy);
}

// A 1024 x 1024 weight: 2^25 candidate bits in float32, thousands of faults at BER 1e-4.
struct LargeTarget {
    layers::Sequential model;
    std::vector<FaultTarget> targets;
    LargeTarget() {
        core::Rng rng(12, "init");
        model.add(std::make_shared<layers::Linear>(1024, 1024, rng, /*bias=*/false));
        targets = select_targets(model);
    }
};

// The faults one stream per (seed, trial, name) gave before the rate and purpose were in the key.
FaultMap drawn_from_one_stream_per_trial(const std::vector<FaultTarget>& targets, const FaultModel& model,
                                         const StorageFormat& format, uint64_t seed, int64_t trial) {
    core::Rng rng = core::Rng(seed, "faults", static_cast<uint64_t>(trial)).child(core::hash_purpose(targets[0].name));
    return {{{0, draw_faults(model, targets[0].numel(), format, rng)}}};
}

}  // namespace

TEST_CASE("one trial at two rates: unrelated maps, neither a prefix nor a rescaling of the other") {
    const LargeTarget large;
    const StorageFormat format = StorageFormat::float32();
    const BitMask mask = BitMask::all(format);
    const double rate = 1e-4;
    for (int64_t trial = 0; trial < 3; ++trial) {
        CAPTURE(trial);
        const auto keyed = [&](const FaultModel& model) {
            return bits_of(draw_fault_map(large.targets, model, format, {3, "evaluation", model.rate()}, trial));
        };
        const auto one_stream = [&](const FaultModel& model) {
            return bits_of(drawn_from_one_stream_per_trial(large.targets, model, format, 3, trial));
        };
        // Binomial count: one stream at two rates gives the same geometric gaps rescaled by two.
        const FaultModel low = FaultModel::bit_error_rate(rate, mask);
        const FaultModel high = FaultModel::bit_error_rate(2 * rate, mask);
        const std::vector<int64_t> at_low = keyed(low), at_high = keyed(high);
        CHECK(at_low.size() > 3000);   // 2^25 * 1e-4 = 3355 expected
        CHECK(at_high.size() > 6000);  // 6711 expected
        // Independent gaps: the correlation is about N(0, 1/sqrt(3355)); 0.1 is 5.8 standard deviations.
        CHECK(std::fabs(gap_correlation(at_low, at_high)) < 0.1);
        CHECK(gap_correlation(one_stream(low), one_stream(high)) > 0.99);  // what the statistic catches

        // The toolbox's floor count: one stream at two rates repeats the low rate's draws as the
        // first half of the high rate's (a prefix). Chance overlap: 3355 * 6710 / 2^25 = 0.67 bits.
        const FaultModel floor_low = FaultModel::toolbox_rate(rate, mask);
        const FaultModel floor_high = FaultModel::toolbox_rate(2 * rate, mask);
        const std::vector<int64_t> floor_at_low = keyed(floor_low);
        CHECK(floor_at_low.size() > 3300);
        CHECK(overlap(floor_at_low, keyed(floor_high)) <= 8);  // P(Poisson(0.67) > 8) < 1e-8
        const std::vector<int64_t> old_floor_low = one_stream(floor_low);
        CHECK(overlap(old_floor_low, one_stream(floor_high)) > old_floor_low.size() * 99 / 100);

        // Exact counts, keyed by k: one stream gives k = 1000's draws as k = 2000's first ones, each
        // moved by less than 1000 bits (Floyd's bounds differ by 1000). Chance of a k = 2000 bit
        // within 1000 of a given bit: about 2000 * 2001 / 2^25 = 0.12.
        const FaultModel exact_low = FaultModel::exact(1000, mask), exact_high = FaultModel::exact(2000, mask);
        CHECK(keyed(exact_low).size() == 1000);
        CHECK(near_share(keyed(exact_low), keyed(exact_high), 1000) < 0.25);
        CHECK(near_share(one_stream(exact_low), one_stream(exact_high), 1000) > 0.9);
    }
}

TEST_CASE("each purpose draws faults of its own for the same seed, rate and trial") {
    const LargeTarget large;
    const StorageFormat format = StorageFormat::float32();
    const FaultModel fault_model = FaultModel::bit_error_rate(1e-4, BitMask::all(format));
    std::vector<std::vector<int64_t>> maps;
    for (std::string_view purpose : kFaultPurposes)
        maps.push_back(bits_of(draw_fault_map(large.targets, fault_model, format, {7, std::string(purpose), 1e-4}, 2)));
    for (size_t i = 0; i < maps.size(); ++i) {
        CHECK(maps[i].size() > 3000);
        CHECK(maps[i] == bits_of(draw_fault_map(large.targets, fault_model, format,
                                                {7, std::string(kFaultPurposes[i]), 1e-4}, 2)));  // replayable
        for (size_t j = i + 1; j < maps.size(); ++j) {
            CAPTURE(kFaultPurposes[i]);
            CAPTURE(kFaultPurposes[j]);
            CHECK(overlap(maps[i], maps[j]) <= 8);  // chance: 3355^2 / 2^25 = 0.34 bits
            CHECK(std::fabs(gap_correlation(maps[i], maps[j])) < 0.1);
        }
    }
    // The default purpose is the evaluation's.
    CHECK(FaultStreamKey{}.purpose == "evaluation");
    CHECK(CampaignOptions{}.purpose == "evaluation");
}

TEST_CASE("stream keys: an unknown purpose and a rate other than the model's are refused") {
    layers::ModulePtr model = faults_test::tiny_cnn(4);
    const std::vector<FaultTarget> targets = select_targets(*model);
    const StorageFormat format = StorageFormat::float32();
    const FaultModel ber = FaultModel::bit_error_rate(0.01, BitMask::all(format));
    const std::string unknown =
        error_message<core::ValueError>([&] { draw_fault_map(targets, ber, format, {1, "final", 0.01}, 0); });
    CHECK(unknown.find("'final'") != std::string::npos);
    CHECK(unknown.find("evaluation, search, tuning") != std::string::npos);
    CHECK_THROWS_AS(fault_stream({1, "Evaluation", 0.01}, 0, "features.0.weight"), core::ValueError);
    CHECK_NOTHROW(check_fault_purpose("tuning"));
    const std::string mismatch =
        error_message<core::ValueError>([&] { draw_fault_map(targets, ber, format, {1, "evaluation", 0.02}, 0); });
    CHECK(mismatch.find("rate 0.02 is not the fault model's rate 0.01") != std::string::npos);
    // An exact-k model's rate is k.
    const FaultModel exact = FaultModel::exact(3, BitMask::all(format));
    CHECK(exact.rate() == 3.0);
    CHECK(draw_fault_map(targets, exact, format, {1, "evaluation", 3.0}, 0).size() == 3 * 8);
    CHECK_THROWS_AS(draw_fault_map(targets, exact, format, {1, "evaluation", 0.0}, 0), core::ValueError);
    // The rate enters by its bits: a rate one ulp away is another stream.
    const FaultModel next = FaultModel::bit_error_rate(std::nextafter(0.01, 1.0), BitMask::all(format));
    CHECK(faults_test::positions(draw_fault_map(targets, next, format, {1, "evaluation", next.rate()}, 0), targets) !=
          faults_test::positions(draw_fault_map(targets, ber, format, {1, "evaluation", 0.01}, 0), targets));
}

TEST_CASE("a campaign records its purpose, batch norm and the hash of its images and labels") {
    layers::ModulePtr model = faults_test::tiny_cnn(2);
    faults_test::TinyData data = faults_test::tiny_data(*model, 100, 2);
    CampaignOptions options = quick_options();
    const CampaignResult evaluation = run_campaign(*model, data.images, data.labels, options);
    CHECK(evaluation.purpose == "evaluation");
    CHECK(evaluation.batch_norm == "fold");
    CHECK(evaluation.images_hash == data_checksum(data.images, data.labels));
    CHECK(Campaign(*model, data.images, data.labels, options).images_hash() == evaluation.images_hash);

    // The hash reads every image value and every label.
    std::vector<int32_t> labels = data.labels;
    labels.back() = (labels.back() + 1) % 5;
    CHECK(data_checksum(data.images, labels) != evaluation.images_hash);
    core::Tensor images = data.images.clone();
    images.data()[images.numel() - 1] = std::nextafter(images.data()[images.numel() - 1], 10.0f);
    CHECK(data_checksum(images, data.labels) != evaluation.images_hash);
    CHECK(data_checksum(data.images.clone(), data.labels) == evaluation.images_hash);
    // FNV-1a: the empty input hashes to the offset basis; one zero label is the basis ^ 0, times
    // the prime, four times.
    CHECK(data_checksum(core::Tensor::zeros({0, 1}), {}) == 0xCBF29CE484222325ull);
    uint64_t one_label = 0xCBF29CE484222325ull;
    for (int byte = 0; byte < 4; ++byte) one_label *= 0x100000001B3ull;
    CHECK(data_checksum(core::Tensor::zeros({0, 1}), {0}) == one_label);
    CHECK(checksum_hex(0xabcull) == "0x0000000000000abc");
    CHECK(parse_checksum_hex(checksum_hex(evaluation.images_hash)) == evaluation.images_hash);

    // A search draws faults of its own: other fault counts, other accuracies, the same fault-free result.
    options.purpose = "search";
    options.batch_norm = "keep";
    const CampaignResult search = run_campaign(*model, data.images, data.labels, options);
    CHECK(search.purpose == "search");
    CHECK(search.batch_norm == "keep");
    CHECK(search.images_hash == evaluation.images_hash);
    CHECK(search.fault_free_correct == evaluation.fault_free_correct);
    CHECK(search.points[2].faults != evaluation.points[2].faults);
    CHECK(per_trial(search) != per_trial(evaluation));
    const CampaignResult back = campaign_from_json(campaign_json(search));
    CHECK(back.purpose == "search");
    CHECK(back.batch_norm == "keep");
    CHECK(back.images_hash == search.images_hash);
    CHECK(campaign_json(back) == campaign_json(search));

    // A trial's faults are those drawn under its key: (seed, purpose, rate, trial, name).
    Campaign campaign(*model, data.images, data.labels, options);
    const FaultMap map = draw_fault_map(campaign.targets(), campaign.fault_model(1), options.format,
                                        FaultStreamKey{5, "search", options.bers[1]}, 4);
    CHECK(campaign.run_trial(1, 4).faults == map.size());
    CHECK(search.points[1].faults[4] == map.size());
}

