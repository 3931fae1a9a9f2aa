// Fault targets, quantisation, fault maps, bit-exact restore and fault logs.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <nlohmann/json.hpp>

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
