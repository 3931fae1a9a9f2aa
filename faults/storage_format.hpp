// Storage formats: how a weight is held in memory, and therefore which bits a fault can hit.
//
//   float32   IEEE-754 single precision, 32-bit word: bit 31 sign, bits 23..30 exponent,
//             bits 0..22 mantissa. Stored word = the float's bit pattern.
//   bf16      bfloat16, 16-bit word: the top half of the float32 pattern (15 sign, 14..7 exponent,
//             6..0 mantissa). fp16: IEEE binary16 (15 sign, 14..10 exponent, 9..0 mantissa).
//             Rounded to nearest, ties to even, past the largest finite value to infinity; NaN
//             stays NaN; decoding is exact (faults/float16.hpp).
//   int8      symmetric per-tensor scale: an 8-bit two's-complement code c per element and one
//             float32 scale s per tensor, value c * s. Quantising sets s = max|w| / 127 (in float;
//             2^-23 for an all-zero tensor) and c = round(w / s), ties to even, in [-127, 127].
//             -128 is a word only a bit flip produces (bit 7 of code 0, or bit k of code
//             -128 + 2^k), read as -128 * s. The scale is stored too, and is a fault target: see
//             int8_scale below and faults/injector.hpp.
//   Qm.n      fixed point in a two's-complement word of W = 1 + m + n bits, W in {8, 16, 32}:
//             bit W-1 sign, bits n..n+m-1 integer, bits 0..n-1 fraction. A value v is stored as the
//             integer code c = round(v * 2^n), saturated to [-2^(W-1), 2^(W-1) - 1]; it reads back as
//             c * 2^-n. "Q15.16" (the toolbox's default) is a 32-bit word with 16 fraction bits, a
//             resolution of 2^-16 and a range of [-32768, 32768 - 2^-16].
//
// Rounding is to nearest with ties to even (like torch.round and numpy.round), so a reference
// quantisation done in PyTorch lands on the same grid points.
//
// Tensors stay float32 in memory; a weight in another format is a float that sits on the format's
// grid (quantize_inplace / quantize_targets put it there once, before hardening and evaluation),
// and the format turns it into its stored word and back when a fault hits it. A float holds 24
// significant bits, so a fixed-point grid point c * 2^-n is exact in float only while |c| < 2^24,
// i.e. for |v| < 2^(24-n) (256 for Q15.16). Larger values, which appear mostly after a bit flip in a
// high integer bit, read back as the nearest float to the grid point; the flip's magnitude is kept,
// only its lowest bits blur. bf16 and fp16 values are always exact floats; an int8 value c * s is
// rounded once, to the float a float32 multiplication gives.
//
// int8's scale belongs to a tensor, not to the format: StorageFormat::int8() names the format (what
// a campaign is configured with), int8().with_scale(s) encodes and decodes one tensor's elements.
// The scale is not kept anywhere else: it is int8_scale(values) of the quantised tensor, which by
// construction gives back the scale it was quantised with (quantize_int8_inplace), so a model saved
// and loaded again, or its targets selected again, still carries its scales.
#pragma once

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "faults/float16.hpp"

namespace proact::faults {

// What --format accepts, for help texts and error messages.
inline constexpr const char* kStorageFormatNames = "float32, bf16, fp16, int8 or Qm.n (Q15.16, Q7.8, Q3.4)";

class StorageFormat {
public:
    enum class Kind { float32, bfloat16, float16, int8, fixed_point };

    static StorageFormat float32() { return StorageFormat(Kind::float32, 0, 0); }
    static StorageFormat bfloat16() { return StorageFormat(Kind::bfloat16, 0, 0); }
    static StorageFormat float16() { return StorageFormat(Kind::float16, 0, 0); }
    // int8 without a scale: the format's name; with_scale gives one tensor's coder.
    static StorageFormat int8() { return StorageFormat(Kind::int8, 0, 0); }

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

