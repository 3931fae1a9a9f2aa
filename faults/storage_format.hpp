// Storage formats: how a weight is held in memory, and therefore which bits a fault can hit.
//
//   float32   IEEE-754 single precision, 32-bit word: bit 31 sign, bits 23..30 exponent,
//             bits 0..22 mantissa. Stored word = the float's bit pattern.
//   Qm.n      fixed point in a two's-complement word of W = 1 + m + n bits, W in {8, 16, 32}:
//             bit W-1 sign, bits n..n+m-1 integer, bits 0..n-1 fraction. A value v is stored as the
//             integer code c = round(v * 2^n), saturated to [-2^(W-1), 2^(W-1) - 1]; it reads back as
//             c * 2^-n. "Q15.16" (the toolbox's default) is a 32-bit word with 16 fraction bits, a
//             resolution of 2^-16 and a range of [-32768, 32768 - 2^-16].
//
// Rounding is to nearest with ties to even (like torch.round and numpy.round), so a reference
// quantisation done in PyTorch lands on the same grid points.
//
// Tensors stay float32 in memory; a fixed-point weight is a float that sits on the format's grid
// (quantize_inplace puts it there once, before hardening and evaluation). A float holds 24
// significant bits, so a grid point c * 2^-n is exact in float only while |c| < 2^24, i.e. for
// |v| < 2^(24-n) (256 for Q15.16). Larger values, which appear mostly after a bit flip in a high
// integer bit, read back as the nearest float to the grid point; the flip's magnitude is kept, only
// its lowest bits blur.
#pragma once

#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace proact::faults {

class StorageFormat {
public:
    enum class Kind { float32, fixed_point };

    static StorageFormat float32() { return StorageFormat(Kind::float32, 0, 0); }

    // Qm.n: m integer bits, n fraction bits, one sign bit; 1 + m + n must be 8, 16 or 32.
    static StorageFormat fixed_point(int integer_bits, int fraction_bits) {
        if (integer_bits < 0 || fraction_bits < 0 || integer_bits > 31 || fraction_bits > 31)
            core::fail<core::ValueError>("storage format Q", integer_bits, ".", fraction_bits,
                                         ": bit counts must be in 0..31");
        const int word_bits = 1 + integer_bits + fraction_bits;
        if (word_bits != 8 && word_bits != 16 && word_bits != 32)
            core::fail<core::ValueError>("storage format Q", integer_bits, ".", fraction_bits, ": a word of 1 + ",
                                         integer_bits, " + ", fraction_bits, " = ", word_bits,
                                         " bits, expected 8, 16 or 32");
        return StorageFormat(Kind::fixed_point, integer_bits, fraction_bits);
    }

