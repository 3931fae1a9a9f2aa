// Whole-file reads and writes, gzip-transparent: the dataset formats here are small enough to hold
// in memory, and converting from one buffer is far faster than reading record by record.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace proact::datasets {

// What one data file may make a reader allocate. Data sets are downloaded, so their files are
// untrusted: each limit is checked against what is known before decoding (the file's size, an IDX
// header's claim, an image header's width and height), and a gzip stream is stopped as soon as it
// decompresses past its limit, so a small file cannot claim or inflate into gigabytes.
struct ReadLimits {
    uint64_t max_file_bytes = uint64_t(1) << 30;    // one data file after decompression (CIFAR-100's train.bin: 150 MB)
    uint64_t max_image_pixels = uint64_t(1) << 26;  // width x height of one image (8192 x 8192)
};

// True when `bytes` starts with the gzip magic 1f 8b.
bool is_gzip(std::span<const uint8_t> bytes);

// The file's contents, decompressed when it starts with the gzip magic (concatenated gzip members
// are joined). IoError when the file cannot be opened or read or is not a regular file (a FIFO, a
// device, a symbolic link loop: core::InputFile); FormatError naming the file when the gzip stream
// is corrupt or truncated, or when the file is longer than limits.max_file_bytes before or after
// decompression.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path, const ReadLimits& limits = {});

// The file's bytes exactly as stored (no decompression); errors as read_file_bytes.
std::vector<uint8_t> read_raw_file_bytes(const std::filesystem::path& path, const ReadLimits& limits = {});

// Decompresses a gzip stream; `source_name` labels error messages. FormatError naming it, the size
// reached and the limit when the stream decompresses to more than `max_bytes`.
std::vector<uint8_t> gunzip(std::span<const uint8_t> compressed, const std::string& source_name,
                            uint64_t max_bytes = ReadLimits{}.max_file_bytes);
// The first `count` decompressed bytes of a gzip stream (fewer if it is shorter), without
// decompressing the rest: enough to read a header and check its claims before the whole file.
std::vector<uint8_t> gunzip_prefix(std::span<const uint8_t> compressed, const std::string& source_name, size_t count);

// Writes `bytes` to `path`, gzip-compressed when `gzip` is true. IoError on failure.
void write_file_bytes(const std::filesystem::path& path, std::span<const uint8_t> bytes, bool gzip);

}  // namespace proact::datasets
