#include "core/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "core/error.hpp"

namespace proact::core {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// Removes the temporary file unless it was renamed into place: a failed write leaves no stray file.
class TemporaryFile {
public:
    explicit TemporaryFile(std::string path) : path_(std::move(path)) {}
    ~TemporaryFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(path_.c_str());
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    void write(std::string_view bytes) {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) fail<IoError>("cannot create '", path_, "': ", errno_text(errno));
        size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t written = ::write(fd_, bytes.data() + done, bytes.size() - done);
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) fail<IoError>("cannot write '", path_, "': ", errno_text(errno));
            done += static_cast<size_t>(written);
        }
        // On disk before the rename: after a crash the target holds the old bytes or the new ones,
        // never a file the rename made visible before its data.
        if (::fsync(fd_) != 0) fail<IoError>("cannot sync '", path_, "': ", errno_text(errno));
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) fail<IoError>("cannot close '", path_, "': ", errno_text(errno));
    }
    void rename_to(const std::string& target) {
        if (::rename(path_.c_str(), target.c_str()) != 0)
            fail<IoError>("cannot rename '", path_, "' to '", target, "': ", errno_text(errno));
        committed_ = true;
    }

private:
    std::string path_;
    int fd_ = -1;
    bool committed_ = false;
};

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes) {
    const std::filesystem::path target(path);
    std::error_code error;  // a missing target is no error: is_directory is then false
    if (std::filesystem::is_directory(target, error))
        fail<IoError>("cannot write '", path, "': it is a folder");
    error.clear();
    if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), error);
    if (error) fail<IoError>("cannot create folder '", target.parent_path().string(), "': ", error.message());
    // One temporary name per process: two processes writing the same output never share one.
    TemporaryFile temporary(path + ".tmp." + std::to_string(::getpid()));
    temporary.write(bytes);
    temporary.rename_to(path);
    // Make the rename itself durable. Some file systems cannot sync a folder (EINVAL); the data is
    // in place either way, so only a real I/O error is reported.
    const std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
    const int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder_fd >= 0) {
        const bool failed = ::fsync(folder_fd) != 0 && errno == EIO;
        ::close(folder_fd);
        if (failed) fail<IoError>("'", path, "' was written but syncing folder '", folder, "' failed");
    }
}

// ---------------------------------------------------------------------------------------------
// InputFile

namespace {

const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

}  // namespace

InputFile::InputFile(std::string path, std::string reader) : path_(std::move(path)), reader_(std::move(reader)) {
    // stat before open: opening a FIFO would block, and opening some devices has side effects.
    struct stat status {};
    if (::stat(path_.c_str(), &status) != 0) {
        const int error = errno;
        if (error == ELOOP)
            fail<IoError>(reader_, ": '", path_, "' is a loop of symbolic links (", std::strerror(error), ")");
        fail<IoError>(reader_, ": cannot open '", path_, "': ", std::strerror(error));
    }
    if (!S_ISREG(status.st_mode))
        fail<IoError>(reader_, ": '", path_, "' is ", kind_of(status.st_mode), ", expected a regular file");
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd_ < 0) fail<IoError>(reader_, ": cannot open '", path_, "': ", std::strerror(errno));
    const int stat_result = ::fstat(fd_, &status);
    const int error = errno;
    if (stat_result != 0 || !S_ISREG(status.st_mode)) {
        ::close(fd_);
        if (stat_result != 0) fail<IoError>(reader_, ": cannot stat '", path_, "': ", std::strerror(error));
        fail<IoError>(reader_, ": '", path_, "' is ", kind_of(status.st_mode), ", expected a regular file");
    }
    size_ = static_cast<uint64_t>(status.st_size);
}

InputFile::~InputFile() {
    if (fd_ >= 0) ::close(fd_);
}

void InputFile::read_at(uint64_t offset, void* destination, uint64_t count) const {
    auto* out = static_cast<unsigned char*>(destination);
    while (count > 0) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(count, uint64_t(1) << 30));
        const ssize_t got = ::pread(fd_, out, chunk, static_cast<off_t>(offset));
        if (got < 0) {
            if (errno == EINTR) continue;
            fail<IoError>(reader_, ": reading '", path_, "' at byte ", offset, ": ", std::strerror(errno));
        }
        if (got == 0)
            fail<FormatError>(reader_, ": '", path_, "' ended at byte ", offset, " while ", count,
                              " more bytes were expected (file shrank while being read?)");
        out += got;
        offset += static_cast<uint64_t>(got);
        count -= static_cast<uint64_t>(got);
    }
}

std::string read_file(const std::string& path, uint64_t max_bytes) {
    const InputFile file(path, "read_file");
    if (file.size() > max_bytes)
        fail<IoError>("read_file: '", path, "' is ", file.size(), " bytes long, more than the limit of ", max_bytes,
                      " bytes");
    std::string bytes(static_cast<size_t>(file.size()), '\0');
    file.read_at(0, bytes.data(), bytes.size());
    return bytes;
}

// ---------------------------------------------------------------------------------------------
// JSON

using Json = nlohmann::json;

