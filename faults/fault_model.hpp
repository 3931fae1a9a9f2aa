// Fault models: which bits of one tensor's stored words are faulty in one trial.
//
// A tensor of `numel` elements in a W-bit format with a mask of `allowed` positions has
// numel * allowed candidate bits, numbered p = element * allowed + k, where k indexes the mask's
// positions in ascending order. A fault model picks the faulty candidates by one of three counts:
//   ber        each candidate independently with probability `ber`: the count is exactly
//              Binomial(numel * allowed, ber), so a small tensor at a low rate is still hit
//              sometimes (the toolbox's int(numel * bits * ber) never hits it);
//   ber_floor  floor(numel * allowed * ber) candidates drawn uniformly with repetition: the
//              toolbox's rule, for reproducing its numbers. A bit drawn twice flips back, so only
//              the bits drawn an odd number of times stay flipped (stuck-at: drawn at least once);
//   exact      exactly `exact_count` distinct candidates, uniformly (ValueError if there are fewer).
// Each chosen bit is flipped (transient fault) or forced to 0 or 1 (stuck-at fault).
//
// The vocabulary: a FaultModelSpec is the count rule and the action, named as on the command line
// (`--fault-model ber|ber-floor|exact|stuck0|stuck1`); a FaultModel is a spec at one rate (or k)
// with a bit mask, what draw_faults takes.
//
// Randomness: draw_faults consumes only the Rng it is given. A campaign derives one stream per
// (seed, purpose, rate, trial, tensor name) (injector.hpp, fault_stream), so a trial's faults do not
// depend on which other trials ran or in what order, nor on the faults of its other rates.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "faults/bitflip.hpp"
#include "faults/storage_format.hpp"

namespace proact::faults {

inline void check_probability(double probability, const char* op) {
    if (!(probability >= 0.0 && probability <= 1.0))
        core::fail<core::ValueError>(op, ": bit error rate ", probability, " outside [0, 1]");
}

namespace detail {

// Failures before the first success of Bernoulli(p) trials, Geometric(p) on {0, 1, ...}, by
// inversion: P(floor(log U / log(1-p)) >= g) = P(U <= (1-p)^g) = (1-p)^g for U uniform in (0, 1].
// `log_one_minus_p` = log1p(-p), precomputed. May return a huge value (or +inf) for tiny p.
inline double geometric_gap(double log_one_minus_p, core::Rng& rng) {
    const double u = 1.0 - rng.uniform_double();  // (0, 1]
    const double gap = std::floor(std::log(u) / log_one_minus_p);
    return gap > 0.0 ? gap : 0.0;  // -0.0 when u == 1 or p == 1
}

}  // namespace detail

// The positions in [0, total) that succeed in independent Bernoulli(probability) trials, ascending
// and distinct, drawn by skipping geometric gaps: O(number of successes), exact in distribution.
inline std::vector<uint64_t> bernoulli_positions(uint64_t total, double probability, core::Rng& rng) {
    check_probability(probability, "bernoulli_positions");
    std::vector<uint64_t> positions;
    if (total == 0 || probability == 0.0) return positions;
    const double log_one_minus_p = std::log1p(-probability);
    uint64_t next = 0;  // first position not yet decided
    while (true) {
        const double gap = detail::geometric_gap(log_one_minus_p, rng);
        if (gap >= static_cast<double>(total - next)) break;
        const uint64_t position = next + static_cast<uint64_t>(gap);
        if (position >= total) break;  // guards the double comparison above near 2^53
        positions.push_back(position);
        next = position + 1;
        if (next == total) break;
    }
    return positions;
}

// `count` distinct positions of [0, total), uniformly among all such sets, ascending (Floyd's
// algorithm: O(count) draws, no rejection loop). ValueError if count > total.
inline std::vector<uint64_t> distinct_positions(uint64_t total, uint64_t count, core::Rng& rng) {
    if (count > total)
        core::fail<core::ValueError>("distinct_positions: asked for ", count, " distinct positions out of ", total);
    std::unordered_set<uint64_t> chosen;
    chosen.reserve(static_cast<size_t>(count));
    for (uint64_t j = total - count; j < total; ++j) {
        const uint64_t candidate = rng.below(j + 1);
        if (!chosen.insert(candidate).second) chosen.insert(j);
    }
    std::vector<uint64_t> positions(chosen.begin(), chosen.end());
    std::sort(positions.begin(), positions.end());
    return positions;
}

// An exact Binomial(trials, probability) draw. Inversion (Kachitvichyanukul & Schmeiser's BINV)
// when the mean is below 10; otherwise the number of geometric gaps that fit in `trials`, which is
// exact and costs O(mean). probability > 0.5 is drawn as trials - Binomial(trials, 1 - probability).
inline uint64_t sample_binomial(uint64_t trials, double probability, core::Rng& rng) {
    check_probability(probability, "sample_binomial");
    if (trials == 0 || probability == 0.0) return 0;
    if (probability == 1.0) return trials;
    if (probability > 0.5) return trials - sample_binomial(trials, 1.0 - probability, rng);
    const double mean = static_cast<double>(trials) * probability;
    if (mean < 10.0) {
        // pmf(x+1) = pmf(x) * ((trials+1)/x' - 1) * p/q with x' = x+1; walk the cdf until it passes u.
        const double q = 1.0 - probability;
        const double odds = probability / q;
        const double scaled_trials = (static_cast<double>(trials) + 1.0) * odds;
        const double pmf_zero = std::exp(static_cast<double>(trials) * std::log1p(-probability));
        while (true) {
            double u = rng.uniform_double();
            double pmf = pmf_zero;
            uint64_t x = 0;
            // Round-off can leave u above the whole cdf; pmf then underflows to 0 within a few
            // hundred steps and the draw restarts (probability ~1e-16).
            while (u > pmf && pmf > 0.0 && x <= trials) {
                u -= pmf;
                ++x;
                pmf *= scaled_trials / static_cast<double>(x) - odds;
            }
            if (u <= pmf && x <= trials) return x;
        }
    }
    const double log_one_minus_p = std::log1p(-probability);
    uint64_t count = 0, next = 0;
    while (next < trials) {
        const double gap = detail::geometric_gap(log_one_minus_p, rng);
        if (gap >= static_cast<double>(trials - next)) break;
        next += static_cast<uint64_t>(gap) + 1;
        ++count;
    }
    return std::min(count, trials);
}

// ---------------------------------------------------------------------------------------------

enum class FaultCount { ber, ber_floor, exact };

// How a point's faults are counted and what they do to a bit, without the rate. Named
//   ber, ber-floor, exact         flips with the three counts above
//   stuck0, stuck1                bits stuck at 0 / 1 at a BER (Binomial count)
//   ber-floor-stuck0, exact-stuck1, ...  the other combinations
struct FaultModelSpec {
    FaultCount count = FaultCount::ber;
    BitAction action = BitAction::flip;

