// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
//
// A stream is named by (seed, purpose, index): the seed from the command line, a purpose string
// ("init", "shuffle", "dropout", "faults"...) and an index (epoch, layer, trial...). The numbers a
// stream yields depend on nothing else, so results never depend on the thread count or on the
// order in which work is done: trial 17 of a fault campaign draws the same faults whether it runs
// first, last, or alone.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace proact::core {

// SplitMix64 finaliser: a cheap bijective 64-bit mixer.
constexpr uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// FNV-1a over the purpose string, so streams with different purposes are unrelated.
constexpr uint64_t hash_purpose(std::string_view purpose) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (char c : purpose) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001B3ull;
    }
    return h;
}

class Rng {
public:
    // The stream (seed, purpose, index).
    Rng(uint64_t seed, std::string_view purpose, uint64_t index = 0)
        : key_(mix64(mix64(seed) ^ hash_purpose(purpose))), stream_(index) {}

    // A child stream: same key, derived index. Lets a stream hand out independent sub-streams.
    Rng child(uint64_t index) const {
        Rng r(*this);
        r.stream_ = mix64(stream_ ^ mix64(index + 0x632BE59BD9B4E019ull));
        r.block_ = 0;
        r.used_ = 4;
        return r;
    }

    uint32_t next_u32() {
        if (used_ == 4) refill();
        return buffer_[used_++];
    }

    uint64_t next_u64() {
        uint64_t hi = next_u32();
        return (hi << 32) | next_u32();
    }

    // Uniform in [0, 1), 24 bits of mantissa.
    float uniform() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }

    // Uniform in [0, 1), 53 bits.
    double uniform_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }

    float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

    // Uniform integer in [0, bound), without modulo bias (Lemire's method).
    uint64_t below(uint64_t bound) {
        if (bound <= 1) return 0;
        if (bound <= 0xFFFFFFFFull) {
            const uint32_t b = static_cast<uint32_t>(bound);
            uint64_t m = uint64_t(next_u32()) * b;
            uint32_t low = static_cast<uint32_t>(m);
            if (low < b) {
                const uint32_t threshold = static_cast<uint32_t>(-b) % b;
                while (low < threshold) {
                    m = uint64_t(next_u32()) * b;
                    low = static_cast<uint32_t>(m);
                }
            }
            return m >> 32;
        }
        // 64-bit bound: rejection on the smallest covering power of two.
        uint64_t mask = bound - 1;
        mask |= mask >> 1; mask |= mask >> 2; mask |= mask >> 4;
        mask |= mask >> 8; mask |= mask >> 16; mask |= mask >> 32;
        uint64_t x;
        do x = next_u64() & mask; while (x >= bound);
        return x;
    }

    // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
    float normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = uniform_double();
        const double u2 = uniform_double();
        if (u1 < 1e-300) u1 = 1e-300;
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const double angle = 6.283185307179586 * u2;
        spare_ = static_cast<float>(radius * std::sin(angle));
        has_spare_ = true;
        return static_cast<float>(radius * std::cos(angle));
    }

    float normal(float mean, float stddev) { return mean + stddev * normal(); }

private:
    void refill() {
        // counter = (block lo, block hi, stream lo, stream hi); key = (key lo, key hi)
        std::array<uint32_t, 4> ctr = {uint32_t(block_), uint32_t(block_ >> 32), uint32_t(stream_),
                                       uint32_t(stream_ >> 32)};
        uint32_t k0 = uint32_t(key_), k1 = uint32_t(key_ >> 32);
        for (int round = 0; round < 10; ++round) {
            const uint64_t p0 = uint64_t(0xD2511F53u) * ctr[0];
            const uint64_t p1 = uint64_t(0xCD9E8D57u) * ctr[2];
            ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ k0, uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ k1,
                   uint32_t(p0)};
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        buffer_ = ctr;
        used_ = 0;
        ++block_;
    }

    uint64_t key_;
    uint64_t stream_;
    uint64_t block_ = 0;
    std::array<uint32_t, 4> buffer_{};
    int used_ = 4;
    bool has_spare_ = false;
    float spare_ = 0.0f;
};

}  // namespace proact::core
