#include "core/format.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace proact::core {

namespace {

// std::to_chars of `value` in `format` (the shortest exact digits).
std::string chars_of(double value, std::chars_format format) {
    char text[64];
    const std::to_chars_result written = std::to_chars(text, text + sizeof text, value, format);
    return std::string(text, written.ptr);
}

}  // namespace

std::string fixed(double value, int digits) {
    if (!std::isfinite(value)) return "n/a";
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", digits, value);
    return text;
}

std::string general(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

std::string rate_text(double rate) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3e", rate);
    std::string mantissa(text);
    const size_t e = mantissa.find('e');
    if (e == std::string::npos) return mantissa;  // inf, nan
    const std::string exponent = mantissa.substr(e);
    mantissa.resize(e);
    while (mantissa.back() == '0') mantissa.pop_back();
    if (mantissa.back() == '.') mantissa.pop_back();
    return mantissa + exponent;
}

std::string shortest(double value) {
    char text[64];
    const std::to_chars_result written = std::to_chars(text, text + sizeof text, value);
    return std::string(text, written.ptr);
}

std::string hex64(uint64_t value) {
    char text[19];
    std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(value));
    return text;
}

std::string compact(double value) {
    if (!std::isfinite(value)) return shortest(value);
    // "-1.25e-07": the shortest exact digits, their count and the decimal exponent.
    const std::string scientific = chars_of(value, std::chars_format::scientific);
    const size_t e = scientific.find('e');
    int digits = 0;
    for (size_t i = 0; i < e; ++i) digits += scientific[i] >= '0' && scientific[i] <= '9';
    const int exponent = std::atoi(scientific.c_str() + e + 1);
    const std::string short_scientific = scientific.substr(0, e + 1) + std::to_string(exponent);
    // printf's %g with `digits` significant digits writes plain for exponents in [-4, digits).
    if (exponent < -4 || exponent >= digits) return short_scientific;
    const std::string plain = chars_of(value, std::chars_format::fixed);
    return plain.size() <= short_scientific.size() ? plain : short_scientific;
}

}  // namespace proact::core
