// Text escapes the faults reports share (report.cpp, vulnerability_report.cpp): one way to quote a
// CSV field and to escape text inside SVG.
#pragma once

#include <string>

namespace proact::faults {

// `text` with &, <, > and " as XML entities.
inline std::string xml_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

// `text` as one CSV field: quoted (quotes doubled) when it holds a comma, a quote or a newline.
inline std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

}  // namespace proact::faults
