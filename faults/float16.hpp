// 16-bit floating-point words, converted by hand (bit manipulation only, no F16C), so that every
// machine gives the same words:
//
//   bfloat16  15 sign | 14..7 exponent (bias 127) | 6..0 mantissa: the top half of a float32
//   float16   15 sign | 14..10 exponent (bias 15) | 9..0 mantissa: IEEE-754 binary16
//
// From float32: round to nearest, ties to even; a finite value at or past the midpoint between
// the largest finite word and 2^(emax+1) becomes infinity of its sign (bfloat16 from 0x1.ffp127
// on, its largest finite value being 0x1.fep127; float16 from 65520 on, 65504 the largest); float16
// subnormals (multiples of 2^-24 below 2^-14) are rounded exactly like normals. A NaN stays a NaN
// of the same sign: its word is kept when the float holds it exactly (a signalling NaN included, so
// every word survives decode then encode), otherwise the top payload bits with the quiet bit set.
// To float32: exact (every bfloat16 and float16 value is a float).
#pragma once

#include <bit>
#include <cstdint>

namespace proact::faults {

// ---------------------------------------------------------------------------------------------
// bfloat16

inline uint16_t bfloat16_from_float(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    uint32_t top = bits >> 16;
    const uint32_t low = bits & 0xFFFFu;
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {       // NaN
        if (low != 0) top |= 0x0040u;               // payload lost: quiet, so it cannot read as inf
        return static_cast<uint16_t>(top);
    }
    if (low > 0x8000u || (low == 0x8000u && (top & 1u))) ++top;  // a carry may reach the exponent: inf
    return static_cast<uint16_t>(top);
}

inline float float_from_bfloat16(uint16_t word) { return std::bit_cast<float>(static_cast<uint32_t>(word) << 16); }

// ---------------------------------------------------------------------------------------------
// float16 (IEEE binary16)

inline uint16_t half_from_float(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    const uint32_t sign = (bits >> 16) & 0x8000u;
    const uint32_t magnitude = bits & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) {  // NaN: keep the top 10 payload bits, quiet when some are lost
        uint32_t payload = (magnitude >> 13) & 0x3FFu;
        if ((magnitude & 0x1FFFu) != 0 || payload == 0) payload |= 0x200u;
        return static_cast<uint16_t>(sign | 0x7C00u | payload);
    }
    if (magnitude >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 2^16 (inf too): inf
    const int exponent = static_cast<int>(magnitude >> 23) - 127;
    if (exponent >= -14) {  // a normal float16 (or rounds up to infinity from [65520, 65536))
        const uint32_t mantissa = magnitude & 0x7FFFFFu;
        uint32_t half = (static_cast<uint32_t>(exponent + 15) << 10) | (mantissa >> 13);
        const uint32_t rest = mantissa & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry reaches the exponent
        return static_cast<uint16_t>(sign | half);
    }
    if (exponent < -25) return static_cast<uint16_t>(sign);  // below 2^-25: rounds to zero
    // A float16 subnormal: the code is |value| * 2^24 = significand * 2^(exponent + 1), rounded;
    // shift = -(exponent + 1) in 14..24. A carry into bit 10 gives the smallest normal, correctly.
    const uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;
    const int shift = -(exponent + 1);
    uint32_t code = significand >> shift;
    const uint32_t rest = significand & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (code & 1u))) ++code;
    return static_cast<uint16_t>(sign | code);
}

inline float float_from_half(uint16_t word) {
    const uint32_t sign = static_cast<uint32_t>(word & 0x8000u) << 16;
    const uint32_t exponent = (word >> 10) & 0x1Fu;
    const uint32_t mantissa = word & 0x3FFu;
    if (exponent == 0x1Fu) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));  // inf, NaN
    if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    // Zero or subnormal: mantissa * 2^-24, exact in float (a power of two times 10 bits).
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
}

}  // namespace proact::faults
