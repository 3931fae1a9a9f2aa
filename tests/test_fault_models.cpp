// Fault models: binomial counts, distinct positions that respect the mask, reproducible maps,
// exact-k and stuck-at faults, and apply/restore that gives back the original bits.
// Statistical checks use fixed seeds and bounds of about 5 sigma: they pass reliably for a correct
// sampler and fail for a biased one.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "core/rng.hpp"
#include "faults/bitflip.hpp"
#include "faults/fault_model.hpp"
#include "faults/storage_format.hpp"

using namespace proact::faults;
using proact::core::IndexError;
using proact::core::Rng;
using proact::core::ValueError;

namespace {

const StorageFormat kFloat32 = StorageFormat::float32();
const StorageFormat kQ15_16 = StorageFormat::fixed_point(15, 16);
const StorageFormat kQ3_4 = StorageFormat::fixed_point(3, 4);

struct Moments {
    double mean = 0.0;
    double variance = 0.0;
};

Moments moments_of(const std::vector<double>& samples) {
    Moments m;
    for (double x : samples) m.mean += x;
    m.mean /= static_cast<double>(samples.size());
    for (double x : samples) m.variance += (x - m.mean) * (x - m.mean);
    m.variance /= static_cast<double>(samples.size() - 1);
    return m;
}

double binomial_pmf(int64_t trials, double probability, int64_t x) {
    const double log_choose = std::lgamma(double(trials) + 1) - std::lgamma(double(x) + 1) -
                              std::lgamma(double(trials - x) + 1);
    return std::exp(log_choose + double(x) * std::log(probability) + double(trials - x) * std::log1p(-probability));
}

// Pearson chi-square of observed counts against expected counts.
double chi_square(const std::vector<double>& observed, const std::vector<double>& expected) {
    double sum = 0.0;
    for (size_t i = 0; i < observed.size(); ++i)
        sum += (observed[i] - expected[i]) * (observed[i] - expected[i]) / expected[i];
    return sum;
}

// A chi-square with `dof` degrees of freedom exceeds dof + 5 sqrt(2 dof) + 10 with negligible
// probability (< 1e-5 for the sizes used here).
double chi_square_bound(double dof) { return dof + 5.0 * std::sqrt(2.0 * dof) + 10.0; }

void check_sorted_distinct_in_mask(const std::vector<BitFault>& faults, int64_t numel, const BitMask& mask) {
    for (size_t i = 0; i < faults.size(); ++i) {
        CHECK(faults[i].element >= 0);
        CHECK(faults[i].element < numel);
        CHECK(mask.contains(faults[i].bit));
        if (i > 0) {
            const bool increasing = faults[i - 1].element < faults[i].element ||
                                    (faults[i - 1].element == faults[i].element && faults[i - 1].bit < faults[i].bit);
            CHECK(increasing);
        }
    }
}

}  // namespace

