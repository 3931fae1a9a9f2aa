// Numbers as text, one way for every table, CSV, report and metadata value:
//
//   fixed(97.0312)        "97.03"     fixed(0.5, 4) "0.5000"   fixed(NAN) "n/a"
//   general(1e-05)        "1e-05"     general(0.0001) "0.0001" (printf's %g: 6 significant digits)
//   rate_text(1e-4)       "1e-04"     rate_text(2.5e-05) "2.5e-05"  (every BER in one notation)
//   shortest(0.1)         "0.1"       shortest(41.83) "41.83"  (reads back as the same double)
//   compact(1e-07)        "1e-7"      compact(0.5) "0.5"       (as the --ber flag takes it)
//   hex64(255)            "0x00000000000000ff"
// and back: read_number<int64_t>("42") 42, read_number<double>("0.1") 0.1, read_number<int>("010")
// nothing (whole text, decimal only, no sign prefix '+', no space, no overflow).
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace proact::core {

// printf's "%.<digits>f"; "n/a" for a value that is not finite (a cell with no number).
std::string fixed(double value, int digits = 2);

// printf's "%g": six significant digits, trailing zeros dropped, scientific below 1e-4 and from 1e6.
std::string general(double value);

// Scientific with three decimals, the mantissa's trailing zeros (and a bare point) dropped: 1e-04,
// 2.5e-05, 1.125e-03. Where %g would write 0.0001 beside 1e-05, every BER reads alike.
std::string rate_text(double rate);

// The shortest text that reads back as exactly `value` (std::to_chars): 0.1, 1e-07, 41.83.
std::string shortest(double value);

// The shortest exact digits written the shorter way, the exponent without sign or padding:
// 0.5 beside 5e-1, 1e-4 beside 0.0001, 1e-7; plain whenever printf's %g at that precision would
// write it plain and it is no longer. Finite values (others as shortest).
std::string compact(double value);

// "0x" and 16 lower-case hex digits: a hash or checksum as keys and metadata record it.
std::string hex64(uint64_t value);

// The number `text` holds, all of it, or nothing: std::from_chars (decimal, '-' allowed for signed
// types, no leading '+', zeros or spaces before integers, no overflow).
template <class T>
std::optional<T> read_number(std::string_view text) {
    if (text.empty()) return std::nullopt;
    if constexpr (std::is_integral_v<T>) {
        const size_t digits = text.front() == '-' ? 1 : 0;
        if (text.size() > digits + 1 && text[digits] == '0') return std::nullopt;  // "010" is not ten
    }
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

}  // namespace proact::core
