#include "core/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

std::string read_file(const std::string& path) {
    std::error_code error;
    // A folder opens as a stream on Linux and reads as nothing: say what it is instead.
    if (std::filesystem::is_directory(path, error)) fail<IoError>("cannot read '", path, "': it is a folder");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail<IoError>("cannot read '", path, "'");
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) fail<IoError>("cannot read '", path, "'");
    return bytes.str();
}

}  // namespace proact::core