    // Case-insensitive: "float32" (or "fp32", "f32"), "bf16" (or "bfloat16"), "fp16" (or "float16",
    // "half"), "int8", or "Qm.n" such as "q15.16", "Q7.8", "q3.4". ValueError naming the text and
    // kStorageFormatNames otherwise.
    static StorageFormat parse(std::string_view text) {
        std::string lower;
        for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == "float32" || lower == "fp32" || lower == "f32") return float32();
        if (lower == "bf16" || lower == "bfloat16") return bfloat16();
        if (lower == "fp16" || lower == "float16" || lower == "half") return float16();
        if (lower == "int8") return int8();
        const auto bad = [&]() {
            core::fail<core::ValueError>("storage format '", text, "': expected ", kStorageFormatNames,
                                         "; Qm.n needs 1 + m + n = 8, 16 or 32 bits");
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
    bool is_bfloat16() const { return kind_ == Kind::bfloat16; }
    bool is_float16() const { return kind_ == Kind::float16; }
    bool is_int8() const { return kind_ == Kind::int8; }
    bool is_fixed_point() const { return kind_ == Kind::fixed_point; }
    // A floating-point word (float32, bf16, fp16): sign, exponent and mantissa fields.
    bool is_floating() const { return is_float32() || is_bfloat16() || is_float16(); }
    // A two's-complement integer code (Qm.n, int8): sign-extended when read back.
    bool is_integer_code() const { return is_fixed_point() || is_int8(); }
    int integer_bits() const { return integer_bits_; }    // m (0 for the other formats)
    int fraction_bits() const { return fraction_bits_; }  // n (0 for the other formats)
    int bits() const {  // word width W
        switch (kind_) {
            case Kind::float32: return 32;
            case Kind::bfloat16:
            case Kind::float16: return 16;
            case Kind::int8: return 8;
            case Kind::fixed_point: break;
        }
        return 1 + integer_bits_ + fraction_bits_;
    }
    int sign_bit() const { return bits() - 1; }
    // Floating words: the mantissa is bits 0..mantissa_bits()-1, the exponent the next
    // exponent_bits() (float32 23 + 8, bf16 7 + 8, fp16 10 + 5); 0 for integer codes.
    int mantissa_bits() const { return is_float32() ? 23 : is_bfloat16() ? 7 : is_float16() ? 10 : 0; }
    int exponent_bits() const { return is_float32() || is_bfloat16() ? 8 : is_float16() ? 5 : 0; }
    // The W low bits set.
    uint32_t word_mask() const { return bits() == 32 ? 0xFFFFFFFFu : (uint32_t(1) << bits()) - 1; }

    // Integer codes: the word's range [-2^(W-1), 2^(W-1) - 1]; the spacing of the fixed-point grid.
    int32_t min_code() const { return static_cast<int32_t>(-(int64_t(1) << (bits() - 1))); }
    int32_t max_code() const { return static_cast<int32_t>((int64_t(1) << (bits() - 1)) - 1); }
    double resolution() const { return is_fixed_point() ? std::ldexp(1.0, -fraction_bits_) : 0.0; }

    // int8: one tensor's coder, with its scale (any float: a faulted scale decodes as it reads).
    StorageFormat with_scale(float scale) const {
        if (!is_int8()) core::fail<core::ValueError>("storage format ", to_string(), " has no per-tensor scale");
        StorageFormat bound = *this;
        bound.has_scale_ = true;
        bound.scale_bits_ = std::bit_cast<uint32_t>(scale);
        return bound;
    }
    bool has_scale() const { return has_scale_; }
    float scale() const {
        if (!has_scale_)
            core::fail<core::ValueError>("storage format ", to_string(),
                                         ": no per-tensor scale given (StorageFormat::with_scale)");
        return std::bit_cast<float>(scale_bits_);
    }

    // "float32", "bf16", "fp16", "int8" or "Q15.16"; parse(to_string()) == *this (without a scale).
    std::string to_string() const {
        switch (kind_) {
            case Kind::float32: return "float32";
            case Kind::bfloat16: return "bf16";
            case Kind::float16: return "fp16";
            case Kind::int8: return "int8";
            case Kind::fixed_point: break;
        }
        std::string text = "Q";
        text += std::to_string(integer_bits_);
        text += '.';
        text += std::to_string(fraction_bits_);
        return text;
    }

    // The stored code. float32: the bit pattern (any value, NaN included). bf16, fp16: the 16-bit
    // word (0..65535), see float16.hpp. Fixed point: round(value * 2^n), ties to even, saturated to
    // [min_code, max_code]; infinities saturate, NaN throws ValueError. int8 (with a finite scale
    // s): round(value / s), ties to even, saturated to [-128, 127] (a value on the grid, -128 * s
    // included, gives its code back; quantize clamps to [-127, 127]); 0 when s is 0; NaN throws.
    int32_t encode(float value) const {
        switch (kind_) {
            case Kind::float32: return std::bit_cast<int32_t>(value);
            case Kind::bfloat16: return bfloat16_from_float(value);
            case Kind::float16: return half_from_float(value);
            case Kind::int8: return encode_int8(value);
            case Kind::fixed_point: break;
        }
        if (std::isnan(value))
            core::fail<core::ValueError>("encode: NaN cannot be stored in ", to_string());
        // value * 2^n is exact in double (float has 24 significant bits, n <= 31).
        return round_and_saturate(std::ldexp(static_cast<double>(value), fraction_bits_));
    }

    // The value a code stands for. float32: the float with that bit pattern. bf16, fp16: the
    // word's value, exactly. Fixed point: code * 2^-n, rounded to the nearest float when it has
    // more than 24 significant bits. int8: code * s, rounded once to float (inf or NaN when the
    // scale is). ValueError for a code outside the word's range.
    float decode(int32_t code) const {
        const bool floating16 = is_bfloat16() || is_float16();
        const int32_t low = floating16 ? 0 : min_code(), high = floating16 ? 0xFFFF : max_code();
        if (!is_float32() && (code < low || code > high))
            core::fail<core::ValueError>("decode: code ", code, " outside ", to_string(), "'s range [", low, ", ",
                                         high, "]");
        switch (kind_) {
            case Kind::float32: return std::bit_cast<float>(code);
            case Kind::bfloat16: return float_from_bfloat16(static_cast<uint16_t>(code));
            case Kind::float16: return float_from_half(static_cast<uint16_t>(code));
            case Kind::int8: return static_cast<float>(static_cast<double>(code) * static_cast<double>(scale()));
            case Kind::fixed_point: break;
        }
        return static_cast<float>(std::ldexp(static_cast<double>(code), -fraction_bits_));
    }

    // The value as it is stored: decode(encode(value)), int8 codes clamped to [-127, 127].
    float quantize(float value) const {
        if (is_float32()) return value;
        if (is_int8()) return decode(std::clamp(encode(value), int32_t(-127), int32_t(127)));
        return decode(encode(value));
    }

    bool operator==(const StorageFormat&) const = default;

private:
    StorageFormat(Kind kind, int integer_bits, int fraction_bits)
        : kind_(kind), integer_bits_(integer_bits), fraction_bits_(fraction_bits) {}

    // `scaled` rounded to nearest, ties to even, saturated to [min_code, max_code].
    int32_t round_and_saturate(double scaled) const {
        if (scaled >= static_cast<double>(max_code())) return max_code();
        if (scaled <= static_cast<double>(min_code())) return min_code();
        double rounded = std::floor(scaled);
        const double remainder = scaled - rounded;  // exact, in [0, 1)
        if (remainder > 0.5 || (remainder == 0.5 && std::fmod(rounded, 2.0) != 0.0)) rounded += 1.0;
        return static_cast<int32_t>(rounded);
    }

    int32_t encode_int8(float value) const {
        const float s = scale();
        if (std::isnan(value)) core::fail<core::ValueError>("encode: NaN cannot be stored in int8");
        if (!std::isfinite(s))
            core::fail<core::ValueError>("encode: int8 scale ", s, " is not finite; no code stands for ", value);
        if (s == 0.0f) return 0;
        // value / s in double: the quotient of a float on the grid, c * s (|c| <= 128), by s is
        // within 2^-24 * 128 of c, so it rounds back to c.
        return round_and_saturate(static_cast<double>(value) / static_cast<double>(s));
    }

    Kind kind_;
    int integer_bits_;
    int fraction_bits_;
    bool has_scale_ = false;   // int8 with_scale
    uint32_t scale_bits_ = 0;  // the scale's float bits (compared bit for bit)
};

// ---------------------------------------------------------------------------------------------
// int8's per-tensor scale.

// The scale of an all-zero (or empty) int8 tensor: float32's epsilon, the floor PyTorch's observers
// put under every scale. Any positive value would do; with 0 a flipped code could not be told from
// code 0 by its value, and a later scale fault would lose it.
inline constexpr float kInt8ZeroTensorScale = 0x1p-23f;

// max|v| / 127, divided in float (kInt8ZeroTensorScale when every value is 0): the scale an int8
// tensor is quantised with, and the one its quantised values give back (quantize_int8_inplace).
// ValueError naming the element for a NaN or infinite value, and for a maximum so large that
// 127 * scale overflows (above about 3.4e38).
inline float int8_scale(std::span<const float> values) {
    float largest = 0.0f;
    for (size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i]))
            core::fail<core::ValueError>("int8: element ", i, " of ", values.size(), " is ", values[i],
                                         ", which a scaled 8-bit code cannot store");
        largest = std::max(largest, std::fabs(values[i]));
    }
    if (largest == 0.0f) return kInt8ZeroTensorScale;
    const float scale = largest / 127.0f;
    if (!std::isfinite(127.0f * scale))
        core::fail<core::ValueError>("int8: largest magnitude ", largest, " leaves no finite 127 * scale");
    return scale;
}

