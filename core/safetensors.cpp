#include "core/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

namespace proact::core {

// The data buffer is read and written with memcpy; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using Json = nlohmann::json;

std::string errno_text(int error) { return std::strerror(error); }

// Closes the descriptor on every path out of a function.
class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int get() const { return fd_; }
    // Closes now and reports close()'s error (which can be a delayed write error).
    int close_now() {
        const int result = ::close(fd_);
        fd_ = -1;
        return result;
    }

private:
    int fd_;
};

// ---------------------------------------------------------------------------------------------
// dtypes

enum class Dtype { f32, f64, f16, bf16, i64, i32, i16, i8, u8, boolean };

struct DtypeInfo {
    const char* name;
    Dtype dtype;
    uint64_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", Dtype::f32, 4}, {"F64", Dtype::f64, 8}, {"F16", Dtype::f16, 2}, {"BF16", Dtype::bf16, 2},
    {"I64", Dtype::i64, 8}, {"I32", Dtype::i32, 4}, {"I16", Dtype::i16, 2}, {"I8", Dtype::i8, 1},
    {"U8", Dtype::u8, 1},   {"BOOL", Dtype::boolean, 1},
};

const DtypeInfo* find_dtype(const std::string& name) {
    for (const DtypeInfo& info : kDtypes)
        if (name == info.name) return &info;
    return nullptr;
}

std::string accepted_dtypes() {
    std::string list;
    for (const DtypeInfo& info : kDtypes) list += std::string(list.empty() ? "" : ", ") + info.name;
    return list;
}

