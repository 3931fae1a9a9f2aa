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
#include <set>
#include <vector>

#include "core/file_io.hpp"

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
    uint64_t numel = 1;
    uint64_t extent = 1;  // product of max(size, 1), which contiguous strides reach
    std::vector<uint64_t> offsets;
    bool has_dtype = false, has_shape = false, has_offsets = false;
    uint64_t begin() const { return offsets[0]; }
    uint64_t end() const { return offsets[1]; }
};

// The header, read token by token (nlohmann's SAX interface) into entries and metadata. The
// layout is fixed, so every token is checked against where it may appear and anything else is
// refused at once: nesting never goes deeper than the layout (a header of a million '[' fails at
// the fourth), no tree of the whole header is built, and a repeated name is seen (a JSON object
// keeps only the last). Messages quote names and strings of the file by excerpt only.
class HeaderReader {
public:
    HeaderReader(std::string where, uint64_t buffer_bytes) : where_(std::move(where)), buffer_bytes_(buffer_bytes) {}

    std::vector<Entry> entries;
    std::map<std::string, std::string> metadata;

    // nlohmann's SAX callbacks; each returns true to go on (errors throw).
    bool null() { return scalar("null"); }
    bool boolean(bool) { return scalar("boolean"); }
    bool number_integer(int64_t value) {
        if (place_ == Place::shape)
            fail<FormatError>(tensor(), " has negative size ", value, " in shape ", shape_str(current_.shape), "+");
        return scalar("number");
    }
    bool number_unsigned(uint64_t value) {
        if (place_ == Place::shape) {
            if (current_.shape.size() == kSafetensorsMaxRank)
                fail<FormatError>(tensor(), ": shape has more than ", kSafetensorsMaxRank, " axes");
            if (!checked_multiply(current_.numel, value, current_.numel) ||
                !checked_multiply(current_.extent, std::max<uint64_t>(value, 1), current_.extent))
                fail<FormatError>(tensor(), ": shape ", shape_str(current_.shape), "+[", value,
                                  "] has more elements than fit in an int64");
            current_.shape.push_back(static_cast<int64_t>(value));
            return true;
        }
        if (place_ == Place::offsets && current_.offsets.size() < 2) {
            current_.offsets.push_back(value);
            return true;
        }
        return scalar("number");
    }
    bool number_float(double, const std::string&) { return scalar("number"); }
    bool binary(nlohmann::json::binary_t&) { return scalar("binary"); }
    bool string(std::string& value) {
        if (place_ == Place::entry && field_ == "dtype") {
            current_.dtype = find_dtype(value);
            if (!current_.dtype)
                fail<FormatError>(tensor(), " has dtype '", excerpt(value), "', expected one of ", accepted_dtypes());
            return true;
        }
        if (place_ == Place::metadata) {
            if (value.size() > kSafetensorsMaxMetadataBytes)
                fail<FormatError>(where_, ": __metadata__ entry '", excerpt(key_), "' holds ", value.size(),
                                  " bytes, more than the limit of ", kSafetensorsMaxMetadataBytes);
            metadata[key_] = std::move(value);
            return true;
        }
        return scalar("string");
    }
    bool start_object(size_t) {
        if (place_ == Place::start) return enter(Place::top);
        if (place_ == Place::top) {
            if (key_ == "__metadata__") return enter(Place::metadata);
            current_ = Entry{};
            current_.name = key_;
            return enter(Place::entry);
        }
        return scalar("object");
    }
    bool key(std::string& name) {
        if (name.size() > kSafetensorsMaxNameBytes)
            fail<FormatError>(where_, ": name '", excerpt(name), "' is ", name.size(), " bytes long, more than the limit of ",
                              kSafetensorsMaxNameBytes);
        if (place_ == Place::entry) {
            bool* seen = name == "dtype" ? &current_.has_dtype : name == "shape" ? &current_.has_shape
                       : name == "data_offsets" ? &current_.has_offsets : nullptr;
            if (!seen)
                fail<FormatError>(tensor(), " has field '", excerpt(name), "', expected only dtype, shape and data_offsets");
            if (*seen) fail<FormatError>(tensor(), " has two \"", name, "\" fields");
            *seen = true;
            field_ = name;
            return true;
        }
        std::set<std::string>& seen = place_ == Place::top ? names_ : metadata_keys_;
        if (!seen.insert(name).second)
            fail<FormatError>(where_, ": ", place_ == Place::top ? "name '" : "__metadata__ key '", excerpt(name),
                              "' appears twice in the header");
        key_ = std::move(name);
        return true;
    }
    bool end_object() {
        if (place_ == Place::entry) finish_entry();
        place_ = place_ == Place::top ? Place::done : Place::top;
        return true;
    }
    bool start_array(size_t) {
        if (place_ == Place::entry && field_ == "shape") return enter(Place::shape);
        if (place_ == Place::entry && field_ == "data_offsets") return enter(Place::offsets);
        return scalar("array");
    }
    bool end_array() {
        if (place_ == Place::offsets && current_.offsets.size() != 2) scalar("array");
        place_ = Place::entry;
        return true;
    }
    bool parse_error(size_t, const std::string&, const nlohmann::json::exception& error) {
        fail<FormatError>(where_, ": header is not valid JSON: ", excerpt(error.what(), 200));
    }

private:
    enum class Place { start, top, entry, metadata, shape, offsets, done };