Json parse_json(std::string_view text, const std::string& source, const JsonLimits& limits) {
    if (text.size() > limits.max_bytes)
        fail<FormatError>(source, ": ", text.size(), " bytes of JSON, more than the limit of ", limits.max_bytes);
    // The parser calls back for every token; it is iterative itself, so refusing at the limit
    // keeps the result shallow before anything recurses over it. One key set per open object.
    std::vector<std::set<std::string>> keys;
    int depth = 0;
    const Json::parser_callback_t check = [&](int, Json::parse_event_t event, Json& parsed) {
        switch (event) {
            case Json::parse_event_t::object_start:
            case Json::parse_event_t::array_start:
                if (++depth > limits.max_depth)
                    fail<FormatError>(source, ": JSON nested deeper than ", limits.max_depth, " levels");
                if (event == Json::parse_event_t::object_start) keys.emplace_back();
                break;
            case Json::parse_event_t::object_end:
                keys.pop_back();
                --depth;
                break;
            case Json::parse_event_t::array_end: --depth; break;
            case Json::parse_event_t::key:
                if (!keys.back().insert(parsed.get<std::string>()).second)
                    fail<FormatError>(source, ": key '", excerpt(parsed.get<std::string>()),
                                      "' appears twice in one JSON object");
                break;
            case Json::parse_event_t::value: break;
        }
        return true;
    };
    try {
        return Json::parse(text.begin(), text.end(), check);
    } catch (const Json::exception& error) {
        fail<FormatError>(source, ": not valid JSON (", excerpt(error.what(), 200), ")");
    }
}

namespace {

int64_t json_integer(const Json& value, int64_t min, int64_t max, const std::string& where) {
    if (value.is_number_unsigned()) {
        const uint64_t number = value.get<uint64_t>();
        if (max >= 0 && number <= static_cast<uint64_t>(max) && static_cast<int64_t>(number) >= min)
            return static_cast<int64_t>(number);
        fail<FormatError>(where, " is ", number, ", expected an integer in [", min, ", ", max, "]");
    }
    if (value.is_number_integer()) {
        const int64_t number = value.get<int64_t>();
        if (number >= min && number <= max) return number;
        fail<FormatError>(where, " is ", number, ", expected an integer in [", min, ", ", max, "]");
    }
    if (value.is_number_float())
        fail<FormatError>(where, " is ", value.get<double>(), ", expected an integer in [", min, ", ", max, "]");
    fail<FormatError>(where, " is a JSON ", value.type_name(), ", expected an integer in [", min, ", ", max, "]");
}

std::string json_string(const Json& value, size_t max_bytes, const std::string& where) {
    if (!value.is_string()) fail<FormatError>(where, " is a JSON ", value.type_name(), ", expected a string");
    const std::string& text = value.get_ref<const std::string&>();
    if (text.size() > max_bytes)
        fail<FormatError>(where, " is a string of ", text.size(), " bytes ('", excerpt(text), "'), expected at most ",
                          max_bytes);
    return text;
}

}  // namespace

std::string JsonFields::where(const std::string& key) const { return source + ": '" + prefix + key + "'"; }

const Json& JsonFields::get(const char* key) const {
    const std::string object_name = prefix.empty() ? source : source + ": '" + prefix.substr(0, prefix.size() - 1) + "'";
    if (!object.is_object())
        fail<FormatError>(object_name, " is a JSON ", object.type_name(), ", expected an object with '", key, "'");
    const auto found = object.find(key);
    if (found == object.end()) fail<FormatError>(object_name, ": field '", key, "' is missing");
    return *found;
}

int64_t JsonFields::integer(const char* key, int64_t min, int64_t max) const {
    return json_integer(get(key), min, max, where(key));
}

uint64_t JsonFields::unsigned_integer(const char* key) const {
    const Json& value = get(key);
    if (!value.is_number_unsigned())
        fail<FormatError>(where(key), " is ", excerpt(value.is_number() ? value.dump() : value.type_name()),
                          ", expected a non-negative integer");
    return value.get<uint64_t>();
}

double JsonFields::number(const char* key, double min, double max) const {
    const Json& value = get(key);
    if (!value.is_number()) fail<FormatError>(where(key), " is a JSON ", value.type_name(), ", expected a number");
    const double number = value.get<double>();
    if (!(number >= min && number <= max))
        fail<FormatError>(where(key), " is ", number, ", expected a number in [", min, ", ", max, "]");
    return number;
}

bool JsonFields::boolean(const char* key) const {
    const Json& value = get(key);
    if (!value.is_boolean()) fail<FormatError>(where(key), " is a JSON ", value.type_name(), ", expected true or false");
    return value.get<bool>();
}

std::string JsonFields::text(const char* key, size_t max_bytes) const { return json_string(get(key), max_bytes, where(key)); }

const Json& JsonFields::array(const char* key, size_t max_size) const {
    const Json& value = get(key);
    if (!value.is_array()) fail<FormatError>(where(key), " is a JSON ", value.type_name(), ", expected an array");
    if (value.size() > max_size)
        fail<FormatError>(where(key), " holds ", value.size(), " elements, expected at most ", max_size);
    return value;
}

std::vector<std::string> JsonFields::texts(const char* key, size_t max_count, size_t max_bytes) const {
    std::vector<std::string> values;
    const Json& elements = array(key, max_count);
    for (size_t i = 0; i < elements.size(); ++i)
        values.push_back(json_string(elements[i], max_bytes, where(key + ("[" + std::to_string(i) + "]"))));
    return values;
}

std::vector<int64_t> JsonFields::integers(const char* key, size_t max_count, int64_t min, int64_t max) const {
    std::vector<int64_t> values;
    const Json& elements = array(key, max_count);
    for (size_t i = 0; i < elements.size(); ++i)
        values.push_back(json_integer(elements[i], min, max, where(key + ("[" + std::to_string(i) + "]"))));
    return values;
}

}  // namespace proact::core
