#include "datasets/file_bytes.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <string>

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

std::vector<uint8_t> read_raw_file_bytes(const std::filesystem::path& path) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error))
        core::fail<core::IoError>("cannot open '", path.string(), "': no such file");
    const uintmax_t size = std::filesystem::file_size(path, error);
    if (error) core::fail<core::IoError>("cannot read the size of '", path.string(), "': ", error.message());
    std::ifstream in(path, std::ios::binary);
    if (!in) core::fail<core::IoError>("cannot open '", path.string(), "' for reading");
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (static_cast<uintmax_t>(in.gcount()) != size)
        core::fail<core::IoError>("cannot read '", path.string(), "': expected ", size, " bytes, read ", in.gcount());
    return bytes;
}

std::vector<uint8_t> gunzip(std::span<const uint8_t> compressed, const std::string& source_name) {
    // The gzip trailer stores the uncompressed size mod 2^32: a good first guess for the buffer.
    // Capped, so a corrupt trailer cannot ask for gigabytes up front.
    size_t capacity = compressed.size() * 4 + 4096;
    if (compressed.size() >= 18) {
        const size_t tail = compressed.size() - 4;
        const size_t stored_size = size_t(compressed[tail]) | size_t(compressed[tail + 1]) << 8 |
                                   size_t(compressed[tail + 2]) << 16 | size_t(compressed[tail + 3]) << 24;
        capacity = std::min(stored_size + 1, compressed.size() * 64 + (size_t(1) << 20));
    }
    std::vector<uint8_t> output(std::max<size_t>(capacity, 64));

    InflateStream inflater;
    // 15 + 16: a 32 KiB window, gzip header and trailer expected.
    if (inflateInit2(&inflater.stream, 15 + 16) != Z_OK)
        core::fail<core::Error>("gzip: cannot initialise zlib for '", source_name, "'");
    inflater.initialised = true;
    z_stream& stream = inflater.stream;

    size_t consumed = 0;
    size_t produced = 0;
    for (;;) {
        if (produced == output.size()) output.resize(output.size() * 2);
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
    output.shrink_to_fit();
    return output;
}

std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path) {
    std::vector<uint8_t> bytes = read_raw_file_bytes(path);
    if (!is_gzip(bytes)) return bytes;
    return gunzip(bytes, path.string());
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