    std::string tensor() const { return where_ + ": tensor '" + excerpt(current_.name) + "'"; }

    bool enter(Place place) {
        place_ = place;
        return true;
    }

    // A value of JSON type `type` where the layout has no place for it.
    bool scalar(const char* type) {
        switch (place_) {
            case Place::start:
            case Place::done: fail<FormatError>(where_, ": header is a JSON ", type, ", expected an object");
            case Place::top:
                if (key_ == "__metadata__")
                    fail<FormatError>(where_, ": __metadata__ is a JSON ", type, ", expected an object of strings");
                fail<FormatError>(where_, ": tensor '", excerpt(key_), "' is a JSON ", type, ", expected an object");
            case Place::metadata:
                fail<FormatError>(where_, ": __metadata__ entry '", excerpt(key_), "' is a JSON ", type,
                                  ", expected a string");
            case Place::entry:
                if (field_ == "dtype") fail<FormatError>(tensor(), ": dtype is a JSON ", type, ", expected a string");
                if (field_ == "shape") fail<FormatError>(tensor(), ": shape is a JSON ", type, ", expected an array");
                [[fallthrough]];
            case Place::offsets:
                fail<FormatError>(tensor(), ": data_offsets holds a JSON ", type,
                                  " or a wrong count, expected [begin, end] with non-negative integers");
            case Place::shape:
                fail<FormatError>(tensor(), ": shape ", shape_str(current_.shape), "+ holds a JSON ", type,
                                  ", expected non-negative integers");
        }
        return false;
    }

    // Checks a complete entry against the buffer it must fit in.
    void finish_entry() {
        for (const auto& [has, name] : {std::pair{current_.has_dtype, "dtype"}, {current_.has_shape, "shape"},
                                        {current_.has_offsets, "data_offsets"}})
            if (!has) fail<FormatError>(tensor(), " has no \"", name, "\" field");
        const Entry& entry = current_;
        if (entry.begin() > entry.end())
            fail<FormatError>(tensor(), ": data_offsets [", entry.begin(), ", ", entry.end(), "] begin after end");
        if (entry.end() > buffer_bytes_)
            fail<FormatError>(tensor(), ": data_offsets [", entry.begin(), ", ", entry.end(),
                              "] run past the data buffer of ", buffer_bytes_, " bytes");
        uint64_t expected_bytes = 0;
        if (!checked_multiply(entry.numel, entry.dtype->bytes, expected_bytes) ||
            entry.end() - entry.begin() != expected_bytes)
            fail<FormatError>(tensor(), ": shape ", shape_str(entry.shape), " of ", entry.dtype->name, " needs ",
                              entry.numel, " x ", entry.dtype->bytes, " bytes, data_offsets [", entry.begin(), ", ",
                              entry.end(), "] span ", entry.end() - entry.begin());
        entries.push_back(std::move(current_));
    }

