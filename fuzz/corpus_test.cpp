// Every file of fuzz/corpus/<target>/ through the same entry point as its fuzz target
// (entry_points.hpp), in the normal and the sanitizer suite: each input is accepted or refused with
// a core::Error, never another exception or a crash. The corpora hold the seeds and every input a
// fuzz run found crashing, so this is the regression test of both.
#include <doctest/doctest.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz/entry_points.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> bytes_of(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("every corpus file is accepted or refused with a core::Error") {
    const fs::path corpora = fs::path(PROACT_SOURCE_DIR) / "fuzz" / "corpus";
    for (const proact::fuzz::Target& target : proact::fuzz::targets()) {
        CAPTURE(target.name);
        const fs::path folder = corpora / target.name;
        REQUIRE_MESSAGE(fs::is_directory(folder), "no corpus folder for target ", target.name);
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(folder))
            if (entry.is_regular_file()) files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        CHECK_MESSAGE(files.size() >= 3, "corpus of ", target.name, " holds fewer than 3 files");
        for (const fs::path& file : files) {
            CAPTURE(file.string());
            try {
                target.run(bytes_of(file));
            } catch (const std::exception& error) {
                FAIL_CHECK("escaped the entry point: ", error.what());
            }
        }
    }
}

TEST_CASE("every corpus folder belongs to a target") {
    for (const auto& entry : fs::directory_iterator(fs::path(PROACT_SOURCE_DIR) / "fuzz" / "corpus")) {
        CAPTURE(entry.path().string());
        CHECK_NOTHROW(proact::fuzz::target(entry.path().filename().string()));
    }
}