TEST_CASE("sample_binomial matches the exact distribution") {
    SUBCASE("small mean (inversion): chi-square against the pmf") {
        const int64_t trials = 20;
        const double probability = 0.3;
        const int draws = 20000;
        Rng rng(1, "binomial");
        std::vector<double> observed(trials + 1, 0.0);
        for (int i = 0; i < draws; ++i) {
            const uint64_t x = sample_binomial(trials, probability, rng);
            REQUIRE(x <= uint64_t(trials));
            observed[x] += 1.0;
        }
        // Merge the upper tail into one bin so every expected count is at least 5.
        std::vector<double> obs, expected;
        double tail_observed = 0.0, tail_expected = 0.0;
        for (int64_t x = 0; x <= trials; ++x) {
            const double e = draws * binomial_pmf(trials, probability, x);
            if (e >= 5.0 && x < 12) {
                obs.push_back(observed[x]);
                expected.push_back(e);
            } else {
                tail_observed += observed[x];
                tail_expected += e;
            }
        }
        obs.push_back(tail_observed);
        expected.push_back(tail_expected);
        CHECK(chi_square(obs, expected) < chi_square_bound(double(obs.size() - 1)));
    }
    SUBCASE("huge trials, tiny probability (inversion)") {
        const uint64_t trials = 1'000'000'000;
        const double probability = 3e-9;
        std::vector<double> samples;
        Rng rng(2, "binomial");
        for (int i = 0; i < 20000; ++i) samples.push_back(double(sample_binomial(trials, probability, rng)));
        const Moments m = moments_of(samples);
        const double mean = trials * probability;
        CHECK(std::fabs(m.mean - mean) < 5.0 * std::sqrt(mean / samples.size()));
        CHECK(m.variance == doctest::Approx(mean).epsilon(0.1));
        // P(0) = (1-p)^n
        double zeros = 0;
        for (double x : samples) zeros += (x == 0);
        const double p0 = std::exp(trials * std::log1p(-probability));
        CHECK(std::fabs(zeros / samples.size() - p0) < 5.0 * std::sqrt(p0 * (1 - p0) / samples.size()));
    }
    SUBCASE("large mean (geometric gaps)") {
        const uint64_t trials = 1'000'000;
        const double probability = 1e-3;
        std::vector<double> samples;
        Rng rng(3, "binomial");
        for (int i = 0; i < 3000; ++i) samples.push_back(double(sample_binomial(trials, probability, rng)));
        const Moments m = moments_of(samples);
        const double mean = trials * probability, variance = mean * (1 - probability);
        CHECK(std::fabs(m.mean - mean) < 5.0 * std::sqrt(variance / samples.size()));
        CHECK(m.variance == doctest::Approx(variance).epsilon(0.15));
    }
    SUBCASE("probability above one half (symmetry)") {
        const uint64_t trials = 40;
        const double probability = 0.8;
        std::vector<double> samples;
        Rng rng(4, "binomial");
        for (int i = 0; i < 20000; ++i) samples.push_back(double(sample_binomial(trials, probability, rng)));
        const Moments m = moments_of(samples);
        const double mean = trials * probability, variance = mean * (1 - probability);
        CHECK(std::fabs(m.mean - mean) < 5.0 * std::sqrt(variance / samples.size()));
        CHECK(m.variance == doctest::Approx(variance).epsilon(0.1));
    }
    SUBCASE("edges and errors") {
        Rng rng(5, "binomial");
        CHECK(sample_binomial(0, 0.5, rng) == 0);
        CHECK(sample_binomial(100, 0.0, rng) == 0);
        CHECK(sample_binomial(100, 1.0, rng) == 100);
        CHECK_THROWS_AS(sample_binomial(10, -0.1, rng), ValueError);
        CHECK_THROWS_AS(sample_binomial(10, 1.5, rng), ValueError);
        CHECK_THROWS_AS(sample_binomial(10, std::nan(""), rng), ValueError);
    }
}

TEST_CASE("BER fault count is Binomial(numel * allowed bits, ber)") {
    struct Case {
        StorageFormat format;
        const char* mask;
        int64_t numel;
        double ber;
    };
    for (const Case& c : {Case{kQ15_16, "all", 1000, 1e-4}, Case{kFloat32, "exponent", 5000, 1e-3},
                          Case{kQ3_4, "integer", 300, 2e-2}}) {
        const BitMask mask = BitMask::parse(c.mask, c.format);
        INFO(c.format.to_string(), " mask ", c.mask);
        const FaultModel model = FaultModel::bit_error_rate(c.ber, mask);
        const double total = double(c.numel) * mask.count();
        const double mean = total * c.ber, variance = mean * (1 - c.ber);
        std::vector<double> counts;
        for (uint64_t trial = 0; trial < 4000; ++trial) {
            Rng rng(11, "faults", trial);
            const std::vector<BitFault> faults = draw_faults(model, c.numel, c.format, rng);
            if (trial < 200) check_sorted_distinct_in_mask(faults, c.numel, mask);
            counts.push_back(double(faults.size()));
        }
        const Moments m = moments_of(counts);
        CHECK(std::fabs(m.mean - mean) < 5.0 * std::sqrt(variance / counts.size()));
        CHECK(m.variance == doctest::Approx(variance).epsilon(0.15));
    }
}

