// The 16-bit float formats (bf16, fp16) and int8 with a per-tensor scale: names, every 16-bit word
// decoded and encoded back, rounding against a reference that only compares decoded values, int8
// scales and clamps, faults restored byte for byte, scale faults reaching every element, and
// campaigns in each format (deterministic, fast paths equal to plain evaluation); bad names and a
// campaign JSON with a bad format.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.hpp"
#include "faults/bitflip.hpp"
#include "faults/campaign.hpp"
#include "faults/fault_model.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"
#include "faults/storage_format.hpp"
#include "layers/hybrid_clip.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using namespace proact::faults;
using faults_test::per_trial;
using core::ValueError;
using faults_test::error_message;

namespace {

const StorageFormat kBf16 = StorageFormat::bfloat16();
const StorageFormat kFp16 = StorageFormat::float16();
const StorageFormat kInt8 = StorageFormat::int8();

uint32_t bits_of(float value) { return std::bit_cast<uint32_t>(value); }
float from_bits(uint32_t bits) { return std::bit_cast<float>(bits); }

// The word a correctly rounded conversion gives, found from decoded values alone: the largest
// positive finite word at or below |value| and the next one (the infinity word standing for
// 2^(emax+1), as IEEE rounding does), the nearer of them, ties to the even word. Words of one sign
// are ordered like their values, so a binary search over them finds the first.
uint32_t reference_word(float value, const StorageFormat& format, uint32_t infinity_word, double infinity_value) {
    const uint32_t sign = std::signbit(value) ? 0x8000u : 0u;
    const double magnitude = std::fabs(static_cast<double>(value));
    if (magnitude >= infinity_value) return sign | infinity_word;
    uint32_t low = 0, high = infinity_word;  // decode(low) <= magnitude < value of high
    while (high - low > 1) {
        const uint32_t middle = (low + high) / 2;
        (static_cast<double>(format.decode(static_cast<int32_t>(middle))) <= magnitude ? low : high) = middle;
    }
    const double below = format.decode(static_cast<int32_t>(low));
    const double above = high == infinity_word ? infinity_value : format.decode(static_cast<int32_t>(high));
    const double to_low = magnitude - below, to_high = above - magnitude;
    const uint32_t word = to_low < to_high ? low : to_high < to_low ? high : (low % 2 == 0 ? low : high);
    return sign | word;
}

CampaignOptions quick_options(const StorageFormat& format) {
    CampaignOptions options;
    options.format = format;
    options.bers = {1e-3, 1e-2, 3e-2};
    options.trials = 12;
    options.seed = 11;
    options.progress = false;
    options.batch_size = 64;
    options.model_name = "tiny-cnn";
    options.dataset_name = "noise";
    return options;
}

}  // namespace

