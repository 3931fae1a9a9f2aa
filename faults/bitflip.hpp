// Bit-level faults on stored values: the word a value is stored as, flipping or forcing one of its
// bits, masks of the bits a fault may hit, and applying a list of faults to a tensor's values with
// a log that restores them bit-exactly.
//
// Bits are numbered 0 (least significant) to W-1 (the sign) within the format's W-bit word:
//   float32  31 sign | 30..23 exponent | 22..0 mantissa
//   bf16     15 sign | 14..7 exponent | 6..0 mantissa
//   fp16     15 sign | 14..10 exponent | 9..0 mantissa
//   int8     7 sign | 6..0 the rest of the two's-complement code (an element's word; the tensor's
//            float32 scale is a word of its own, faulted by the injector, injector.hpp)
//   Qm.n     W-1 sign | n+m-1..n integer | n-1..0 fraction     (W = 1 + m + n)
//
// int8 elements are encoded with their tensor's scale: pass StorageFormat::int8().with_scale(s).
#pragma once

#include <bit>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "faults/storage_format.hpp"

namespace proact::faults {

// The stored W-bit word of `value`: the float's (float32, bf16, fp16) bit pattern, or the integer
// code (Qm.n, int8) in two's complement masked to W bits (value rounded and saturated as
// StorageFormat::encode does).
inline uint32_t word_of(float value, const StorageFormat& format) {
    return static_cast<uint32_t>(format.encode(value)) & format.word_mask();
}

// The value a W-bit word holds (sign-extended for integer codes). Throws ValueError if `word` has
// bits set above the word width.
inline float value_of(uint32_t word, const StorageFormat& format) {
    if ((word & ~format.word_mask()) != 0)
        core::fail<core::ValueError>("value_of: word 0x", std::hex, word, " has bits above the ", std::dec,
                                     format.bits(), "-bit word of ", format.to_string());
    if (format.is_floating()) return format.decode(static_cast<int32_t>(word));
    const uint32_t sign = uint32_t(1) << format.sign_bit();
    const uint32_t extended = (word & sign) ? (word | ~format.word_mask()) : word;
    return format.decode(static_cast<int32_t>(extended));
}

inline void check_bit(int bit, const StorageFormat& format, const char* op) {
    if (bit < 0 || bit >= format.bits())
        core::fail<core::ValueError>(op, ": bit ", bit, " outside the ", format.bits(), "-bit word of ",
                                     format.to_string(), " (expected 0..", format.bits() - 1, ")");
}

// `value` with bit `bit` of its stored word toggled.
inline float flip_bit(float value, int bit, const StorageFormat& format) {
    check_bit(bit, format, "flip_bit");
    return value_of(word_of(value, format) ^ (uint32_t(1) << bit), format);
}

// `value` with bit `bit` of its stored word forced to `one` (a stuck-at fault).
inline float force_bit(float value, int bit, bool one, const StorageFormat& format) {
    check_bit(bit, format, "force_bit");
    const uint32_t word = word_of(value, format);
    const uint32_t forced = one ? (word | (uint32_t(1) << bit)) : (word & ~(uint32_t(1) << bit));
    return value_of(forced, format);
}

// ---------------------------------------------------------------------------------------------
// Bit masks: the positions within the word that a fault model may hit.

struct BitMask {
    uint32_t bits = 0;  // bit i set: position i may be hit

    static BitMask all(const StorageFormat& format) { return {format.word_mask()}; }

    // A comma-separated list of names and positions, case-insensitive, e.g. "all", "exponent",
    // "sign,fraction", "0,5,31". Names: all, sign, and for float32, bf16 and fp16 exponent and
    // mantissa (float32 23..30 and 0..22, bf16 7..14 and 0..6, fp16 10..14 and 0..9), for fixed
    // point integer (n..n+m-1) and fraction (0..n-1); int8 has all and sign. Positions must lie in
    // the word. Anything else throws ValueError naming the token and the accepted forms.
    static BitMask parse(std::string_view text, const StorageFormat& format) {
        const auto bad = [&](std::string_view token, const std::string& why) {
            core::fail<core::ValueError>("bit mask '", text, "' for ", format.to_string(), ": '", token, "' ", why,
                                         "; expected a comma-separated list of ",
                                         format.is_floating()      ? "all, sign, exponent, mantissa"
                                         : format.is_fixed_point() ? "all, sign, integer, fraction"
                                                                   : "all, sign",
                                         " or bit positions 0..", format.bits() - 1);
        };
        const auto range = [](int low, int count) {  // bits low .. low+count-1
            return count == 0 ? 0u : static_cast<uint32_t>(((uint64_t(1) << count) - 1) << low);
        };
        BitMask mask;
        size_t start = 0;
        while (true) {
            const size_t comma = text.find(',', start);
            std::string_view token = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
            while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
            while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
            std::string name;
            for (char c : token) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (name.empty()) {
                bad(token, "is empty");
            } else if (name == "all") {
                mask.bits |= format.word_mask();
            } else if (name == "sign") {
                mask.bits |= uint32_t(1) << format.sign_bit();
            } else if (format.is_floating() && name == "exponent") {
                mask.bits |= range(format.mantissa_bits(), format.exponent_bits());
            } else if (format.is_floating() && name == "mantissa") {
                mask.bits |= range(0, format.mantissa_bits());
            } else if (format.is_fixed_point() && name == "integer") {
                mask.bits |= range(format.fraction_bits(), format.integer_bits());
            } else if (format.is_fixed_point() && name == "fraction") {
                mask.bits |= range(0, format.fraction_bits());
            } else if (std::isdigit(static_cast<unsigned char>(name[0]))) {
                int position = -1;
                const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), position);
                if (error != std::errc() || end != name.data() + name.size()) bad(token, "is not a bit position");
                if (position >= format.bits()) bad(token, "lies outside the word");
                mask.bits |= uint32_t(1) << position;
            } else {
                bad(token, "is not a name of this format's bits");
            }
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
        return mask;
    }