TEST_CASE("a small tensor at a low rate is sometimes hit (unlike the toolbox's floor rule)") {
    const BitMask mask = BitMask::all(kQ3_4);
    const int64_t numel = 10;  // 80 candidate bits
    const double ber = 1e-3;
    const int draws = 20000;
    int fault_free = 0;
    for (int trial = 0; trial < draws; ++trial) {
        Rng rng(12, "faults", uint64_t(trial));
        fault_free += draw_faults(FaultModel::bit_error_rate(ber, mask), numel, kQ3_4, rng).empty();
    }
    const double p_none = std::pow(1 - ber, 80.0);
    CHECK(std::fabs(double(fault_free) / draws - p_none) < 5.0 * std::sqrt(p_none * (1 - p_none) / draws));
    Rng rng(12, "faults");
    CHECK(draw_faults(FaultModel::toolbox_rate(ber, mask), numel, kQ3_4, rng).empty());
    CHECK(draw_faults(FaultModel::toolbox_rate(0.1, mask), numel, kQ3_4, rng).size() <= 8);  // floor(80 * 0.1)
}

TEST_CASE("the toolbox's floor rule draws with repetition: a bit drawn twice flips back") {
    // One candidate bit drawn k times: flipped for odd k, untouched for even k; stuck-at once.
    Rng rng(4, "repetition");
    CHECK(positions_with_repetition(1, 3, true, rng) == std::vector<uint64_t>{0});
    CHECK(positions_with_repetition(1, 2, true, rng).empty());
    CHECK(positions_with_repetition(1, 2, false, rng) == std::vector<uint64_t>{0});
    CHECK(positions_with_repetition(0, 5, true, rng).empty());

    // 8 draws out of 80 bits: all distinct with probability prod(1 - i/80), i < 8 (about 0.70);
    // otherwise flips lose pairs (an even number of bits) and stuck-at bits lose repeats.
    const BitMask mask = BitMask::all(kQ3_4);
    double p_distinct = 1.0;
    for (int i = 0; i < 8; ++i) p_distinct *= 1.0 - i / 80.0;
    const int draws = 4000;
    int flips_distinct = 0, stuck_distinct = 0;
    for (int trial = 0; trial < draws; ++trial) {
        Rng flip_rng(13, "faults", uint64_t(trial));
        const size_t flipped = draw_faults(FaultModel::toolbox_rate(0.1, mask), 10, kQ3_4, flip_rng).size();
        CHECK(flipped <= 8);
        CHECK((8 - flipped) % 2 == 0);
        flips_distinct += flipped == 8;
        Rng stuck_rng(13, "faults", uint64_t(trial));
        const std::vector<BitFault> stuck =
            draw_faults(FaultModel::toolbox_rate(0.1, mask, BitAction::stuck_at_1), 10, kQ3_4, stuck_rng);
        CHECK(!stuck.empty());
        for (const BitFault& fault : stuck) CHECK(fault.action == BitAction::stuck_at_1);
        stuck_distinct += stuck.size() == 8;
    }
    // Same stream, same draws: the two rules see the same collisions.
    CHECK(flips_distinct == stuck_distinct);
    const double sigma = std::sqrt(p_distinct * (1 - p_distinct) / draws);
    CHECK(std::fabs(double(flips_distinct) / draws - p_distinct) < 5.0 * sigma);
}

TEST_CASE("faults are spread uniformly over the mask's bits and over elements") {
    const BitMask mask = BitMask::parse("exponent", kFloat32);
    const int64_t numel = 50;
    std::vector<double> per_bit(32, 0.0), per_element(numel, 0.0);
    double hits = 0;
    for (uint64_t trial = 0; trial < 4000; ++trial) {
        Rng rng(13, "faults", trial);
        for (const BitFault& fault : draw_faults(FaultModel::bit_error_rate(0.01, mask), numel, kFloat32, rng)) {
            per_bit[fault.bit] += 1;
            per_element[fault.element] += 1;
            hits += 1;
        }
    }
    for (int bit = 0; bit < 32; ++bit)
        if (!mask.contains(bit)) CHECK(per_bit[bit] == 0);
    std::vector<double> observed_bits(per_bit.begin() + 23, per_bit.begin() + 31);
    CHECK(chi_square(observed_bits, std::vector<double>(8, hits / 8)) < chi_square_bound(7));
    CHECK(chi_square(per_element, std::vector<double>(numel, hits / numel)) < chi_square_bound(double(numel - 1)));
}