TEST_CASE("bf16, fp16 and int8: names, aliases, canonical text and word layout") {
    for (const char* text : {"bf16", "BF16", "bfloat16", "BFloat16"}) CHECK(StorageFormat::parse(text) == kBf16);
    for (const char* text : {"fp16", "FP16", "float16", "half", "Half"}) CHECK(StorageFormat::parse(text) == kFp16);
    for (const char* text : {"int8", "INT8"}) CHECK(StorageFormat::parse(text) == kInt8);
    CHECK(kBf16.to_string() == "bf16");
    CHECK(kFp16.to_string() == "fp16");
    CHECK(kInt8.to_string() == "int8");
    for (const StorageFormat& format : {kBf16, kFp16, kInt8, StorageFormat::float32(), StorageFormat::fixed_point(7, 8)})
        CHECK(StorageFormat::parse(format.to_string()) == format);
    CHECK(kBf16.bits() == 16);
    CHECK(kFp16.bits() == 16);
    CHECK(kInt8.bits() == 8);
    CHECK(kInt8.word_mask() == 0xFFu);
    CHECK(kInt8.min_code() == -128);
    CHECK(kInt8.max_code() == 127);
    CHECK(BitMask::parse("exponent", kBf16).bits == 0x7F80u);
    CHECK(BitMask::parse("mantissa", kBf16).bits == 0x007Fu);
    CHECK(BitMask::parse("exponent", kFp16).bits == 0x7C00u);
    CHECK(BitMask::parse("mantissa,sign", kFp16).bits == 0x83FFu);
    CHECK(BitMask::parse("sign", kInt8).bits == 0x80u);
    CHECK(BitMask::parse("all", kInt8).bits == 0xFFu);
    CHECK_THROWS_WITH_AS(BitMask::parse("16", kBf16), doctest::Contains("lies outside the word"), ValueError);
    CHECK_THROWS_WITH_AS(BitMask::parse("8", kInt8), doctest::Contains("bit positions 0..7"), ValueError);
    CHECK_THROWS_WITH_AS(BitMask::parse("exponent", kInt8), doctest::Contains("expected a comma-separated list of all, sign"),
                         ValueError);
    // int8's scale belongs to a tensor: a format without one cannot code a value, one with a scale
    // is not the bare format, and only int8 takes one.
    CHECK_THROWS_WITH_AS(kInt8.encode(1.0f), doctest::Contains("no per-tensor scale"), ValueError);
    CHECK(kInt8.with_scale(0.5f) != kInt8);
    CHECK(kInt8.with_scale(0.5f).to_string() == "int8");
    CHECK_THROWS_AS(kBf16.with_scale(1.0f), ValueError);
}

TEST_CASE("bad names are refused, naming the accepted formats") {
    for (const char* text : {"bf", "bfloat", "float8", "fp8", "int", "int16", "uint8", "halff", "b f16", "fp16 "}) {
        CAPTURE(text);
        const std::string message = error_message<ValueError>([&] { StorageFormat::parse(text); });
        CHECK(message.find(std::string("'") + text + "'") != std::string::npos);
        CHECK(message.find("float32, bf16, fp16, int8 or Qm.n") != std::string::npos);
    }
}

TEST_CASE("every bf16 and fp16 word decodes and encodes back to itself") {
    for (const StorageFormat& format : {kBf16, kFp16}) {
        CAPTURE(format.to_string());
        int64_t nans = 0;
        for (uint32_t word = 0; word <= 0xFFFFu; ++word) {
            const float value = value_of(word, format);
            CHECK(word_of(value, format) == word);  // NaN words too, signalling ones included
            if (std::isnan(value)) {
                ++nans;
                CHECK(std::isnan(format.quantize(value)));
            } else {
                CHECK(bits_of(format.quantize(value)) == bits_of(value));
            }
        }
        CHECK(nans == (format.is_bfloat16() ? 2 * 127 : 2 * 1023));
    }
    // bf16 is the top half of the float; fp16 subnormals are multiples of 2^-24.
    for (uint32_t word = 0; word <= 0xFFFFu; ++word) CHECK(bits_of(kBf16.decode(int32_t(word))) == word << 16);
    for (uint32_t mantissa = 0; mantissa < 1024; ++mantissa)
        CHECK(kFp16.decode(int32_t(mantissa)) == static_cast<float>(std::ldexp(double(mantissa), -24)));
}

TEST_CASE("bf16 and fp16 round to nearest, ties to even, like a reference over decoded values") {
    core::Rng rng(5, "number-formats");
    for (int i = 0; i < 300'000; ++i) {
        // Random patterns over every exponent, and values near the fp16 range.
        float value = from_bits(static_cast<uint32_t>(rng.next_u64()));
        if (i % 2) value = static_cast<float>(std::ldexp(rng.uniform_double() * 2.0 - 1.0, int(rng.below(44)) - 28));
        if (std::isnan(value)) continue;
        CAPTURE(value);
        CHECK(word_of(value, kBf16) == reference_word(value, kBf16, 0x7F80u, std::ldexp(1.0, 128)));
        CHECK(word_of(value, kFp16) == reference_word(value, kFp16, 0x7C00u, 65536.0));
    }
    // Constructed ties: halfway between two words goes to the even one.
    CHECK(word_of(1.0f + 0x1p-8f, kBf16) == 0x3F80u);
    CHECK(word_of(1.0f + 3 * 0x1p-8f, kBf16) == 0x3F82u);
    CHECK(word_of(-(1.0f + 0x1p-8f), kBf16) == 0xBF80u);
    CHECK(word_of(1.0f + 0x1p-8f + 0x1p-20f, kBf16) == 0x3F81u);  // above the tie
    CHECK(word_of(1.0f + 0x1p-11f, kFp16) == 0x3C00u);
    CHECK(word_of(1.0f + 3 * 0x1p-11f, kFp16) == 0x3C02u);
    CHECK(word_of(1.0f + 0x1p-11f + 0x1p-20f, kFp16) == 0x3C01u);
}