    int count() const { return std::popcount(bits); }
    bool contains(int bit) const { return bit >= 0 && bit < 32 && ((bits >> bit) & 1u); }

    // The allowed positions, ascending.
    std::vector<int> positions() const {
        std::vector<int> result;
        for (int bit = 0; bit < 32; ++bit)
            if (contains(bit)) result.push_back(bit);
        return result;
    }

    // "0,5,31" (parse(to_string()) gives the same mask back); "" when empty.
    std::string to_string() const {
        std::string text;
        for (int bit : positions()) {
            if (!text.empty()) text += ',';
            text += std::to_string(bit);
        }
        return text;
    }

    bool operator==(const BitMask&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Applying faults, and undoing them.

enum class BitAction : uint8_t {
    flip,        // transient fault: the bit toggles
    stuck_at_0,  // permanent fault: the bit reads 0 whatever was written
    stuck_at_1,  // permanent fault: the bit reads 1
};

inline const char* to_string(BitAction action) {
    switch (action) {
        case BitAction::flip: return "flip";
        case BitAction::stuck_at_0: return "stuck-at-0";
        case BitAction::stuck_at_1: return "stuck-at-1";
    }
    return "?";
}

// One faulty bit of one element of a tensor (element = index into its contiguous values).
struct BitFault {
    int64_t element = 0;
    int bit = 0;
    BitAction action = BitAction::flip;
    bool operator==(const BitFault&) const = default;
};

// What a fault did. A stuck-at fault on a bit that already held that value, or a flip whose
// fixed-point result rounds back to the same float, leaves old and new bit-identical.
struct FaultRecord {
    int64_t element = 0;
    int bit = 0;
    BitAction action = BitAction::flip;
    float old_value = 0.0f;
    float new_value = 0.0f;
    bool changed() const { return std::bit_cast<uint32_t>(old_value) != std::bit_cast<uint32_t>(new_value); }
};

// Applies `faults` in order to `values` (a tensor's contiguous elements) and returns the log, one
// record per fault in the same order. Every fault is checked before any value changes: an element
// outside `values` is an IndexError, a bit outside the word a ValueError.
inline std::vector<FaultRecord> apply_faults(std::span<float> values, std::span<const BitFault> faults,
                                             const StorageFormat& format) {
    for (const BitFault& fault : faults) {
        if (fault.element < 0 || fault.element >= static_cast<int64_t>(values.size()))
            core::fail<core::IndexError>("apply_faults: element ", fault.element, " outside a tensor of ",
                                         values.size(), " elements");
        check_bit(fault.bit, format, "apply_faults");
    }
    std::vector<FaultRecord> log;
    log.reserve(faults.size());
    for (const BitFault& fault : faults) {
        float& value = values[static_cast<size_t>(fault.element)];
        const float old_value = value;
        switch (fault.action) {
            case BitAction::flip: value = flip_bit(old_value, fault.bit, format); break;
            case BitAction::stuck_at_0: value = force_bit(old_value, fault.bit, false, format); break;
            case BitAction::stuck_at_1: value = force_bit(old_value, fault.bit, true, format); break;
        }
        log.push_back({fault.element, fault.bit, fault.action, old_value, value});
    }
    return log;
}

// Undoes `log` (from apply_faults on the same values), newest record first, so an element hit
// several times ends at its original bits. Each element must still hold exactly the value its
// record left there; otherwise the values were changed since and ValueError is thrown (the
// records after the failing one, in log order, have been undone by then).
inline void restore_faults(std::span<float> values, std::span<const FaultRecord> log) {
    for (size_t i = log.size(); i-- > 0;) {
        const FaultRecord& record = log[i];
        if (record.element < 0 || record.element >= static_cast<int64_t>(values.size()))
            core::fail<core::IndexError>("restore_faults: element ", record.element, " outside a tensor of ",
                                         values.size(), " elements");
        float& value = values[static_cast<size_t>(record.element)];
        if (std::bit_cast<uint32_t>(value) != std::bit_cast<uint32_t>(record.new_value))
            core::fail<core::ValueError>("restore_faults: element ", record.element, " holds ", value,
                                         ", but fault record ", i, " left ", record.new_value,
                                         " there; the values changed after the faults were applied");
        value = record.old_value;
    }
}

}  // namespace proact::faults
