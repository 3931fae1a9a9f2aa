// Whole-file reads and writes, gzip-transparent: the dataset formats here are small enough to hold
// in memory, and converting from one buffer is far faster than reading record by record.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace proact::datasets {

// True when `bytes` starts with the gzip magic 1f 8b.
bool is_gzip(std::span<const uint8_t> bytes);

// The file's contents, decompressed when it starts with the gzip magic (concatenated gzip members
// are joined). IoError when the file cannot be opened or read; FormatError naming the file when the
// gzip stream is corrupt or truncated.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);

// The file's bytes exactly as stored (no decompression).
std::vector<uint8_t> read_raw_file_bytes(const std::filesystem::path& path);

// Decompresses a gzip stream; `source_name` only labels error messages.
std::vector<uint8_t> gunzip(std::span<const uint8_t> compressed, const std::string& source_name);

// Writes `bytes` to `path`, gzip-compressed when `gzip` is true. IoError on failure.
void write_file_bytes(const std::filesystem::path& path, std::span<const uint8_t> bytes, bool gzip);

}  // namespace proact::datasets