TEST_CASE("same (seed, index) gives the same map; another index or seed a different one") {
    const BitMask mask = BitMask::all(kQ15_16);
    const FaultModel model = FaultModel::bit_error_rate(1e-3, mask);
    Rng a(42, "faults", 7), b(42, "faults", 7), c(42, "faults", 8), d(43, "faults", 7);
    const auto map_a = draw_faults(model, 10000, kQ15_16, a);
    const auto map_b = draw_faults(model, 10000, kQ15_16, b);
    const auto map_c = draw_faults(model, 10000, kQ15_16, c);
    const auto map_d = draw_faults(model, 10000, kQ15_16, d);
    CHECK(map_a.size() > 200);  // mean 320
    CHECK(map_a == map_b);
    CHECK(map_a != map_c);
    CHECK(map_a != map_d);
    Rng parent(42, "faults", 7);
    Rng child0 = parent.child(0), child1 = parent.child(1);
    CHECK(draw_faults(model, 10000, kQ15_16, child0) != draw_faults(model, 10000, kQ15_16, child1));
}

TEST_CASE("BER edge cases and invalid models") {
    const BitMask mask = BitMask::all(kQ3_4);
    Rng rng(14, "faults");
    CHECK(draw_faults(FaultModel::bit_error_rate(0.0, mask), 100, kQ3_4, rng).empty());
    const auto every_bit = draw_faults(FaultModel::bit_error_rate(1.0, mask), 100, kQ3_4, rng);
    CHECK(every_bit.size() == 800);
    check_sorted_distinct_in_mask(every_bit, 100, mask);
    CHECK(draw_faults(FaultModel::bit_error_rate(0.5, mask), 0, kQ3_4, rng).empty());
    CHECK(draw_faults(FaultModel::bit_error_rate(0.5, BitMask{}), 100, kQ3_4, rng).empty());

    CHECK_THROWS_WITH_AS(FaultModel::bit_error_rate(-0.1, mask), doctest::Contains("bit error rate -0.1 outside [0, 1]"),
                         ValueError);
    CHECK_THROWS_AS(FaultModel::bit_error_rate(1.5, mask), ValueError);
    CHECK_THROWS_AS(FaultModel::bit_error_rate(std::nan(""), mask), ValueError);
    CHECK_THROWS_AS(FaultModel::stuck_at(2, 0.1, mask), ValueError);
    CHECK_THROWS_AS(FaultModel::exact(-1, mask), ValueError);
    FaultModel hand_built;
    hand_built.ber = 2.0;
    hand_built.mask = mask;
    CHECK_THROWS_AS(draw_faults(hand_built, 10, kQ3_4, rng), ValueError);
    // A float32 mask used with an 8-bit format.
    CHECK_THROWS_WITH_AS(draw_faults(FaultModel::bit_error_rate(0.1, BitMask::all(kFloat32)), 10, kQ3_4, rng),
                         doctest::Contains("outside the 8-bit word of Q3.4"), ValueError);
    CHECK_THROWS_AS(draw_faults(FaultModel::bit_error_rate(0.1, mask), -1, kQ3_4, rng), ValueError);
}

TEST_CASE("exact-k picks k distinct bits uniformly") {
    const BitMask mask = BitMask::parse("0,5,31", kFloat32);
    const int64_t numel = 20;  // 60 candidate bits
    Rng rng(15, "faults");
    for (int64_t k : {0, 1, 7, 30, 59, 60}) {
        const auto faults = draw_faults(FaultModel::exact(k, mask), numel, kFloat32, rng);
        CHECK(faults.size() == size_t(k));
        check_sorted_distinct_in_mask(faults, numel, mask);
    }
    CHECK_THROWS_WITH_AS(draw_faults(FaultModel::exact(61, mask), numel, kFloat32, rng),
                         doctest::Contains("asked for 61 faulty bits, a tensor of 20 elements has only 60"), ValueError);

    // Each of the 60 candidates is chosen with probability k / 60.
    std::vector<double> chosen(60, 0.0);
    const int draws = 6000, k = 5;
    for (int trial = 0; trial < draws; ++trial) {
        Rng trial_rng(16, "faults", uint64_t(trial));
        for (const BitFault& fault : draw_faults(FaultModel::exact(k, mask), numel, kFloat32, trial_rng)) {
            const int slot = fault.bit == 0 ? 0 : fault.bit == 5 ? 1 : 2;
            chosen[size_t(fault.element * 3 + slot)] += 1;
        }
    }
    CHECK(chi_square(chosen, std::vector<double>(60, double(draws) * k / 60)) < chi_square_bound(59));
}

