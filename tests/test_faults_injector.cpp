// Fault targets, quantisation, fault maps, bit-exact restore and fault logs.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>
#include <numeric>
#include <nlohmann/json.hpp>
#include <set>

#include "faults/campaign.hpp"
#include "faults/injector.hpp"
#include "faults/targets.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;
using faults_test::error_message;

namespace {

// A clipping activation with a threshold tensor, as the hardening code will add (a later issue).
class ThresholdClip : public layers::Module {
public:
    explicit ThresholdClip(int64_t count) { register_parameter("threshold", core::Tensor::full({count}, 2.0f)); }
    autograd::Variable forward(const autograd::Variable& input) override { return input; }
    std::string type_name() const override { return "HybridClip"; }
};

std::vector<std::string> names_of(const std::vector<FaultTarget>& targets) {
    std::vector<std::string> names;
    for (const FaultTarget& target : targets) names.push_back(target.name);
    return names;
}

}  // namespace

TEST_CASE("default targets: conv and linear weights and biases, every threshold, scalars included") {
    core::Rng rng(1, "init");
    layers::Sequential model;
    model.add(std::make_shared<layers::Conv2d>(1, 2, 3, rng));
    model.add(std::make_shared<layers::BatchNorm2d>(2));
    model.add(std::make_shared<ThresholdClip>(1));  // layer-wise: a stored word like any weight
    model.add(std::make_shared<layers::Flatten>());
    model.add(std::make_shared<layers::Linear>(8, 3, rng));
    model.add(std::make_shared<ThresholdClip>(3));  // neuron-wise: a target
    const std::vector<FaultTarget> targets = select_targets(model);
    CHECK(names_of(targets) ==
          std::vector<std::string>{"0.weight", "0.bias", "2.threshold", "4.weight", "4.bias", "5.threshold"});
    CHECK(targets[0].module_type == "Conv2d");
    CHECK(targets[0].module_path == "0");
    CHECK(targets[5].module_type == "HybridClip");
    CHECK(target_values(targets) == 2 * 9 + 2 + 1 + 24 + 3 + 3);
    CHECK(is_default_target("Linear", "weight", 10));
    CHECK_FALSE(is_default_target("BatchNorm2d", "weight", 10));
    CHECK(is_default_target("HybridClip", "threshold", 1));
    CHECK_FALSE(is_default_target("HybridClip", "threshold", 1, /*include_thresholds=*/false));
    // without thresholds: the weights alone, even when a pattern names a threshold
    CHECK(names_of(select_targets(model, {}, false)) ==
          std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"});
    CHECK(names_of(select_targets(model, {"*.weight", "5.threshold"}, false)) ==
          std::vector<std::string>{"0.weight", "1.weight", "4.weight"});
}

TEST_CASE("targets by pattern: union in parameter order; a pattern matching nothing is an error") {
    layers::ModulePtr model = faults_test::tiny_cnn(3);
    CHECK(names_of(select_targets(*model, {"features.*.weight"})) ==
          std::vector<std::string>{"features.0.weight", "features.3.weight"});
    CHECK(names_of(select_targets(*model, {"classifier.2.*", "features.0.bias"})) ==
          std::vector<std::string>{"features.0.bias", "classifier.2.weight", "classifier.2.bias"});
    const std::string message =
        error_message<core::ValueError>([&] { select_targets(*model, {"features.*.weight", "decoder.*"}); });
    CHECK(message.find("'decoder.*' matches no parameter") != std::string::npos);
    CHECK(message.find("features.0.weight") != std::string::npos);  // lists what there is
}

TEST_CASE("quantize_targets puts values on the grid once, counting saturation") {
    layers::Sequential model;
    core::Rng rng(2, "init");
    auto linear = model.add(std::make_shared<layers::Linear>(2, 2, rng));
    std::vector<FaultTarget> targets = select_targets(model, {"0.weight"});
    const std::span<float> weights = targets[0].values();
    weights[0] = 0.1f;        // rounds to 6554 * 2^-16
    weights[1] = 40000.0f;    // above Q15.16's 32768 - 2^-16: saturates
    weights[2] = -40000.0f;   // below -32768: saturates
    weights[3] = 1.5f;        // already on the grid
    const StorageFormat q15_16 = StorageFormat::fixed_point(15, 16);
    CHECK(error_message<core::ValueError>([&] { check_quantized(targets, q15_16); }).find("0.weight") !=
          std::string::npos);
    const QuantizeReport report = quantize_targets(targets, q15_16);
    CHECK(report.values == 4);
    CHECK(report.saturated == 2);
    CHECK(report.changed == 3);
    CHECK(report.max_abs_error <= std::ldexp(1.0, -17));
    const std::span<const float> values = linear->weight().value().span();
    CHECK(values[0] == static_cast<float>(6554.0 / 65536.0));
    CHECK(values[1] == static_cast<float>(32768.0 - 1.0 / 65536.0));
    CHECK(values[2] == -32768.0f);
    CHECK(values[3] == 1.5f);
    CHECK_NOTHROW(check_quantized(targets, q15_16));
    const QuantizeReport again = quantize_targets(targets, q15_16);  // idempotent
    CHECK(again.changed == 0);
    CHECK(quantize_targets(targets, StorageFormat::float32()).changed == 0);
}

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

TEST_CASE("bit masks restrict the positions hit") {
    layers::ModulePtr model = faults_test::tiny_cnn(5);
    const std::vector<FaultTarget> targets = select_targets(*model);
    const StorageFormat float32 = StorageFormat::float32();
    const StorageFormat q7_8 = StorageFormat::fixed_point(7, 8);
    const FaultMap signs = draw_fault_map(targets, FaultModel::bit_error_rate(0.2, BitMask::parse("sign", float32)),
                                          float32, {0, "evaluation", 0.2}, 0);
    const FaultMap integers = draw_fault_map(
        targets, FaultModel::bit_error_rate(0.2, BitMask::parse("integer", q7_8)), q7_8, {0, "evaluation", 0.2}, 0);
    CHECK(signs.size() > 0);
    CHECK(integers.size() > 0);
    for (const TensorFaults& tensor : signs.tensors)
        for (const BitFault& fault : tensor.faults) CHECK(fault.bit == 31);
    for (const TensorFaults& tensor : integers.tensors)
        for (const BitFault& fault : tensor.faults) CHECK((fault.bit >= 8 && fault.bit <= 14));
}

TEST_CASE("thousands of trials restore every bit, float32 and Q15.16") {
    for (const char* format_name : {"float32", "q15.16"}) {
        CAPTURE(format_name);
        layers::ModulePtr model = faults_test::tiny_cnn(6);
        const StorageFormat format = StorageFormat::parse(format_name);
        std::vector<FaultTarget> targets = select_targets(*model);
        quantize_targets(targets, format);
        const uint64_t before = model_checksum(*model);
        // High rates, so that every trial flips many bits, some twice in one word, with stuck-at too.
        const BitMask mask = BitMask::all(format);
        int64_t flipped = 0;
        for (int64_t trial = 0; trial < 3000; ++trial) {
            const FaultModel fault_model = trial % 3 == 0   ? FaultModel::bit_error_rate(0.02, mask)
                                           : trial % 3 == 1 ? FaultModel::stuck_at(1, 0.02, mask)
                                                            : FaultModel::exact(5, mask);
            const FaultMap map =
                draw_fault_map(targets, fault_model, format, {11, "evaluation", fault_model.rate()}, trial);
            ScopedFaults faults(targets, map, format);
            flipped += map.size();
            if (trial == 0) CHECK(model_checksum(*model) != before);
        }
        CHECK(flipped > 3000 * 10);
        CHECK(model_checksum(*model) == before);

        // And through whole campaigns: 2 rates x 600 trials, every optimisation on.
        faults_test::TinyData data = faults_test::tiny_data(*model, 64, 1);
        CampaignOptions options;
        options.format = format;
        options.bers = {1e-3, 3e-2};
        options.trials = 600;
        options.progress = false;
        const CampaignResult result = run_campaign(*model, data.images, data.labels, options);
        CHECK(result.trials_evaluated + result.trials_reused == 1200);
        CHECK(model_checksum(*model) == before);
    }
}

TEST_CASE("ScopedFaults restores when the scope ends by an exception") {
    layers::ModulePtr model = faults_test::tiny_cnn(7);
    std::vector<FaultTarget> targets = select_targets(*model);
    const StorageFormat format = StorageFormat::float32();
    const uint64_t before = model_checksum(*model);
    try {
        const FaultMap map =
            draw_fault_map(targets, FaultModel::exact(3, BitMask::all(format)), format, {0, "evaluation", 3.0}, 0);
        ScopedFaults faults(targets, map, format);
        CHECK(faults.changes_values());
        throw std::runtime_error("evaluation failed");
    } catch (const std::runtime_error&) {
    }
    CHECK(model_checksum(*model) == before);
}

TEST_CASE("fault logs as CSV and JSON") {
    layers::ModulePtr model = faults_test::tiny_cnn(8);
    std::vector<FaultTarget> targets = select_targets(*model, {"features.0.weight"});
    const StorageFormat format = StorageFormat::float32();
    const float original = targets[0].values()[2];
    FaultMap map;
    map.tensors.push_back({0, {{2, 30, BitAction::flip}, {2, 31, BitAction::flip}}});
    std::vector<FaultLogEntry> entries;
    {
        ScopedFaults faults(targets, map, format);
        append_fault_log(entries, 4, 1e-5, targets, faults.log(), format);
    }
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].parameter == "features.0.weight");
    CHECK(entries[0].index == 2);
    CHECK(entries[0].bit == 30);
    CHECK(std::bit_cast<uint32_t>(entries[0].old_value) == std::bit_cast<uint32_t>(original));
    CHECK(entries[0].old_word == std::bit_cast<uint32_t>(original));
    CHECK(entries[0].new_word == (std::bit_cast<uint32_t>(original) ^ (1u << 30)));
    CHECK(entries[1].old_word == entries[0].new_word);

    const std::string csv = fault_log_csv(entries);
    CHECK(csv.rfind("trial,rate,parameter,index,bit,action,old_value,new_value,old_word,new_word\n", 0) == 0);
    CHECK(csv.find("\n4,1e-05,features.0.weight,2,30,flip,") != std::string::npos);

    const nlohmann::json json = nlohmann::json::parse(fault_log_json(entries, format));
    CHECK(json["format"] == "float32");
    REQUIRE(json["faults"].size() == 2);
    CHECK(json["faults"][1]["bit"] == 31);
    CHECK(json["faults"][1]["parameter"] == "features.0.weight");
    // A value that is not finite is written as a string; JSON has no inf.
    FaultLogEntry huge = entries[0];
    huge.new_value = std::numeric_limits<float>::infinity();
    CHECK(nlohmann::json::parse(fault_log_json({huge}, format))["faults"][0]["new_value"] == "inf");
}