TEST_CASE("fp16 subnormals, overflow and NaN; bf16 overflow and NaN") {
    CHECK(word_of(0x1p-24f, kFp16) == 0x0001u);           // smallest subnormal
    CHECK(word_of(0x1p-25f, kFp16) == 0x0000u);           // tie with zero: even
    CHECK(word_of(0x1p-25f + 0x1p-40f, kFp16) == 0x0001u);
    CHECK(word_of(3 * 0x1p-25f, kFp16) == 0x0002u);       // tie between 1 and 2: even
    CHECK(word_of(1023 * 0x1p-24f, kFp16) == 0x03FFu);    // largest subnormal
    CHECK(word_of(1023.5f * 0x1p-24f, kFp16) == 0x0400u); // tie: up to the smallest normal
    CHECK(word_of(0x1p-14f, kFp16) == 0x0400u);
    CHECK(word_of(-0x1p-24f, kFp16) == 0x8001u);
    CHECK(word_of(-0.0f, kFp16) == 0x8000u);
    CHECK(word_of(std::numeric_limits<float>::denorm_min(), kFp16) == 0x0000u);
    CHECK(word_of(65504.0f, kFp16) == 0x7BFFu);
    CHECK(word_of(65519.0f, kFp16) == 0x7BFFu);
    CHECK(word_of(65520.0f, kFp16) == 0x7C00u);           // tie with 2^16: even, which is infinity
    CHECK(word_of(1e10f, kFp16) == 0x7C00u);
    CHECK(word_of(-1e10f, kFp16) == 0xFC00u);
    CHECK(word_of(std::numeric_limits<float>::infinity(), kFp16) == 0x7C00u);
    CHECK(word_of(std::numeric_limits<float>::max(), kBf16) == 0x7F80u);
    CHECK(word_of(from_bits(0x7F7F0000u), kBf16) == 0x7F7Fu);
    CHECK(word_of(from_bits(0x7F7F7FFFu), kBf16) == 0x7F7Fu);
    CHECK(word_of(0x1.fep127f, kBf16) == 0x7F7Fu);  // the largest finite
    CHECK(word_of(0x1.ffp127f, kBf16) == 0x7F80u);  // the tie above it: to the even word, infinity
    CHECK(word_of(std::nextafter(0x1.ffp127f, 0.0f), kBf16) == 0x7F7Fu);
    // NaN stays NaN of its sign: kept when exact, quiet when payload bits are lost.
    CHECK(word_of(std::numeric_limits<float>::quiet_NaN(), kBf16) == 0x7FC0u);
    CHECK(word_of(from_bits(0x7F800001u), kBf16) == 0x7FC0u);  // would read as inf if truncated
    CHECK(word_of(from_bits(0xFF800001u), kBf16) == 0xFFC0u);
    CHECK(word_of(from_bits(0x7F810000u), kBf16) == 0x7F81u);  // signalling, exact: kept
    CHECK(word_of(std::numeric_limits<float>::quiet_NaN(), kFp16) == 0x7E00u);
    CHECK(word_of(from_bits(0x7F800001u), kFp16) == 0x7E00u);
    CHECK(word_of(from_bits(0xFFC02000u), kFp16) == 0xFE01u);
    CHECK(std::isnan(kFp16.quantize(std::numeric_limits<float>::quiet_NaN())));
    // Quantising NaN keeps it (unlike Qm.n and int8).
    std::vector<float> values = {1.0f / 3.0f, std::numeric_limits<float>::quiet_NaN(), 1e6f};
    quantize_inplace(values, kFp16);
    CHECK(values[0] == 0.333251953125f);
    CHECK(std::isnan(values[1]));
    CHECK(std::isinf(values[2]));
}