TEST_CASE("stuck-at faults force bits and log old and new values") {
    const BitMask mask = BitMask::all(kQ15_16);
    std::vector<float> values(500, 1.0f);  // code 0x00010000: only bit 16 is set
    Rng rng(17, "faults");
    const auto faults = draw_faults(FaultModel::stuck_at(0, 0.05, mask), int64_t(values.size()), kQ15_16, rng);
    REQUIRE(faults.size() > 100);
    for (const BitFault& fault : faults) CHECK(fault.action == BitAction::stuck_at_0);
    const auto log = apply_faults(values, faults, kQ15_16);
    REQUIRE(log.size() == faults.size());
    std::vector<float> current(values.size(), 1.0f);  // what each element holds as the log goes on
    for (const FaultRecord& record : log) {
        float& expected = current[size_t(record.element)];
        CHECK(record.old_value == expected);
        if (record.bit == 16) expected = 0.0f;  // clearing any other bit of 1.0 changes nothing
        CHECK(record.new_value == expected);
        CHECK(record.changed() == (record.old_value != record.new_value));
    }
    CHECK(values == current);
    restore_faults(values, log);
    for (float v : values) CHECK(v == 1.0f);

    const auto ones = draw_faults(FaultModel::stuck_at(1, 0.05, mask), int64_t(values.size()), kQ15_16, rng);
    const auto log1 = apply_faults(values, ones, kQ15_16);
    std::vector<int> hits(values.size(), 0);
    for (const BitFault& fault : ones) ++hits[size_t(fault.element)];
    for (const FaultRecord& record : log1) {
        CHECK(record.action == BitAction::stuck_at_1);
        // Checked on singly-hit elements only: after a second fault in a high bit, a low stuck bit
        // can be lost to float rounding (see storage_format.hpp).
        if (hits[size_t(record.element)] == 1)
            CHECK(((word_of(values[size_t(record.element)], kQ15_16) >> record.bit) & 1u) == 1u);
    }
}