    std::string where_;
    uint64_t buffer_bytes_;
    Place place_ = Place::start;
    std::string key_;    // the current name at the top level or in __metadata__
    std::string field_;  // the current field of a tensor entry
    Entry current_;
    std::set<std::string> names_, metadata_keys_;
};

// FormatError unless the tensors' byte ranges tile the data buffer: every byte belongs to exactly
// one tensor (as the reference implementation requires), so no byte is read twice and none hides
// data that no tensor accounts for. Empty tensors own no bytes.
void check_tiling(const std::string& where, const std::vector<Entry>& entries, uint64_t buffer_bytes) {
    std::vector<const Entry*> by_offset;
    for (const Entry& entry : entries)
        if (entry.end() > entry.begin()) by_offset.push_back(&entry);
    std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin() < b->begin(); });
    uint64_t covered = 0;  // bytes [0, covered) belong to the tensors so far
    const Entry* previous = nullptr;
    for (const Entry* current : by_offset) {
        if (current->begin() < covered)
            fail<FormatError>(where, ": tensor '", excerpt(current->name), "' at bytes [", current->begin(), ", ",
                              current->end(), ") overlaps tensor '", excerpt(previous->name), "' at [",
                              previous->begin(), ", ", previous->end(), ")");
        if (current->begin() > covered)
            fail<FormatError>(where, ": bytes [", covered, ", ", current->begin(), ") of the data buffer belong to no ",
                              "tensor (a gap before tensor '", excerpt(current->name), "')");
        covered = current->end();
        previous = current;
    }
    if (covered != buffer_bytes)
        fail<FormatError>(where, ": bytes [", covered, ", ", buffer_bytes, ") of the data buffer belong to no ",
                          "tensor (trailing bytes after the last one)");
}

}  // namespace

TensorFile load_safetensors(const std::string& path) {
    const InputFile file(path, "load_safetensors");
    const std::string where = "load_safetensors: '" + path + "'";
    const uint64_t file_bytes = file.size();
    if (file_bytes < 8)
        fail<FormatError>(where, " is ", file_bytes, " bytes long, shorter than the 8-byte header length field");
    unsigned char length_field[8];
    file.read_at(0, length_field, 8);
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length_field[i];
    if (header_bytes > kSafetensorsMaxHeaderBytes)
        fail<FormatError>(where, ": header length ", header_bytes, " exceeds the limit of ", kSafetensorsMaxHeaderBytes,
                          " bytes");
    if (header_bytes > file_bytes - 8)
        fail<FormatError>(where, ": header length ", header_bytes, " but only ", file_bytes - 8,
                          " bytes follow the length field");

    std::string header_text(static_cast<size_t>(header_bytes), '\0');
    file.read_at(8, header_text.data(), header_bytes);
    const uint64_t buffer_start = 8 + header_bytes;
    const uint64_t buffer_bytes = file_bytes - buffer_start;
    HeaderReader header(where, buffer_bytes);
    nlohmann::json::sax_parse(header_text, &header);
    check_tiling(where, header.entries, buffer_bytes);

    // Every size is now bounded by the file's length, so allocating is safe.
    TensorFile result;
    result.metadata = std::move(header.metadata);
    std::vector<unsigned char> scratch;
    for (const Entry& entry : header.entries) {
        Tensor tensor = Tensor::empty(entry.shape);
        const uint64_t bytes = entry.end() - entry.begin();
        if (entry.dtype->dtype == Dtype::f32) {
            file.read_at(buffer_start + entry.begin(), tensor.data(), bytes);
        } else {
            scratch.resize(static_cast<size_t>(bytes));
            file.read_at(buffer_start + entry.begin(), scratch.data(), bytes);
            convert_to_float(entry.dtype->dtype, scratch.data(), static_cast<int64_t>(entry.numel), tensor.data());
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