TEST_CASE("bit flips act on the 16-bit word") {
    CHECK(flip_bit(1.0f, 15, kBf16) == -1.0f);
    CHECK(flip_bit(1.0f, 7, kBf16) == 0.5f);          // 0x3F80 -> 0x3F00
    CHECK(flip_bit(1.0f, 14, kBf16) == from_bits(0x7F800000u) * 1.0f);  // 0x3F80 -> 0x7F80: inf
    CHECK(flip_bit(1.0f, 0, kBf16) == 1.0f + 0x1p-7f);
    CHECK(flip_bit(1.0f, 10, kFp16) == 0.5f);         // 0x3C00 -> 0x3800
    CHECK(std::isinf(flip_bit(1.0f, 14, kFp16)));     // 0x3C00 -> 0x7C00
    CHECK(flip_bit(1.0f, 0, kFp16) == 1.0f + 0x1p-10f);
    CHECK(flip_bit(0.0f, 0, kFp16) == 0x1p-24f);       // a subnormal
    CHECK(std::isnan(flip_bit(std::numeric_limits<float>::infinity(), 0, kFp16)));
    CHECK(force_bit(1.0f, 15, true, kFp16) == -1.0f);
    CHECK_THROWS_AS(flip_bit(1.0f, 16, kBf16), ValueError);
    CHECK_THROWS_AS(value_of(0x10000u, kFp16), ValueError);
}

TEST_CASE("int8: the scale is max|w| / 127, codes round half to even and clamp to [-127, 127]") {
    std::vector<float> values = {-2.54f, 1.0f, 0.0f, 0.01f, 2.54f};
    const float scale = int8_scale(values);
    CHECK(bits_of(scale) == bits_of(2.54f / 127.0f));
    const StorageFormat coder = kInt8.with_scale(scale);
    CHECK(coder.encode(2.54f) == 127);
    CHECK(coder.encode(-2.54f) == -127);
    CHECK(coder.encode(0.0f) == 0);
    CHECK(coder.encode(0.01f) == 0);
    CHECK(coder.encode(1.0f) == 50);
    // Ties to even, on a scale of 0.5 where the quotients are exact.
    const StorageFormat half = kInt8.with_scale(0.5f);
    CHECK(half.encode(0.25f) == 0);
    CHECK(half.encode(0.75f) == 2);
    CHECK(half.encode(1.25f) == 2);
    CHECK(half.encode(-0.75f) == -2);
    // Beyond the range: encode saturates at the word's ends, quantize at the symmetric ones.
    CHECK(half.encode(100.0f) == 127);
    CHECK(half.encode(-100.0f) == -128);
    CHECK(half.quantize(-100.0f) == -63.5f);
    CHECK(half.encode(-64.0f) == -128);  // -128 * s, a word a flip can produce, reads back as itself
    CHECK(half.decode(-128) == -64.0f);
    CHECK_THROWS_AS(half.decode(128), ValueError);
    CHECK_THROWS_AS(half.encode(std::numeric_limits<float>::quiet_NaN()), ValueError);
    CHECK(kInt8.with_scale(0.0f).encode(3.0f) == 0);

    const float stored_scale = quantize_int8_inplace(values);
    CHECK(bits_of(stored_scale) == bits_of(scale));
    CHECK(values[4] == static_cast<float>(127.0 * double(scale)));
    CHECK(values[1] == static_cast<float>(50.0 * double(scale)));
    CHECK(values[2] == 0.0f);
    CHECK(bits_of(int8_scale(values)) == bits_of(scale));  // the stored tensor gives its scale back
    std::vector<float> again = values;
    quantize_inplace(again, kInt8);  // idempotent
    for (size_t i = 0; i < values.size(); ++i) CHECK(bits_of(again[i]) == bits_of(values[i]));

    std::vector<float> zeros(4, 0.0f);
    CHECK(quantize_int8_inplace(zeros) == kInt8ZeroTensorScale);  // not 0: a flipped code must stay visible
    CHECK(zeros == std::vector<float>(4, 0.0f));
    std::vector<float> bad = {1.0f, std::numeric_limits<float>::infinity()};
    CHECK_THROWS_WITH_AS(int8_scale(bad), doctest::Contains("element 1 of 2 is inf"), ValueError);
    bad[1] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(quantize_inplace(bad, kInt8), ValueError);
    std::vector<float> huge = {std::numeric_limits<float>::max()};
    CHECK_THROWS_WITH_AS(int8_scale(huge), doctest::Contains("no finite 127 * scale"), ValueError);
}