// IEEE binary16 -> binary32, exact for every input (subnormals, infinities, NaN payloads).
float half_to_float(uint16_t half) {
    const uint32_t sign = uint32_t(half & 0x8000u) << 16;
    const uint32_t exponent = (half >> 10) & 0x1Fu;
    const uint32_t mantissa = half & 0x3FFu;
    if (exponent == 0) {
        // zero or subnormal: mantissa * 2^-24, exact in float
        const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
    return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// double -> float with IEEE overflow to infinity (a plain cast of an out-of-range double is UB).
float double_to_float(double value) {
    // Doubles at or above FLT_MAX + half an ulp round to infinity under round-to-nearest-even.
    constexpr double kOverflow = 0x1.ffffffp+127;
    if (std::isfinite(value) && std::fabs(value) >= kOverflow)
        return value > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
    return static_cast<float>(value);
}

template <class T>
T load_le(const unsigned char* bytes) {
    T value;
    std::memcpy(&value, bytes, sizeof(T));
    return value;
}

// bytes holds `count` elements of `dtype`; out receives `count` floats.
void convert_to_float(Dtype dtype, const unsigned char* bytes, int64_t count, float* out) {
    for (int64_t i = 0; i < count; ++i) {
        switch (dtype) {
            case Dtype::f32: out[i] = load_le<float>(bytes + 4 * i); break;
            case Dtype::f64: out[i] = double_to_float(load_le<double>(bytes + 8 * i)); break;
            case Dtype::f16: out[i] = half_to_float(load_le<uint16_t>(bytes + 2 * i)); break;
            case Dtype::bf16: out[i] = std::bit_cast<float>(uint32_t(load_le<uint16_t>(bytes + 2 * i)) << 16); break;
            case Dtype::i64: out[i] = static_cast<float>(load_le<int64_t>(bytes + 8 * i)); break;
            case Dtype::i32: out[i] = static_cast<float>(load_le<int32_t>(bytes + 4 * i)); break;
            case Dtype::i16: out[i] = static_cast<float>(load_le<int16_t>(bytes + 2 * i)); break;
            case Dtype::i8: out[i] = static_cast<float>(static_cast<int8_t>(bytes[i])); break;
            case Dtype::u8: out[i] = static_cast<float>(bytes[i]); break;
            case Dtype::boolean: out[i] = bytes[i] ? 1.0f : 0.0f; break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// reading

// Reads exactly `count` bytes at `offset`; the caller has checked that they lie inside the file.
void read_exact(int fd, const std::string& path, uint64_t offset, void* destination, uint64_t count) {
    auto* out = static_cast<unsigned char*>(destination);
    while (count > 0) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(count, uint64_t(1) << 30));
        const ssize_t got = ::pread(fd, out, chunk, static_cast<off_t>(offset));
        if (got < 0) {
            if (errno == EINTR) continue;
            fail<IoError>("load_safetensors: reading '", path, "' at byte ", offset, ": ", errno_text(errno));
        }
        if (got == 0)
            fail<FormatError>("load_safetensors: '", path, "' ended at byte ", offset, " while ", count,
                              " more bytes were expected (file shrank while being read?)");
        out += got;
        offset += static_cast<uint64_t>(got);
        count -= static_cast<uint64_t>(got);
    }
}

// a * b, or false if it does not fit in an int64.
bool checked_multiply(uint64_t a, uint64_t b, uint64_t& product) {
    constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (a != 0 && b > kLimit / a) return false;
    product = a * b;
    return true;
}

struct Entry {
    std::string name;
    const DtypeInfo* dtype = nullptr;
    Shape shape;
    int64_t numel = 0;
    uint64_t begin = 0;  // byte offsets in the data buffer
    uint64_t end = 0;
};

// Checks one header entry against the buffer it must fit in.
Entry parse_entry(const std::string& path, const std::string& name, const Json& value, uint64_t buffer_bytes) {
    const std::string where = "load_safetensors: '" + path + "': tensor '" + name + "'";
    if (!value.is_object()) fail<FormatError>(where, " is a JSON ", value.type_name(), ", expected an object");
    for (const char* key : {"dtype", "shape", "data_offsets"})
        if (!value.contains(key)) fail<FormatError>(where, " has no \"", key, "\" field");

    Entry entry;
    entry.name = name;
    const Json& dtype = value.at("dtype");
    if (!dtype.is_string()) fail<FormatError>(where, ": dtype is a JSON ", dtype.type_name(), ", expected a string");
    entry.dtype = find_dtype(dtype.get<std::string>());
    if (!entry.dtype)
        fail<FormatError>(where, " has dtype '", dtype.get<std::string>(), "', expected one of ", accepted_dtypes());

    const Json& shape = value.at("shape");
    if (!shape.is_array()) fail<FormatError>(where, ": shape is a JSON ", shape.type_name(), ", expected an array");
    // Both the element count and the product of max(size, 1) (which contiguous strides reach)
    // must fit in an int64.
    uint64_t numel = 1, extent = 1;
    for (const Json& size : shape) {
        if (size.is_number_integer() && !size.is_number_unsigned())
            fail<FormatError>(where, " has negative size ", size.get<int64_t>(), " in shape ", shape.dump());
        if (!size.is_number_unsigned())
            fail<FormatError>(where, ": shape ", shape.dump(), " holds ", size.dump(), ", expected non-negative integers");
        const uint64_t dim = size.get<uint64_t>();
        if (!checked_multiply(numel, dim, numel) || !checked_multiply(extent, std::max<uint64_t>(dim, 1), extent))
            fail<FormatError>(where, ": shape ", shape.dump(), " has more elements than fit in an int64");
        entry.shape.push_back(static_cast<int64_t>(dim));
    }
    entry.numel = static_cast<int64_t>(numel);

    const Json& offsets = value.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
        fail<FormatError>(where, ": data_offsets is ", offsets.dump(), ", expected [begin, end] with non-negative integers");
    entry.begin = offsets[0].get<uint64_t>();
    entry.end = offsets[1].get<uint64_t>();
    if (entry.begin > entry.end)
        fail<FormatError>(where, ": data_offsets [", entry.begin, ", ", entry.end, "] begin after end");
    if (entry.end > buffer_bytes)
        fail<FormatError>(where, ": data_offsets [", entry.begin, ", ", entry.end, "] run past the data buffer of ",
                          buffer_bytes, " bytes");
    uint64_t expected_bytes = 0;
    if (!checked_multiply(numel, entry.dtype->bytes, expected_bytes) || entry.end - entry.begin != expected_bytes)
        fail<FormatError>(where, ": shape ", shape_str(entry.shape), " of ", entry.dtype->name, " needs ",
                          numel, " x ", entry.dtype->bytes, " bytes, data_offsets [", entry.begin, ", ", entry.end,
                          "] span ", entry.end - entry.begin);
    return entry;
}

}  // namespace

TensorFile load_safetensors(const std::string& path) {
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) fail<IoError>("load_safetensors: cannot open '", path, "': ", errno_text(errno));
    struct stat status {};
    if (::fstat(fd.get(), &status) != 0) fail<IoError>("load_safetensors: cannot stat '", path, "': ", errno_text(errno));
    if (!S_ISREG(status.st_mode)) fail<IoError>("load_safetensors: '", path, "' is not a regular file");
    const uint64_t file_bytes = static_cast<uint64_t>(status.st_size);

    if (file_bytes < 8)
        fail<FormatError>("load_safetensors: '", path, "' is ", file_bytes,
                          " bytes long, shorter than the 8-byte header length field");
    unsigned char length_field[8];
    read_exact(fd.get(), path, 0, length_field, 8);
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length_field[i];
    if (header_bytes > kSafetensorsMaxHeaderBytes)
        fail<FormatError>("load_safetensors: '", path, "': header length ", header_bytes, " exceeds the limit of ",
                          kSafetensorsMaxHeaderBytes, " bytes");
    if (header_bytes > file_bytes - 8)
        fail<FormatError>("load_safetensors: '", path, "': header length ", header_bytes, " but only ",
                          file_bytes - 8, " bytes follow the length field");

    std::string header_text(static_cast<size_t>(header_bytes), '\0');
    read_exact(fd.get(), path, 8, header_text.data(), header_bytes);
    Json header;
    try {
        header = Json::parse(header_text);
    } catch (const Json::exception& error) {
        fail<FormatError>("load_safetensors: '", path, "': header is not valid JSON: ", error.what());
    }
    if (!header.is_object())
        fail<FormatError>("load_safetensors: '", path, "': header is a JSON ", header.type_name(), ", expected an object");

    const uint64_t buffer_start = 8 + header_bytes;
    const uint64_t buffer_bytes = file_bytes - buffer_start;
    TensorFile result;
    std::vector<Entry> entries;
    for (const auto& [name, value] : header.items()) {
        if (name == "__metadata__") {
            if (!value.is_object())
                fail<FormatError>("load_safetensors: '", path, "': __metadata__ is a JSON ", value.type_name(),
                                  ", expected an object of strings");
            for (const auto& [key, text] : value.items()) {
                if (!text.is_string())
                    fail<FormatError>("load_safetensors: '", path, "': __metadata__ entry '", key, "' is a JSON ",
                                      text.type_name(), ", expected a string");
                result.metadata[key] = text.get<std::string>();
            }
            continue;
        }
        entries.push_back(parse_entry(path, name, value, buffer_bytes));
    }

    // Overlap check on the byte ranges in buffer order; empty tensors occupy no bytes.
    std::vector<const Entry*> by_offset;
    for (const Entry& entry : entries)
        if (entry.end > entry.begin) by_offset.push_back(&entry);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        const Entry& previous = *by_offset[i - 1];
        const Entry& current = *by_offset[i];
        if (current.begin < previous.end)
            fail<FormatError>("load_safetensors: '", path, "': tensor '", current.name, "' at bytes [", current.begin,
                              ", ", current.end, ") overlaps tensor '", previous.name, "' at [", previous.begin, ", ",
                              previous.end, ")");
    }

    // Every size is now bounded by the file's length, so allocating is safe.
    std::vector<unsigned char> scratch;
    for (const Entry& entry : entries) {
        Tensor tensor = Tensor::empty(entry.shape);
        const uint64_t bytes = entry.end - entry.begin;
        if (entry.dtype->dtype == Dtype::f32) {
            read_exact(fd.get(), path, buffer_start + entry.begin, tensor.data(), bytes);
        } else {
            scratch.resize(static_cast<size_t>(bytes));
            read_exact(fd.get(), path, buffer_start + entry.begin, scratch.data(), bytes);
            convert_to_float(entry.dtype->dtype, scratch.data(), entry.numel, tensor.data());
        }
        result.tensors.emplace(entry.name, std::move(tensor));
    }
    return result;
}

