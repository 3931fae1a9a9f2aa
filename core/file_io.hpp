// Whole-file reads and the one atomic file write every output goes through.
//
//   write_file_atomically("out/eval.json", json_text);   // readers see the old file or the new one
//   const std::string text = read_file("shard0.json");
#pragma once

#include <string>
#include <string_view>

namespace proact::core {

// Writes `bytes` to PATH.tmp.<pid>, syncs it to disk, then renames it over `path` (creating
// missing parent folders), so an interrupted or failed write leaves any previous file at `path` as
// it was, and a failed one removes its temporary file. IoError naming the file (also when `path`
// is a folder).
void write_file_atomically(const std::string& path, std::string_view bytes);

// The whole file as bytes. IoError naming the file if it cannot be opened or read.
std::string read_file(const std::string& path);

}  // namespace proact::core