TEST_CASE("int8: quantised tensors give their scale back, subnormal scales included") {
    core::Rng rng(9, "int8-scales");
    for (int i = 0; i < 2000; ++i) {
        std::vector<float> values(1 + rng.below(40));
        const int exponent = i < 200 ? -140 + int(rng.below(20)) : int(rng.below(120)) - 60;
        for (float& value : values)
            value = static_cast<float>(std::ldexp(rng.uniform_double() * 2.0 - 1.0, exponent));
        const float scale = quantize_int8_inplace(values);
        CHECK(bits_of(int8_scale(values)) == bits_of(scale));
        const StorageFormat coder = kInt8.with_scale(scale);
        for (float value : values) {
            CHECK(bits_of(coder.quantize(value)) == bits_of(value));
            CHECK(coder.encode(value) >= -127);
        }
    }
}

TEST_CASE("int8 words: two's complement, and a flip can give -128") {
    const StorageFormat coder = kInt8.with_scale(0.25f);
    CHECK(word_of(0.25f, coder) == 0x01u);
    CHECK(word_of(-0.25f, coder) == 0xFFu);
    CHECK(word_of(31.75f, coder) == 0x7Fu);
    CHECK(flip_bit(0.0f, 7, coder) == -32.0f);    // 0x00 -> 0x80: -128 * 0.25
    CHECK(flip_bit(31.75f, 7, coder) == -0.25f);  // 0x7F -> 0xFF
    CHECK(flip_bit(-32.0f, 7, coder) == 0.0f);
    CHECK(flip_bit(0.25f, 1, coder) == 0.75f);
    CHECK(force_bit(0.25f, 0, false, coder) == 0.0f);
    CHECK_THROWS_AS(flip_bit(0.25f, 8, coder), ValueError);
}

TEST_CASE("faults in every format restore the model's bytes exactly; int8 scales get their own streams") {
    for (const char* name : {"bf16", "fp16", "int8", "float32", "q7.8"}) {
        CAPTURE(name);
        const StorageFormat format = StorageFormat::parse(name);
        layers::ModulePtr model = faults_test::tiny_cnn(3);
        std::vector<FaultTarget> targets = select_targets(*model);
        quantize_targets(targets, format);
        CHECK_NOTHROW(check_quantized(targets, format));
        const uint64_t before = model_checksum(*model);
        const BitMask mask = BitMask::all(format);
        const FaultStreamKey key{7, "evaluation", 0.05};
        int64_t scale_faults = 0;
        for (int64_t trial = 0; trial < 20; ++trial) {
            const FaultModel fault_model = FaultModel::bit_error_rate(0.05, mask);
            const FaultMap map = draw_fault_map(targets, fault_model, format, key, trial);
            for (const TensorFaults& tensor : map.tensors) {
                // Element faults from the tensor's own stream, as in every format.
                core::Rng rng = fault_stream(key, trial, targets[tensor.target].name);
                CHECK(tensor.faults == draw_faults(fault_model, targets[tensor.target].numel(), format, rng));
                scale_faults += static_cast<int64_t>(tensor.scale_faults.size());
                if (format.is_int8()) {
                    core::Rng scale_rng = fault_stream(key, trial, targets[tensor.target].name + ".scale");
                    CHECK(tensor.scale_faults ==
                          draw_faults(*scale_fault_model(fault_model, format), 1, StorageFormat::float32(), scale_rng));
                }
            }
            {
                ScopedFaults faults(targets, map, format);
                if (!map.empty()) {
                    CHECK(faults.changes_values());
                    CHECK(model_checksum(*model) != before);
                }
            }
            CHECK(model_checksum(*model) == before);
        }
        // About 20 trials x 6 tensors x 32 bits x 0.05 scale faults in int8, none elsewhere.
        if (format.is_int8()) CHECK(scale_faults > 60);
        else CHECK(scale_faults == 0);
    }
    // A narrower mask or an exact count leaves scales alone.
    CHECK_FALSE(scale_fault_model(FaultModel::bit_error_rate(0.1, BitMask::parse("sign", kInt8)), kInt8));
    CHECK_FALSE(scale_fault_model(FaultModel::exact(2, BitMask::all(kInt8)), kInt8));
    CHECK_FALSE(scale_fault_model(FaultModel::bit_error_rate(0.1, BitMask::all(kBf16)), kBf16));
    const auto stuck = scale_fault_model(FaultModel::stuck_at(1, 0.1, BitMask::all(kInt8)), kInt8);
    REQUIRE(stuck);
    CHECK(stuck->mask.bits == 0xFFFFFFFFu);
    CHECK(stuck->spec.action == BitAction::stuck_at_1);
}

