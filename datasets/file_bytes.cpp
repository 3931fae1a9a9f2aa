#include "datasets/file_bytes.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <limits>
#include <string>

#include "core/file_io.hpp"

#include "core/error.hpp"

namespace proact::datasets {

namespace {

// zlib counts in 32-bit uInt; feed it at most this many bytes per call.
constexpr size_t kZlibChunk = size_t(1) << 30;

// Ends the inflate/deflate stream on every path out of the caller.
struct InflateStream {
    z_stream stream{};
    bool initialised = false;
    ~InflateStream() {
        if (initialised) inflateEnd(&stream);
    }
};

struct DeflateStream {
    z_stream stream{};
    bool initialised = false;
    ~DeflateStream() {
        if (initialised) deflateEnd(&stream);
    }
};

}  // namespace

bool is_gzip(std::span<const uint8_t> bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

std::vector<uint8_t> read_raw_file_bytes(const std::filesystem::path& path, const ReadLimits& limits) {
    const core::InputFile file(path.string(), "data file");
    if (file.size() > limits.max_file_bytes)
        core::fail<core::FormatError>("'", path.string(), "' is ", file.size(), " bytes long, more than the limit of ",
                                      limits.max_file_bytes, " bytes for a data file (ReadLimits::max_file_bytes)");
    std::vector<uint8_t> bytes(static_cast<size_t>(file.size()));
    file.read_at(0, bytes.data(), bytes.size());
    return bytes;
}

namespace {

// Decompresses at most `limit` bytes of a gzip stream and stops there without error; FormatError
// for a corrupt or truncated stream met before that.
std::vector<uint8_t> inflate_up_to(std::span<const uint8_t> compressed, const std::string& source_name,
                                   uint64_t limit) {
    // The gzip trailer stores the uncompressed size mod 2^32: a good first guess for the buffer.
    // Capped, so a corrupt trailer cannot ask for gigabytes up front.
    uint64_t capacity = uint64_t(compressed.size()) * 4 + 4096;
    if (compressed.size() >= 18) {
        const size_t tail = compressed.size() - 4;
        const uint64_t stored_size = uint64_t(compressed[tail]) | uint64_t(compressed[tail + 1]) << 8 |
                                     uint64_t(compressed[tail + 2]) << 16 | uint64_t(compressed[tail + 3]) << 24;
        capacity = std::min<uint64_t>(stored_size + 1, uint64_t(compressed.size()) * 64 + (uint64_t(1) << 20));
    }
    std::vector<uint8_t> output(static_cast<size_t>(std::min(std::max<uint64_t>(capacity, 64), limit)));

    InflateStream inflater;
    // 15 + 16: a 32 KiB window, gzip header and trailer expected.
    if (inflateInit2(&inflater.stream, 15 + 16) != Z_OK)
        core::fail<core::Error>("gzip: cannot initialise zlib for '", source_name, "'");
    inflater.initialised = true;
    z_stream& stream = inflater.stream;

    size_t consumed = 0;
    size_t produced = 0;
    for (;;) {
        if (produced == output.size()) {
            if (produced >= limit) break;
            output.resize(static_cast<size_t>(std::min<uint64_t>(uint64_t(output.size()) * 2, limit)));
        }
        const size_t input_chunk = std::min(compressed.size() - consumed, kZlibChunk);
        const size_t output_chunk = std::min(output.size() - produced, kZlibChunk);
        stream.next_in = const_cast<Bytef*>(compressed.data() + consumed);
        stream.avail_in = static_cast<uInt>(input_chunk);
        stream.next_out = output.data() + produced;
        stream.avail_out = static_cast<uInt>(output_chunk);
        const int status = inflate(&stream, Z_NO_FLUSH);
        const size_t step_consumed = input_chunk - stream.avail_in;
        const size_t step_produced = output_chunk - stream.avail_out;
        consumed += step_consumed;
        produced += step_produced;

        if (status == Z_STREAM_END) {
            // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is ignored
            // like gzip(1) ignores trailing zero padding.
            if (is_gzip(compressed.subspan(consumed))) {
                inflateReset(&stream);
                continue;
            }
            break;
        }
        if (status == Z_DATA_ERROR)
            core::fail<core::FormatError>("gzip: '", source_name, "' is corrupt after ", consumed,
                                          " compressed bytes: ", stream.msg ? stream.msg : "invalid data");
        if (status == Z_MEM_ERROR) core::fail<core::Error>("gzip: out of memory decompressing '", source_name, "'");
        if (status == Z_NEED_DICT)
            core::fail<core::FormatError>("gzip: '", source_name, "' needs a preset dictionary, which gzip never uses");
        const bool input_exhausted = consumed == compressed.size();
        const bool output_full = produced == output.size();
        const bool stalled = step_consumed == 0 && step_produced == 0 && !output_full;
        if ((input_exhausted && !output_full) || stalled)
            core::fail<core::FormatError>("gzip: '", source_name, "' is truncated: the stream ends after ",
                                          compressed.size(), " compressed bytes (", produced,
                                          " decompressed) without its end marker");
        if (status != Z_OK && status != Z_BUF_ERROR)
            core::fail<core::FormatError>("gzip: '", source_name, "' failed to decompress (zlib status ", status, ")");
    }
    output.resize(produced);
    // Give back a first guess that was far too large, but not the byte an exact guess leaves over
    // (read_idx_file asks for one byte more than it expects): shrinking copies the whole output,
    // which for a 47 MB file is 47 MB more at the peak.
    if (output.capacity() - produced > produced / 8) output.shrink_to_fit();
    return output;
}

}  // namespace

std::vector<uint8_t> gunzip(std::span<const uint8_t> compressed, const std::string& source_name, uint64_t max_bytes) {
    // One byte more than allowed tells a stream of exactly max_bytes from a longer one.
    const uint64_t limit = max_bytes < std::numeric_limits<size_t>::max() ? max_bytes + 1 : max_bytes;
    std::vector<uint8_t> output = inflate_up_to(compressed, source_name, limit);
    if (output.size() > max_bytes)
        core::fail<core::FormatError>("gzip: '", source_name, "' decompresses to more than ", max_bytes,
                                      " bytes, the limit for a data file (ReadLimits::max_file_bytes)");
    return output;
}

std::vector<uint8_t> gunzip_prefix(std::span<const uint8_t> compressed, const std::string& source_name, size_t count) {
    return inflate_up_to(compressed, source_name, count);
}

std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path, const ReadLimits& limits) {
    std::vector<uint8_t> bytes = read_raw_file_bytes(path, limits);
    if (!is_gzip(bytes)) return bytes;
    return gunzip(bytes, path.string(), limits.max_file_bytes);
}

void write_file_bytes(const std::filesystem::path& path, std::span<const uint8_t> bytes, bool gzip) {
    std::vector<uint8_t> compressed;
    std::span<const uint8_t> to_write = bytes;
    if (gzip) {
        DeflateStream deflater;
        // 15 + 16: gzip wrapper; memLevel 8 is zlib's default.
        if (deflateInit2(&deflater.stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            core::fail<core::Error>("gzip: cannot initialise zlib to write '", path.string(), "'");
        deflater.initialised = true;
        z_stream& stream = deflater.stream;
        compressed.resize(deflateBound(&stream, static_cast<uLong>(bytes.size())) + 64);
        size_t consumed = 0;
        size_t produced = 0;
        int status = Z_OK;
        while (status != Z_STREAM_END) {
            if (produced == compressed.size()) compressed.resize(compressed.size() * 2);
            const size_t input_chunk = std::min(bytes.size() - consumed, kZlibChunk);
            const size_t output_chunk = std::min(compressed.size() - produced, kZlibChunk);
            stream.next_in = const_cast<Bytef*>(bytes.data() + consumed);
            stream.avail_in = static_cast<uInt>(input_chunk);
            stream.next_out = compressed.data() + produced;
            stream.avail_out = static_cast<uInt>(output_chunk);
            const bool last_input = consumed + input_chunk == bytes.size();
            status = deflate(&stream, last_input ? Z_FINISH : Z_NO_FLUSH);
            consumed += input_chunk - stream.avail_in;
            produced += output_chunk - stream.avail_out;
            if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR)
                core::fail<core::Error>("gzip: compressing '", path.string(), "' failed (zlib status ", status, ")");
        }
        compressed.resize(produced);
        to_write = compressed;
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) core::fail<core::IoError>("cannot open '", path.string(), "' for writing");
    out.write(reinterpret_cast<const char*>(to_write.data()), static_cast<std::streamsize>(to_write.size()));
    out.close();
    if (!out) core::fail<core::IoError>("cannot write ", to_write.size(), " bytes to '", path.string(), "'");
}

}  // namespace proact::datasets
