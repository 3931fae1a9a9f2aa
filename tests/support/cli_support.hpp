// What the command-line tests share: run the built `proact` with its output captured, read
// files back, and write a tiny Fashion-MNIST-shaped IDX data set a LeNet learns from in an epoch.
// PROACT_BINARY is the path of the built command line (CMakeLists.txt).
#pragma once

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace proact::test {

struct Run {
    int exit_code = -1;
    std::string out, err;
};

inline std::string read_text(const std::string& path) {
    const std::vector<unsigned char> bytes = read_bytes(path);
    return {bytes.begin(), bytes.end()};
}

// Runs `proact ARGUMENTS` with stdout and stderr captured in files of `dir`, after `shell_prefix`
// (a ulimit, say) in the same shell.
inline Run run_proact(const TempDir& dir, const std::string& arguments, const std::string& shell_prefix = "") {
    const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
    std::string command = shell_prefix;
    command += "'";
    command += PROACT_BINARY;
    command += "' " + arguments + " >" + out + " 2>" + err;
    const int status = std::system(command.c_str());
    Run run;
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = read_text(out);
    run.err = read_text(err);
    return run;
}

inline void put_u32(std::vector<unsigned char>& bytes, uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<unsigned char>(value >> shift));
}

inline void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

inline void write_file(const std::string& path, const std::vector<unsigned char>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Fashion-MNIST-shaped IDX files (28x28, 10 classes) whose brightness follows the label, so a
// LeNet learns something in one epoch.
inline void write_idx_split(const TempDir& dir, const std::string& prefix, uint32_t count) {
    std::vector<unsigned char> images, labels;
    put_u32(images, 0x00000803);
    put_u32(images, count);
    put_u32(images, 28);
    put_u32(images, 28);
    put_u32(labels, 0x00000801);
    put_u32(labels, count);
    for (uint32_t i = 0; i < count; ++i) {
        const uint32_t label = i % 10;
        labels.push_back(static_cast<unsigned char>(label));
        for (uint32_t pixel = 0; pixel < 28 * 28; ++pixel)
            images.push_back(static_cast<unsigned char>(label * 20 + (pixel * 7 + i * 13) % 40));
    }
    write_file(dir.file(prefix + "-images-idx3-ubyte"), images);
    write_file(dir.file(prefix + "-labels-idx1-ubyte"), labels);
}

inline int count_lines(const std::string& text) {
    int lines = 0;
    for (char c : text) lines += c == '\n';
    return lines;
}

inline const std::string kQuiet = " --quiet --threads 1";

}  // namespace proact::test