TEST_CASE("a flipped int8 scale changes every element of its tensor, and restores exactly") {
    layers::ModulePtr model = faults_test::tiny_cnn(4);
    std::vector<FaultTarget> targets = select_targets(*model);
    quantize_targets(targets, kInt8);
    const size_t j = 0;  // features.0.weight
    const std::vector<float> original(targets[j].values().begin(), targets[j].values().end());
    const float scale = int8_scale(original);
    const uint64_t before = model_checksum(*model);
    // Scale bit 23 (exponent's lowest) and element 3's bit 0 in one trial.
    FaultMap map;
    map.tensors.push_back({j, {{3, 0, BitAction::flip}}, {{0, 23, BitAction::flip}}});
    CHECK(map.size() == 2);
    {
        ScopedFaults faults(targets, map, kInt8);
        REQUIRE(faults.log().size() == 1);
        const TensorLog& log = faults.log()[0];
        CHECK(log.scale_changed);
        CHECK(bits_of(log.scale) == bits_of(scale));
        REQUIRE(log.scale_records.size() == 1);
        const float new_scale = log.scale_records[0].new_value;
        CHECK(bits_of(new_scale) == (bits_of(scale) ^ (1u << 23)));
        const StorageFormat coder = kInt8.with_scale(scale);
        const std::span<const float> values = targets[j].values();
        for (size_t i = 0; i < original.size(); ++i) {
            int32_t code = coder.encode(original[i]);
            if (i == 3) code = static_cast<int8_t>(static_cast<uint8_t>(code) ^ 1u);
            CHECK(bits_of(values[i]) == bits_of(kInt8.with_scale(new_scale).decode(code)));
            if (code != 0) CHECK(values[i] != original[i]);
        }
        std::vector<FaultLogEntry> entries;
        append_fault_log(entries, 0, 0.0, targets, faults.log(), kInt8);
        REQUIRE(entries.size() == 2);
        CHECK(entries[0].parameter == "features.0.weight");
        CHECK(entries[0].new_word == (entries[0].old_word ^ 1u));
        CHECK(entries[0].old_word <= 0xFFu);
        CHECK(entries[1].parameter == "features.0.weight.scale");
        CHECK(entries[1].old_word == bits_of(scale));
        CHECK(entries[1].new_word == (bits_of(scale) ^ (1u << 23)));
    }
    CHECK(model_checksum(*model) == before);
    // An all-zero tensor: a flipped code, then a flipped scale, reads as that code times that scale.
    const size_t bias = 1;  // features.0.bias
    REQUIRE(targets[bias].name == "features.0.bias");
    std::vector<float> saved_bias(targets[bias].values().begin(), targets[bias].values().end());
    for (float& value : targets[bias].values()) value = 0.0f;
    const uint64_t zero_bias = model_checksum(*model);
    FaultMap zero_map;
    zero_map.tensors.push_back({bias, {{2, 6, BitAction::flip}}, {{0, 30, BitAction::flip}}});
    {
        ScopedFaults faults(targets, zero_map, kInt8);
        const float flipped_scale = from_bits(bits_of(kInt8ZeroTensorScale) ^ (1u << 30));
        CHECK(targets[bias].values()[2] == static_cast<float>(64.0 * double(flipped_scale)));
        CHECK(targets[bias].values()[0] == 0.0f);
    }
    CHECK(model_checksum(*model) == zero_bias);
    std::copy(saved_bias.begin(), saved_bias.end(), targets[bias].values().begin());
    CHECK(model_checksum(*model) == before);
    // A stuck-at fault that leaves the scale's bit as it was changes nothing.
    const int set_bit = std::countr_zero(bits_of(scale) & 0x7F800000u);
    map.tensors[0] = {j, {}, {{0, set_bit, BitAction::stuck_at_1}}};
    ScopedFaults unchanged(targets, map, kInt8);
    CHECK_FALSE(unchanged.changes_values());
    CHECK(model_checksum(*model) == before);
}

