// Whole text files: the one atomic write every output goes through, and its reading counterpart.
//
// write_text_file puts the bytes in `path + ".tmp"` and renames it over `path`, so a reader (or a
// resumed run) sees either the previous file or the complete new one, never half a file.
#pragma once

#include <string>

namespace proact::core {

// Writes `text` to `path` atomically, creating missing parent folders. IoError on failure.
void write_text_file(const std::string& path, const std::string& text);

// The whole file. IoError naming the path when it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace proact::core
