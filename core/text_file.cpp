#include "core/text_file.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace proact::core {

void write_text_file(const std::string& path, const std::string& text) {
    const std::filesystem::path target(path);
    if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) fail<IoError>("cannot write '", temporary, "'");
        out << text;
        out.flush();
        if (!out) {
            std::filesystem::remove(temporary);
            fail<IoError>("cannot write '", temporary, "'");
        }
    }
    std::error_code error;
    std::filesystem::rename(temporary, target, error);
    if (error) {
        std::filesystem::remove(temporary);
        fail<IoError>("cannot rename '", temporary, "' to '", path, "': ", error.message());
    }
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail<IoError>("cannot read '", path, "'");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) fail<IoError>("cannot read '", path, "'");
    return text.str();
}

}  // namespace proact::core