TEST_CASE("campaigns in bf16, fp16 and int8: deterministic, fast paths equal to plain evaluation") {
    for (const char* name : {"bf16", "fp16", "int8"}) {
        CAPTURE(name);
        layers::ModulePtr model = faults_test::tiny_cnn(6);
        const faults_test::TinyData data = faults_test::tiny_data(*model, 150, 6);
        CampaignOptions options = quick_options(StorageFormat::parse(name));
        CHECK_THROWS_WITH_AS(run_campaign(*model, data.images, data.labels, options),
                             doctest::Contains("quantize the model to"), ValueError);
        std::vector<FaultTarget> targets = select_targets(*model);
        quantize_targets(targets, options.format);
        const uint64_t before = model_checksum(*model);

        options.log_faults = true;
        const CampaignResult fast = run_campaign(*model, data.images, data.labels, options);
        const CampaignResult again = run_campaign(*model, data.images, data.labels, options);
        CHECK(campaign_json(fast) == campaign_json(again));
        CHECK(fast.format == name);
        int64_t scale_entries = 0;
        for (const FaultLogEntry& entry : fast.fault_log) scale_entries += entry.parameter.ends_with(".scale");
        CHECK((std::string(name) == "int8" ? scale_entries > 0 : scale_entries == 0));

        options.log_faults = false;
        options.stage_cache = false;
        options.reuse_fault_free = false;
        const CampaignResult plain = run_campaign(*model, data.images, data.labels, options);
        CHECK(per_trial(plain) == per_trial(fast));
        CHECK(model_checksum(*model) == before);

        // And trial by trial against layers::evaluate of the model with the same faults in place.
        Campaign campaign(*model, data.images, data.labels, quick_options(options.format));
        for (size_t p = 0; p < campaign.point_count(); ++p)
            for (int64_t trial = 0; trial < 4; ++trial) {
                const FaultMap map = draw_fault_map(campaign.targets(), campaign.fault_model(p), options.format,
                                                    FaultStreamKey{options.seed, "evaluation", campaign.point_rate(p)},
                                                    trial);
                std::vector<FaultTarget> model_targets = select_targets(*model);
                int64_t correct = 0;
                {
                    ScopedFaults faults(model_targets, map, options.format);
                    correct = layers::evaluate(*model, data.images, data.labels, 64).correct;
                }
                CHECK(campaign.run_trial(p, trial).correct == correct);
                CHECK(fast.points[p].correct[static_cast<size_t>(trial)] == correct);
            }
        CHECK(model_checksum(*model) == before);
    }
}