// ---------------------------------------------------------------------------------------------
// writing

namespace {

void write_all(int fd, const std::string& path, const void* source, uint64_t count) {
    const auto* in = static_cast<const unsigned char*>(source);
    while (count > 0) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(count, uint64_t(1) << 30));
        const ssize_t written = ::write(fd, in, chunk);
        if (written < 0) {
            if (errno == EINTR) continue;
            fail<IoError>("save_safetensors: writing '", path, "': ", errno_text(errno));
        }
        in += written;
        count -= static_cast<uint64_t>(written);
    }
}

std::string directory_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// Removes the temporary file unless the save got as far as renaming it.
class TemporaryFile {
public:
    explicit TemporaryFile(std::string path) : path_(std::move(path)) {}
    ~TemporaryFile() {
        if (!committed_) ::unlink(path_.c_str());
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;
    const std::string& path() const { return path_; }
    void commit() { committed_ = true; }

private:
    std::string path_;
    bool committed_ = false;
};

}  // namespace

void save_safetensors(const std::string& path, const TensorFile& file) {
    // Build the header first: a bad input fails before any file is touched.
    Json header = Json::object();
    if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
    std::vector<Tensor> contiguous;  // in data order: std::map iterates names sorted
    uint64_t offset = 0;
    for (const auto& [name, tensor] : file.tensors) {
        if (name == "__metadata__") fail<ValueError>("save_safetensors: '", path, "': a tensor may not be named __metadata__");
        if (!tensor.defined()) fail<ValueError>("save_safetensors: '", path, "': tensor '", name, "' is undefined");
        const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * sizeof(float);
        header[name] = {{"dtype", "F32"}, {"shape", tensor.shape()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
        contiguous.push_back(tensor.contiguous());
    }
    std::string header_text;
    try {
        header_text = header.dump();
    } catch (const Json::exception& error) {
        fail<ValueError>("save_safetensors: '", path, "': cannot encode the header (names and metadata must be UTF-8): ",
                         error.what());
    }
    // Spaces up to a multiple of 8, so the data buffer starts 8-byte aligned.
    header_text.append((8 - header_text.size() % 8) % 8, ' ');
    unsigned char length_field[8];
    for (int i = 0; i < 8; ++i) length_field[i] = static_cast<unsigned char>(uint64_t(header_text.size()) >> (8 * i));

    TemporaryFile temporary(path + ".tmp." + std::to_string(::getpid()));
    {
        FileDescriptor fd(::open(temporary.path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (fd.get() < 0)
            fail<IoError>("save_safetensors: cannot create '", temporary.path(), "': ", errno_text(errno));
        write_all(fd.get(), temporary.path(), length_field, 8);
        write_all(fd.get(), temporary.path(), header_text.data(), header_text.size());
        for (const Tensor& tensor : contiguous)
            write_all(fd.get(), temporary.path(), tensor.data(), static_cast<uint64_t>(tensor.numel()) * sizeof(float));
        if (::fsync(fd.get()) != 0)
            fail<IoError>("save_safetensors: cannot sync '", temporary.path(), "': ", errno_text(errno));
        if (fd.close_now() != 0)
            fail<IoError>("save_safetensors: cannot close '", temporary.path(), "': ", errno_text(errno));
    }
    if (::rename(temporary.path().c_str(), path.c_str()) != 0)
        fail<IoError>("save_safetensors: cannot rename '", temporary.path(), "' to '", path, "': ", errno_text(errno));
    temporary.commit();

    // Make the rename itself durable. Some file systems cannot sync a directory (EINVAL); the
    // data is in place either way, so only a real I/O error is reported.
    const std::string directory = directory_of(path);
    FileDescriptor directory_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (directory_fd.get() >= 0 && ::fsync(directory_fd.get()) != 0 && errno == EIO)
        fail<IoError>("save_safetensors: '", path, "' was written but syncing directory '", directory,
                      "' failed: ", errno_text(errno));
}

}  // namespace proact::core