TEST_CASE("a campaign logs the faults it injected, and the log replays") {
    layers::ModulePtr model = faults_test::tiny_cnn(9);
    faults_test::TinyData data = faults_test::tiny_data(*model, 32, 2);
    CampaignOptions options;
    options.format = StorageFormat::float32();
    options.bers = {1e-2};
    options.trials = 5;
    options.progress = false;
    options.log_faults = true;
    const CampaignResult result = run_campaign(*model, data.images, data.labels, options);
    int64_t logged = 0;
    for (int64_t faults : result.points[0].faults) logged += faults;
    CHECK(static_cast<int64_t>(result.fault_log.size()) == logged);
    std::vector<FaultTarget> targets = select_targets(*model);
    for (const FaultLogEntry& entry : result.fault_log) {
        CHECK(entry.trial >= 0);
        CHECK(entry.trial < 5);
        CHECK(entry.rate == 1e-2);
    }
    // Trial 3's entries are exactly draw_fault_map(seed 0, purpose "evaluation", rate 1e-2, trial 3).
    const FaultMap map = draw_fault_map(targets, FaultModel::bit_error_rate(1e-2, BitMask::all(options.format)),
                                        options.format, {0, "evaluation", 1e-2}, 3);
    std::vector<std::pair<std::string, int64_t>> drawn, logged_faults;
    for (const TensorFaults& tensor : map.tensors)
        for (const BitFault& fault : tensor.faults) drawn.emplace_back(targets[tensor.target].name, fault.element * 32 + fault.bit);
    for (const FaultLogEntry& entry : result.fault_log)
        if (entry.trial == 3) logged_faults.emplace_back(entry.parameter, entry.index * 32 + entry.bit);
    CHECK(drawn == logged_faults);
}