TEST_CASE("clipped models in bf16 and int8: thresholds in the weights' format, fast paths equal plain evaluation") {
    for (const char* config : {"hybrid:smooth:20", "layer:hard"}) {
        layers::ModulePtr model = faults_test::tiny_cnn(4);
        layers::apply_clip(*model, {1, 8, 8}, layers::HybridClip::parse(config));
        core::Rng rng(9, "thresholds");
        for (auto& [name, p] : model->named_parameters())
            if (name.ends_with(".threshold")) p.value().copy_(core::Tensor::uniform(p.shape(), 0.3f, 1.2f, rng));
        model->eval();
        const faults_test::TinyData data = faults_test::tiny_data(*model, 120, 4);
        for (const char* name : {"bf16", "int8"}) {
            CAPTURE(config);
            CAPTURE(name);
            CampaignOptions options = quick_options(StorageFormat::parse(name));
            options.bers = {3e-3, 1e-2};
            options.trials = 40;
            std::vector<FaultTarget> targets = select_targets(*model);
            quantize_targets(targets, options.format);
            CHECK_NOTHROW(check_quantized(targets, options.format));
            // Trials with a faulted row of the first conv and a faulted scale of the threshold after
            // it, before the next conv: the channel-sparse restart must not be taken.
            int64_t threshold_scale_trials = 0;
            for (size_t p = 0; p < options.bers.size(); ++p)
                for (int64_t trial = 0; trial < options.trials; ++trial) {
                    const FaultMap map =
                        draw_fault_map(targets, FaultModel::bit_error_rate(options.bers[p], BitMask::all(options.format)),
                                       options.format, FaultStreamKey{options.seed, "evaluation", options.bers[p]}, trial);
                    bool first_conv = false, threshold_scale = false;
                    for (const TensorFaults& tensor : map.tensors) {
                        const std::string& target = targets[tensor.target].name;
                        first_conv |= target.starts_with("features.0.") && !tensor.faults.empty();
                        threshold_scale |= target == "features.1.threshold" && !tensor.scale_faults.empty();
                    }
                    threshold_scale_trials += first_conv && threshold_scale;
                }
            CHECK((std::string(name) == "int8" ? threshold_scale_trials > 0 : threshold_scale_trials == 0));

            options.log_faults = false;
            const CampaignResult fast = run_campaign(*model, data.images, data.labels, options);
            options.stage_cache = false;
            options.reuse_fault_free = false;
            const CampaignResult plain = run_campaign(*model, data.images, data.labels, options);
            CHECK(per_trial(fast) == per_trial(plain));
        }
    }
}

TEST_CASE("campaign JSON in the new formats: read back, bit masks checked against the word, bad formats refused") {
    layers::ModulePtr model = faults_test::tiny_cnn(8);
    const faults_test::TinyData data = faults_test::tiny_data(*model, 40, 8);
    std::vector<FaultTarget> targets = select_targets(*model);
    quantize_targets(targets, kInt8);
    CampaignOptions options = quick_options(kInt8);
    options.trials = 2;
    options.bit_mask = "sign";
    const CampaignResult result = run_campaign(*model, data.images, data.labels, options);
    CHECK(result.bit_mask == "7");
    const std::string json = campaign_json(result);
    CHECK(campaign_json(campaign_from_json(json, "int8.json")) == json);

    nlohmann::json edited = nlohmann::json::parse(json);
    edited["bit_mask"] = "8";  // outside an int8 element's word
    CHECK_THROWS_WITH_AS(campaign_from_json(edited.dump(), "int8.json"), doctest::Contains("lies outside the word"),
                         core::FormatError);
    edited["format"] = "bf16";
    edited["bit_mask"] = "0,15";
    CHECK(campaign_from_json(edited.dump(), "bf16.json").format == "bf16");
    edited["bit_mask"] = "0,16";
    CHECK_THROWS_AS(campaign_from_json(edited.dump(), "bf16.json"), core::FormatError);
    for (const char* bad : {"int9", "bf17", "half-float", ""}) {
        CAPTURE(bad);
        edited["format"] = bad;
        edited["bit_mask"] = "0";
        const std::string message =
            error_message<core::FormatError>([&] { campaign_from_json(edited.dump(), "bad.json"); });
        CHECK(message.find("bad.json: 'format'") != std::string::npos);
    }
}