    // "float32" (or "fp32", "f32"), or "Qm.n" such as "q15.16", "Q7.8", "q3.4"; case-insensitive.
    static StorageFormat parse(std::string_view text) {
        std::string lower;
        for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == "float32" || lower == "fp32" || lower == "f32") return float32();
        const auto bad = [&]() {
            core::fail<core::ValueError>("storage format '", text,
                                         "': expected 'float32' or 'Qm.n' with 1 + m + n = 8, 16 or 32 bits "
                                         "(e.g. 'Q15.16', 'Q7.8', 'Q3.4')");
        };
        if (lower.size() < 4 || lower[0] != 'q') bad();
        const size_t dot = lower.find('.');
        if (dot == std::string::npos) bad();
        const auto parse_count = [&](std::string_view digits) {
            int value = -1;
            const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
            if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) bad();
            return value;
        };
        const int integer_bits = parse_count(std::string_view(lower).substr(1, dot - 1));
        const int fraction_bits = parse_count(std::string_view(lower).substr(dot + 1));
        return fixed_point(integer_bits, fraction_bits);
    }

    Kind kind() const { return kind_; }
    bool is_float32() const { return kind_ == Kind::float32; }
    bool is_fixed_point() const { return kind_ == Kind::fixed_point; }
    int integer_bits() const { return integer_bits_; }    // m (0 for float32)
    int fraction_bits() const { return fraction_bits_; }  // n (0 for float32)
    int bits() const { return is_float32() ? 32 : 1 + integer_bits_ + fraction_bits_; }  // word width W
    int sign_bit() const { return bits() - 1; }
    // The W low bits set.
    uint32_t word_mask() const { return bits() == 32 ? 0xFFFFFFFFu : (uint32_t(1) << bits()) - 1; }

    // Fixed point: the code range [-2^(W-1), 2^(W-1) - 1] and the spacing of the grid.
    int32_t min_code() const { return static_cast<int32_t>(-(int64_t(1) << (bits() - 1))); }
    int32_t max_code() const { return static_cast<int32_t>((int64_t(1) << (bits() - 1)) - 1); }
    double resolution() const { return is_float32() ? 0.0 : std::ldexp(1.0, -fraction_bits_); }

    // "float32" or "Q15.16"; parse(to_string()) == *this.
    std::string to_string() const {
        if (is_float32()) return "float32";
        std::string text = "Q";
        text += std::to_string(integer_bits_);
        text += '.';
        text += std::to_string(fraction_bits_);
        return text;
    }

    // The stored code. float32: the bit pattern (any value, NaN included). Fixed point:
    // round(value * 2^n), ties to even, saturated to [min_code, max_code]; infinities saturate,
    // NaN throws ValueError.
    int32_t encode(float value) const {
        if (is_float32()) return std::bit_cast<int32_t>(value);
        if (std::isnan(value))
            core::fail<core::ValueError>("encode: NaN cannot be stored in ", to_string());
        // value * 2^n is exact in double (float has 24 significant bits, n <= 31).
        const double scaled = std::ldexp(static_cast<double>(value), fraction_bits_);
        if (scaled >= static_cast<double>(max_code())) return max_code();
        if (scaled <= static_cast<double>(min_code())) return min_code();
        double rounded = std::floor(scaled);
        const double remainder = scaled - rounded;  // exact, in [0, 1)
        if (remainder > 0.5 || (remainder == 0.5 && std::fmod(rounded, 2.0) != 0.0)) rounded += 1.0;
        return static_cast<int32_t>(rounded);
    }

    // The value a code stands for. float32: the float with that bit pattern. Fixed point:
    // code * 2^-n, rounded to the nearest float when it has more than 24 significant bits.
    float decode(int32_t code) const {
        if (is_float32()) return std::bit_cast<float>(code);
        if (code < min_code() || code > max_code())
            core::fail<core::ValueError>("decode: code ", code, " outside ", to_string(), "'s range [", min_code(),
                                         ", ", max_code(), "]");
        return static_cast<float>(std::ldexp(static_cast<double>(code), -fraction_bits_));
    }

    // decode(encode(value)): the value as it is stored.
    float quantize(float value) const { return is_float32() ? value : decode(encode(value)); }

    bool operator==(const StorageFormat&) const = default;

private:
    StorageFormat(Kind kind, int integer_bits, int fraction_bits)
        : kind_(kind), integer_bits_(integer_bits), fraction_bits_(fraction_bits) {}

    Kind kind_;
    int integer_bits_;
    int fraction_bits_;
};

// Puts every value on the format's grid (identity for float32). Done once, before hardening and
// evaluation, so fault injection starts from the values the hardware would hold.
// Throws ValueError naming the first NaN element for a fixed-point format.
inline void quantize_inplace(std::span<float> values, const StorageFormat& format) {
    if (format.is_float32()) return;
    for (size_t i = 0; i < values.size(); ++i) {
        if (std::isnan(values[i]))
            core::fail<core::ValueError>("quantize_inplace: element ", i, " of ", values.size(),
                                         " is NaN, which ", format.to_string(), " cannot store");
        values[i] = format.decode(format.encode(values[i]));
    }
}

}  // namespace proact::faults
