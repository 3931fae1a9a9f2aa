// Files in and out: the one atomic file write every output goes through, and the reading of
// files the user downloaded (checkpoints, data sets, campaign JSON), which are untrusted.
//
//   write_file_atomically("out/eval.json", json_text);   // readers see the old file or the new one
//   const std::string text = read_file("shard0.json");     // refuses FIFOs, devices, huge files
//   const nlohmann::json json = parse_json(text, "shard0.json");  // bounded depth, no duplicate keys
//   const int64_t trials = JsonFields{"shard0.json", json}.integer("trials", 1, 1000);
//
// Every reader of an untrusted file opens it through InputFile, so a FIFO, a device or a symbolic
// link loop named as a checkpoint or a data file is refused with one message instead of hanging
// the program or reading forever.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace proact::core {

// Writes `bytes` to PATH.tmp.<pid>, syncs it to disk, then renames it over `path` (creating
// missing parent folders), so an interrupted or failed write leaves any previous file at `path` as
// it was, and a failed one removes its temporary file. IoError naming the file (also when `path`
// is a folder).
void write_file_atomically(const std::string& path, std::string_view bytes);

// A regular file open for reading. Anything else at `path` is refused before it is opened, with an
// IoError naming the file and what it is instead (missing, a directory, a FIFO, a socket, a device,
// a symbolic link that loops): opening a FIFO blocks until a writer comes and a device may never
// end. The descriptor is opened non-blocking and checked again, so a file swapped for a FIFO
// between the check and the open cannot hang the reader either. `reader` prefixes messages.
class InputFile {
public:
    InputFile(std::string path, std::string reader);
    ~InputFile();
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    const std::string& path() const { return path_; }
    uint64_t size() const { return size_; }  // when opened
    // Exactly `count` bytes at `offset`: IoError if reading fails, FormatError if the file ends
    // first (it shrank while being read).
    void read_at(uint64_t offset, void* destination, uint64_t count) const;

private:
    std::string path_;
    std::string reader_;
    int fd_ = -1;
    uint64_t size_ = 0;
};

// The most read_file reads unless told otherwise.
inline constexpr uint64_t kReadFileMaxBytes = uint64_t(1) << 30;

// The whole file as bytes. IoError naming the file if it is not a regular file, cannot be read or
// is longer than `max_bytes` (checked before reading).
std::string read_file(const std::string& path, uint64_t max_bytes = kReadFileMaxBytes);

// Limits on untrusted JSON text.
struct JsonLimits {
    uint64_t max_bytes = uint64_t(64) << 20;
    int max_depth = 16;  // nested arrays and objects; the top-level value is depth 1
};

// Parses untrusted JSON. FormatError naming `source` when the text is longer than max_bytes, nests
// deeper than max_depth (refused when that depth is reached, so neither the parse nor code that
// walks the result recursively can exhaust the stack), repeats a key within an object (nlohmann
// would keep the last one silently) or is not JSON; messages quote at most a short excerpt.
nlohmann::json parse_json(std::string_view text, const std::string& source, const JsonLimits& limits = {});

// The fields of one object of parsed untrusted JSON, each read with its type and range checked.
// A message names the file and the key path and says what was expected and found:
//   "shard0.json: 'points[2].correct[5]' is -3, expected an integer in [0, 1000]"
//   JsonFields top{"shard0.json", json};
//   const int64_t trials = top.integer("trials", 1, 1000);
//   JsonFields row{"shard0.json", top.array("points", 100)[2], "points[2]."};
// Numbers are read by the kind the parser saw, so a float or an unsigned above INT64_MAX is never
// cast to an integer (undefined, or a wrap).
struct JsonFields {
    std::string source;
    const nlohmann::json& object;
    std::string prefix = "";  // "" or "points[2]."

    std::string where(const std::string& key) const;                 // "shard0.json: 'points[2].rate'"
    const nlohmann::json& get(const char* key) const;                 // FormatError when missing
    int64_t integer(const char* key, int64_t min, int64_t max) const;
    uint64_t unsigned_integer(const char* key) const;
    double number(const char* key, double min, double max) const;   // finite, in [min, max]
    bool boolean(const char* key) const;
    std::string text(const char* key, size_t max_bytes) const;
    const nlohmann::json& array(const char* key, size_t max_size) const;
    std::vector<std::string> texts(const char* key, size_t max_count, size_t max_bytes) const;
    std::vector<int64_t> integers(const char* key, size_t max_count, int64_t min, int64_t max) const;
    // The text field handed to `parse`; a ValueError from it becomes a FormatError naming the field.
    template <class Parse>
    auto parsed(const char* key, size_t max_bytes, Parse parse) const {
        const std::string value = text(key, max_bytes);
        try {
            return parse(value);
        } catch (const ValueError& error) {
            fail<FormatError>(where(key), ": ", error.what());
        }
    }
};

}  // namespace proact::core
