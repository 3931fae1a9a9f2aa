// Typed exceptions. Every message names the operation, what was expected and what was given:
//   "conv2d: input has 3 channels, layer expects 1"
// Bad user input never aborts: it throws one of these, and the command line turns it into a
// message and a non-zero exit.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace proact::core {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Shapes that do not fit together (matmul inner sizes, broadcast, reshape element counts).
class ShapeError : public Error {
public:
    using Error::Error;
};

// An argument outside its allowed range (negative size, BER > 1, unknown format string).
class ValueError : public Error {
public:
    using Error::Error;
};

// An index outside a tensor's bounds.
class IndexError : public Error {
public:
    using Error::Error;
};

// A file that cannot be opened, read or written.
class IoError : public Error {
public:
    using Error::Error;
};

// A file that opens but whose contents are not what its format says (truncated, bad magic).
class FormatError : public Error {
public:
    using Error::Error;
};

// A numerical failure the caller must hear about (NaN loss during training).
class NumericError : public Error {
public:
    using Error::Error;
};

// An allocation the machine cannot hold (a tensor of a huge batch, say). The command line names
// the command and the flags that sized its big requests; std::bad_alloc from a container is
// reported the same way.
class MemoryError : public Error {
public:
    using Error::Error;
};

// "[2, 3, 4]"
inline std::string shape_str(const std::vector<int64_t>& shape) {
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
    out << ']';
    return out.str();
}

// At most `max_bytes` of text that came from a file, for an error message: printable ASCII kept,
// other bytes as \xNN, and when cut, "..." and the full length. A file controls its own contents, so
// a message quoting them verbatim could be gigabytes long or hold terminal escape sequences.
//   excerpt(std::string(5000, 'a'), 8) == "aaaaaaaa... (5000 bytes)"
inline std::string excerpt(std::string_view text, size_t max_bytes = 64) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    const size_t shown = text.size() < max_bytes ? text.size() : max_bytes;
    for (size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 0xF];
        }
    }
    if (shown < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

// Builds a message from any streamable pieces: fail<ShapeError>("matmul: ", a, " vs ", b).
template <class E = Error, class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    throw E(out.str());
}

}  // namespace proact::core
