#include "core/file_io.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace proact::core {

void write_file_atomically(const std::string& path, std::string_view bytes) {
    const std::filesystem::path target(path);
    std::error_code error;
    if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), error);
    if (error) fail<IoError>("cannot create folder '", target.parent_path().string(), "': ", error.message());
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) fail<IoError>("cannot write '", temporary, "'");
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            std::filesystem::remove(temporary, error);
            fail<IoError>("cannot write '", temporary, "'");
        }
    }
    std::filesystem::rename(temporary, target, error);
    if (error) {
        const std::string reason = error.message();
        std::filesystem::remove(temporary, error);
        fail<IoError>("cannot rename '", temporary, "' to '", path, "': ", reason);
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail<IoError>("cannot read '", path, "'");
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) fail<IoError>("cannot read '", path, "'");
    return bytes.str();
}

}  // namespace proact::core