// Puts `values` on the int8 grid of their own scale and returns that scale: s = int8_scale(values),
// every value to decode(clamp(round(v / s), -127, 127)). The result gives s back under
// int8_scale: for a normal s this holds after one pass (checked over every float maximum); when
// max|v| / 127 is subnormal the coarse grid can move the maximum, and one more pass with the
// scale of the moved values settles it (two passes suffice for every float, three are allowed).
inline float quantize_int8_inplace(std::span<float> values) {
    for (int pass = 0; pass < 3; ++pass) {
        const float scale = int8_scale(values);
        const StorageFormat coder = StorageFormat::int8().with_scale(scale);
        for (float& value : values) value = coder.quantize(value);
        if (std::bit_cast<uint32_t>(int8_scale(values)) == std::bit_cast<uint32_t>(scale)) return scale;
    }
    core::fail<core::ValueError>("int8: the scale of ", values.size(), " values did not settle in three passes");
}

// Puts every value on the format's grid (identity for float32). Done once, before hardening and
// evaluation, so fault injection starts from the values the hardware would hold. int8 without a
// scale: the tensor's own scale (quantize_int8_inplace); with one: that scale's grid.
// Throws ValueError naming the first NaN element for a fixed-point or int8 format (bf16 and fp16
// store NaN as NaN).
inline void quantize_inplace(std::span<float> values, const StorageFormat& format) {
    if (format.is_float32()) return;
    if (format.is_int8() && !format.has_scale()) {
        quantize_int8_inplace(values);
        return;
    }
    for (size_t i = 0; i < values.size(); ++i) {
        if (std::isnan(values[i]) && format.is_integer_code())
            core::fail<core::ValueError>("quantize_inplace: element ", i, " of ", values.size(),
                                         " is NaN, which ", format.to_string(), " cannot store");
        values[i] = format.quantize(values[i]);
    }
}

}  // namespace proact::faults