    bool is_exact() const { return count == FaultCount::exact; }
    bool operator==(const FaultModelSpec&) const = default;

    // "ber", "ber-floor", "exact", "stuck0", "stuck1", "exact-stuck0", ...
    std::string to_string() const {
        const char* count_name = count == FaultCount::ber_floor ? "ber-floor"
                                 : count == FaultCount::exact   ? "exact"
                                                                : "";
        const char* action_name = action == BitAction::stuck_at_0   ? "stuck0"
                                  : action == BitAction::stuck_at_1 ? "stuck1"
                                                                    : "";
        if (*count_name == '\0' && *action_name == '\0') return "ber";
        if (*count_name == '\0') return action_name;
        if (*action_name == '\0') return count_name;
        return std::string(count_name) + "-" + action_name;
    }
    // Inverse of to_string; also "flip", "stuck-at-0", "stuck-at-1". ValueError listing the names.
    static FaultModelSpec parse(std::string_view text) {
        if (text == "flip") return {};
        if (text == "stuck-at-0") return {FaultCount::ber, BitAction::stuck_at_0};
        if (text == "stuck-at-1") return {FaultCount::ber, BitAction::stuck_at_1};
        for (FaultCount count : {FaultCount::ber, FaultCount::ber_floor, FaultCount::exact})
            for (BitAction action : {BitAction::flip, BitAction::stuck_at_0, BitAction::stuck_at_1})
                if (FaultModelSpec{count, action}.to_string() == text) return {count, action};
        core::fail<core::ValueError>("fault model '", text, "': expected one of ", names());
    }
    // The names the command line offers: "ber, ber-floor, exact, stuck0, stuck1".
    static const char* names() { return "ber, ber-floor, exact, stuck0, stuck1"; }
    // For reports: "bit flips at a bit error rate", "exactly k bits stuck at 1 per tensor".
    std::string describe() const {
        const std::string what = action == BitAction::flip         ? "bit flips"
                                 : action == BitAction::stuck_at_0 ? "bits stuck at 0"
                                                                   : "bits stuck at 1";
        if (count == FaultCount::exact) return "exactly k " + what + " per tensor";
        if (count == FaultCount::ber_floor)
            return what + " at a bit error rate, floor(values x bits x BER) per tensor drawn with repetition";
        return what + " at a bit error rate";
    }
};

struct FaultModel {
    FaultModelSpec spec;
    double ber = 0.0;           // per-bit probability (ber, ber_floor)
    int64_t exact_count = 0;    // faulty bits per tensor (exact)
    BitMask mask;               // positions within the word that may be hit; see BitMask::parse