TEST_CASE("apply then restore gives back the original bits, thousands of times") {
    struct Case {
        StorageFormat format;
        bool random_bit_patterns;  // float32: any 32-bit pattern, NaNs and infinities included
    };
    for (const Case& c : {Case{kFloat32, true}, Case{kQ15_16, false}, Case{kQ3_4, false}}) {
        INFO(c.format.to_string());
        Rng init(18, "values");
        std::vector<float> values(777);
        for (float& v : values) v = c.random_bit_patterns ? std::bit_cast<float>(init.next_u32()) : init.normal(0, 2);
        quantize_inplace(values, c.format);
        const std::vector<float> original = values;
        const BitMask mask = BitMask::all(c.format);
        for (uint64_t cycle = 0; cycle < 3000; ++cycle) {
            Rng rng(19, "faults", cycle);
            std::vector<BitFault> faults;
            switch (cycle % 4) {
                case 0: faults = draw_faults(FaultModel::bit_error_rate(1e-3, mask), 777, c.format, rng); break;
                case 1: faults = draw_faults(FaultModel::exact(40, mask), 777, c.format, rng); break;
                case 2: faults = draw_faults(FaultModel::stuck_at(int(cycle % 8 / 4), 2e-3, mask), 777, c.format, rng); break;
                case 3:  // hand-made list that hits the same bits of the same elements again
                    for (int i = 0; i < 30; ++i)
                        faults.push_back({int64_t(rng.below(5)), int(rng.below(uint64_t(c.format.bits()))),
                                          static_cast<BitAction>(rng.below(3))});
                    break;
            }
            const auto log = apply_faults(values, faults, c.format);
            REQUIRE(log.size() == faults.size());
            std::set<int64_t> faulted;
            for (const BitFault& fault : faults) faulted.insert(fault.element);
            for (size_t i = 0; i < values.size(); ++i)
                if (!faulted.count(int64_t(i)))
                    REQUIRE(std::bit_cast<uint32_t>(values[i]) == std::bit_cast<uint32_t>(original[i]));
            restore_faults(values, log);
            REQUIRE(std::memcmp(values.data(), original.data(), values.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("apply_faults touches only the faulted elements and checks its input first") {
    std::vector<float> values = {0.5f, 1.0f, -2.0f, 0.25f};
    const std::vector<float> original = values;
    const std::vector<BitFault> faults = {{1, 31, BitAction::flip}, {1, 31, BitAction::flip}, {3, 30, BitAction::flip}};
    const auto log = apply_faults(values, faults, kQ15_16);
    CHECK(values[0] == 0.5f);
    CHECK(values[1] == 1.0f);  // flipped twice
    CHECK(values[2] == -2.0f);
    CHECK(values[3] == 16384.25f);
    CHECK(log[0].new_value == -32767.0f);
    CHECK(log[1].old_value == -32767.0f);
    restore_faults(values, log);
    CHECK(values == original);

    CHECK_THROWS_AS(apply_faults(values, std::vector<BitFault>{{0, 1}, {4, 0}}, kQ15_16), IndexError);
    CHECK_THROWS_AS(apply_faults(values, std::vector<BitFault>{{0, 1}, {-1, 0}}, kQ15_16), IndexError);
    CHECK_THROWS_AS(apply_faults(values, std::vector<BitFault>{{0, 1}, {0, 8}}, kQ3_4), ValueError);
    CHECK(values == original);  // nothing applied

    // Restoring into values that changed since is refused.
    const auto second = apply_faults(values, std::vector<BitFault>{{2, 0}}, kQ15_16);
    values[2] = 5.0f;
    CHECK_THROWS_WITH_AS(restore_faults(values, second), doctest::Contains("element 2 holds 5"), ValueError);
}

TEST_CASE("fault model description") {
    const BitMask mask = BitMask::parse("sign", kFloat32);
    CHECK(FaultModel::bit_error_rate(1e-5, mask).to_string() == "flip, BER 1e-05, bits 31");
    CHECK(FaultModel::exact(3, mask, BitAction::stuck_at_1).to_string() == "stuck-at-1, 3 per tensor, bits 31");
    CHECK(FaultModel::toolbox_rate(1e-5, mask).to_string() == "flip, floor of BER 1e-05, bits 31");
}

TEST_CASE("fault model specs: the command line's names, parsed and printed") {
    CHECK(FaultModelSpec::parse("ber") == FaultModelSpec{});
    CHECK(FaultModelSpec::parse("ber-floor") == FaultModelSpec{FaultCount::ber_floor, BitAction::flip});
    CHECK(FaultModelSpec::parse("exact") == FaultModelSpec{FaultCount::exact, BitAction::flip});
    CHECK(FaultModelSpec::parse("stuck0") == FaultModelSpec{FaultCount::ber, BitAction::stuck_at_0});
    CHECK(FaultModelSpec::parse("stuck-at-1") == FaultModelSpec{FaultCount::ber, BitAction::stuck_at_1});
    CHECK(FaultModelSpec::parse("flip") == FaultModelSpec{});
    CHECK(FaultModelSpec{FaultCount::exact, BitAction::stuck_at_1}.to_string() == "exact-stuck1");
    for (FaultCount count : {FaultCount::ber, FaultCount::ber_floor, FaultCount::exact})
        for (BitAction action : {BitAction::flip, BitAction::stuck_at_0, BitAction::stuck_at_1}) {
            const FaultModelSpec spec{count, action};
            CHECK(FaultModelSpec::parse(spec.to_string()) == spec);
        }
    CHECK_THROWS_WITH_AS(FaultModelSpec::parse("bitflip"),
                         doctest::Contains("'bitflip': expected one of ber, ber-floor, exact, stuck0, stuck1"),
                         ValueError);
    CHECK(FaultModelSpec::parse("exact").describe() == "exactly k bit flips per tensor");
    CHECK(FaultModelSpec::parse("stuck1").describe() == "bits stuck at 1 at a bit error rate");

    const BitMask mask = BitMask::all(kFloat32);
    const FaultModel floor = FaultModel::at_rate(FaultModelSpec::parse("ber-floor"), 1e-3, mask);
    CHECK(floor.spec.count == FaultCount::ber_floor);
    CHECK(floor.ber == 1e-3);
    CHECK_THROWS_WITH_AS(FaultModel::at_rate(FaultModelSpec::parse("exact"), 1e-3, mask),
                         doctest::Contains("fault count k"), ValueError);
    CHECK_THROWS_AS(FaultModel::at_rate(FaultModelSpec{}, 1.5, mask), ValueError);
}