    // Each allowed bit faulty with probability `ber`, independently.
    static FaultModel bit_error_rate(double ber, BitMask mask, BitAction action = BitAction::flip) {
        return at_rate({FaultCount::ber, action}, ber, mask);
    }
    // floor(numel * allowed bits * ber) faulty bits per tensor, with repetition, as the toolbox does.
    static FaultModel toolbox_rate(double ber, BitMask mask, BitAction action = BitAction::flip) {
        return at_rate({FaultCount::ber_floor, action}, ber, mask);
    }
    // Exactly `count` faulty bits per tensor.
    static FaultModel exact(int64_t count, BitMask mask, BitAction action = BitAction::flip) {
        if (count < 0) core::fail<core::ValueError>("fault model: exact fault count ", count, " is negative");
        return {{FaultCount::exact, action}, 0.0, count, mask};
    }
    // Each allowed bit stuck at `stuck_value` (0 or 1) with probability `ber`.
    static FaultModel stuck_at(int stuck_value, double ber, BitMask mask) {
        if (stuck_value != 0 && stuck_value != 1)
            core::fail<core::ValueError>("fault model: stuck-at value ", stuck_value, ", expected 0 or 1");
        return bit_error_rate(ber, mask, stuck_value ? BitAction::stuck_at_1 : BitAction::stuck_at_0);
    }
    // A ber or ber-floor spec at `ber`. ValueError for an exact spec (it takes a count, not a rate).
    static FaultModel at_rate(const FaultModelSpec& spec, double ber, BitMask mask) {
        if (spec.is_exact())
            core::fail<core::ValueError>("fault model ", spec.to_string(), ": takes a fault count k, not a BER");
        check_probability(ber, "fault model");
        return {spec, ber, 0, mask};
    }

    // The point this model is at: the BER, or k for an exact count (as PointResult::rate).
    double rate() const { return spec.is_exact() ? static_cast<double>(exact_count) : ber; }

    // "flip, BER 1e-05, bits 0,1,...,31" / "stuck-at-1, 3 per tensor, bits 31"
    std::string to_string() const {
        std::ostringstream out;
        out << faults::to_string(spec.action) << ", ";
        if (spec.count == FaultCount::exact) out << exact_count << " per tensor";
        else out << (spec.count == FaultCount::ber_floor ? "floor of BER " : "BER ") << ber;
        out << ", bits " << mask.to_string();
        return out.str();
    }
};

// `count` positions of [0, total) drawn uniformly with repetition, ascending; a position drawn
// twice is kept once, or (`cancel_pairs`, for flips) dropped for every pair, as flipping a bit
// twice restores it.
inline std::vector<uint64_t> positions_with_repetition(uint64_t total, uint64_t count, bool cancel_pairs,
                                                       core::Rng& rng) {
    std::vector<uint64_t> drawn;
    if (total == 0) return drawn;
    drawn.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) drawn.push_back(rng.below(total));
    std::sort(drawn.begin(), drawn.end());
    std::vector<uint64_t> positions;
    for (size_t i = 0; i < drawn.size();) {
        size_t j = i;
        while (j < drawn.size() && drawn[j] == drawn[i]) ++j;
        if (!cancel_pairs || (j - i) % 2 == 1) positions.push_back(drawn[i]);
        i = j;
    }
    return positions;
}

// The faulty bits of one tensor of `numel` elements stored in `format`, ascending by element then
// bit, each (element, bit) at most once. Throws ValueError for a BER outside [0, 1], a negative
// count, a mask with positions outside the word, or an exact count above numel * allowed bits.
inline std::vector<BitFault> draw_faults(const FaultModel& model, int64_t numel, const StorageFormat& format,
                                         core::Rng& rng) {
    if (numel < 0) core::fail<core::ValueError>("draw_faults: negative element count ", numel);
    if ((model.mask.bits & ~format.word_mask()) != 0)
        core::fail<core::ValueError>("draw_faults: bit mask ", model.mask.to_string(), " has positions outside the ",
                                     format.bits(), "-bit word of ", format.to_string());
    const std::vector<int> allowed = model.mask.positions();
    const uint64_t bits_per_element = allowed.size();
    if (bits_per_element != 0 && static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / 64)
        core::fail<core::ValueError>("draw_faults: ", numel, " elements is too many to number their bits");
    const uint64_t total = static_cast<uint64_t>(numel) * bits_per_element;

    std::vector<uint64_t> positions;
    switch (model.spec.count) {
        case FaultCount::ber:
            check_probability(model.ber, "draw_faults");
            positions = bernoulli_positions(total, model.ber, rng);
            break;
        case FaultCount::ber_floor: {
            check_probability(model.ber, "draw_faults");
            const auto count = static_cast<uint64_t>(std::floor(static_cast<double>(total) * model.ber));
            positions = positions_with_repetition(total, count, model.spec.action == BitAction::flip, rng);
            break;
        }
        case FaultCount::exact:
            if (model.exact_count < 0)
                core::fail<core::ValueError>("draw_faults: exact fault count ", model.exact_count, " is negative");
            if (static_cast<uint64_t>(model.exact_count) > total)
                core::fail<core::ValueError>("draw_faults: asked for ", model.exact_count, " faulty bits, a tensor of ",
                                             numel, " elements has only ", total, " (", bits_per_element,
                                             " allowed bits each)");
            positions = distinct_positions(total, static_cast<uint64_t>(model.exact_count), rng);
            break;
    }
    std::vector<BitFault> faults;
    faults.reserve(positions.size());
    for (uint64_t position : positions)
        faults.push_back({static_cast<int64_t>(position / bits_per_element),
                          allowed[static_cast<size_t>(position % bits_per_element)], model.spec.action});
    return faults;
}

}  // namespace proact::faults
