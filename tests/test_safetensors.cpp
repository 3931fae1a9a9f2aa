// safetensors: round trips, atomic saves that never destroy the previous file, rejection of every
// kind of corrupt input with a FormatError that says what was wrong (gaps, overlaps, repeated
// names, overlong names included), and dtype conversion on load.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/safetensors.hpp"

#include "support/test_support.hpp"

using namespace proact::core;
namespace fs = std::filesystem;

namespace {

using proact::test::read_bytes;

// A fresh directory per test case, removed afterwards.
struct ScratchDirectory : proact::test::TempDir {
    ScratchDirectory() : proact::test::TempDir("proact_test_safetensors") {}
};


void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// length field + header text (unpadded, as given) + buffer
void write_raw(const std::string& path, const std::string& header, const std::vector<unsigned char>& buffer) {
    std::vector<unsigned char> bytes(8);
    const uint64_t length = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(length >> (8 * i));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.insert(bytes.end(), buffer.begin(), buffer.end());
    write_bytes(path, bytes);
}

template <class T>
void append_le(std::vector<unsigned char>& buffer, T value) {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    for (unsigned char byte : raw) buffer.push_back(byte);
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return false;
    const std::vector<float> va = a.to_vector(), vb = b.to_vector();
    return va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

int temporary_files_in(const fs::path& directory) {
    int count = 0;
    for (const auto& item : fs::directory_iterator(directory))
        if (item.path().filename().string().find(".tmp.") != std::string::npos) ++count;
    return count;
}

TensorFile sample_file(uint64_t seed) {
    Rng rng(seed, "test-safetensors");
    TensorFile file;
    file.tensors["conv.weight"] = Tensor::normal({4, 3, 5, 5}, 0, 1, rng);
    file.tensors["conv.bias"] = Tensor::normal({4}, 0, 1, rng);
    file.tensors["scalar"] = Tensor::scalar(3.5f);
    file.tensors["empty"] = Tensor::zeros({0, 3});
    file.tensors["fc.weight"] = Tensor::normal({3, 7}, 0, 1, rng).transpose(0, 1);  // saved from a strided view
    file.tensors["special"] = Tensor::from_vector(
        {5}, {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
              -std::numeric_limits<float>::infinity(), -0.0f, std::numeric_limits<float>::denorm_min()});
    file.metadata["format"] = "pt";
    file.metadata["seed"] = std::to_string(seed);
    return file;
}

void check_same(const TensorFile& loaded, const TensorFile& expected) {
    CHECK(loaded.metadata == expected.metadata);
    REQUIRE(loaded.tensors.size() == expected.tensors.size());
    for (const auto& entry : expected.tensors) {
        // INFO captures by reference, which clang 14 does not allow for a structured binding.
        const std::string& name = entry.first;
        const Tensor& tensor = entry.second;
        INFO("tensor ", name);
        REQUIRE(loaded.tensors.count(name) == 1);
        CHECK(bitwise_equal(loaded.tensors.at(name), tensor));
    }
}

}  // namespace

TEST_CASE("round trip keeps shapes, values bit for bit, and metadata") {
    ScratchDirectory dir;
    const std::string path = dir.file("model.safetensors");
    const TensorFile original = sample_file(1);
    save_safetensors(path, original);
    const TensorFile loaded = load_safetensors(path);
    check_same(loaded, original);
    CHECK(loaded.tensors.at("scalar").dim() == 0);
    CHECK(loaded.tensors.at("scalar").item() == 3.5f);
    CHECK(loaded.tensors.at("empty").shape() == Shape{0, 3});
    CHECK(loaded.tensors.at("fc.weight").shape() == Shape{7, 3});
    CHECK(temporary_files_in(dir.path) == 0);

    // Overwriting replaces the contents.
    const TensorFile second = sample_file(2);
    save_safetensors(path, second);
    check_same(load_safetensors(path), second);

    // An empty file set is a valid file too.
    save_safetensors(path, TensorFile{});
    const TensorFile nothing = load_safetensors(path);
    CHECK(nothing.tensors.empty());
    CHECK(nothing.metadata.empty());
}

TEST_CASE("written layout: padded header, tensors in sorted-name order without gaps") {
    ScratchDirectory dir;
    const std::string path = dir.file("layout.safetensors");
    save_safetensors(path, sample_file(3));
    const std::vector<unsigned char> bytes = read_bytes(path);
    REQUIRE(bytes.size() >= 8);
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | bytes[i];
    CHECK(header_bytes % 8 == 0);
    REQUIRE(8 + header_bytes <= bytes.size());
    const std::string header_text(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header_bytes));
    CHECK(header_text.front() == '{');
    const auto header = nlohmann::json::parse(header_text);
    CHECK(header["__metadata__"]["format"] == "pt");
    uint64_t expected_begin = 0;
    std::string previous_name;
    for (const auto& [name, entry] : header.items()) {  // nlohmann iterates keys sorted
        if (name == "__metadata__") continue;
        CHECK(name > previous_name);
        previous_name = name;
        CHECK(entry["dtype"] == "F32");
        CHECK(entry["data_offsets"][0].get<uint64_t>() == expected_begin);
        expected_begin = entry["data_offsets"][1].get<uint64_t>();
    }
    CHECK(8 + header_bytes + expected_begin == bytes.size());
}

TEST_CASE("a failed save throws IoError, leaves no temporary file and keeps the previous file") {
    ScratchDirectory dir;
    const std::string path = dir.file("keep.safetensors");
    const TensorFile original = sample_file(4);
    save_safetensors(path, original);
    const std::vector<unsigned char> original_bytes = read_bytes(path);
    TensorFile bigger;
    bigger.tensors["big"] = Tensor::full({100000}, 1.0f);

    SUBCASE("directory does not exist") {
        const std::string missing = dir.file("no_such_directory/model.safetensors");
        CHECK_THROWS_AS(save_safetensors(missing, original), IoError);
        CHECK_FALSE(fs::exists(dir.path / "no_such_directory"));
        CHECK(temporary_files_in(dir.path) == 0);
    }
    SUBCASE("rename fails: the target is a directory") {
        const std::string target = dir.file("a_directory");
        fs::create_directories(fs::path(target) / "child");
        CHECK_THROWS_AS(save_safetensors(target, original), IoError);
        CHECK(fs::is_directory(fs::path(target) / "child"));
        CHECK(temporary_files_in(dir.path) == 0);
    }
    SUBCASE("write fails half way (file size limit)") {
        // RLIMIT_FSIZE makes write() fail with EFBIG after 4 KiB; SIGXFSZ would kill the process.
        struct rlimit saved_limit {};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_limit) == 0);
        struct rlimit small_limit = saved_limit;
        small_limit.rlim_cur = 4096;
        auto* saved_handler = ::signal(SIGXFSZ, SIG_IGN);
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small_limit) == 0);
        bool threw_io_error = false;
        try {
            save_safetensors(path, bigger);
        } catch (const IoError&) {
            threw_io_error = true;
        }
        ::setrlimit(RLIMIT_FSIZE, &saved_limit);
        ::signal(SIGXFSZ, saved_handler);
        CHECK(threw_io_error);
        CHECK(read_bytes(path) == original_bytes);
        check_same(load_safetensors(path), original);
        CHECK(temporary_files_in(dir.path) == 0);
    }
    SUBCASE("directory not writable") {
        fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec, fs::perm_options::replace);
        const bool can_still_write = ::access(dir.path.c_str(), W_OK) == 0;  // true for root
        if (can_still_write) {
            MESSAGE("running with privileges that ignore directory permissions; skipping");
        } else {
            CHECK_THROWS_AS(save_safetensors(path, bigger), IoError);
            check_same(load_safetensors(path), original);
            CHECK(temporary_files_in(dir.path) == 0);
        }
        fs::permissions(dir.path, fs::perms::owner_all, fs::perm_options::replace);
    }
    SUBCASE("bad input is rejected before the file is touched") {
        TensorFile bad = sample_file(5);
        bad.tensors["undefined"] = Tensor();
        CHECK_THROWS_AS(save_safetensors(path, bad), ValueError);
        TensorFile reserved;
        reserved.tensors["__metadata__"] = Tensor::zeros({1});
        CHECK_THROWS_AS(save_safetensors(path, reserved), ValueError);
        TensorFile not_utf8;
        not_utf8.tensors["bad\xff"] = Tensor::zeros({1});
        CHECK_THROWS_AS(save_safetensors(path, not_utf8), ValueError);
        CHECK(read_bytes(path) == original_bytes);
        CHECK(temporary_files_in(dir.path) == 0);
    }
}

TEST_CASE("missing or unreadable files are IoError") {
    ScratchDirectory dir;
    CHECK_THROWS_AS(load_safetensors(dir.file("absent.safetensors")), IoError);
    CHECK_THROWS_AS(load_safetensors(dir.path.string()), IoError);
}

TEST_CASE("corrupt files are FormatError naming the file and the problem") {
    ScratchDirectory dir;
    const std::string path = dir.file("corrupt.safetensors");
    const std::vector<unsigned char> floats_16(16, 0);  // room for four F32 values

#define CHECK_FORMAT_ERROR(text)                                                                  \
    do {                                                                                          \
        CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(text), FormatError);       \
        CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("corrupt.safetensors"), FormatError); \
    } while (0)

    SUBCASE("shorter than the length field") {
        write_bytes(path, {1, 2, 3, 4, 5});
        CHECK_FORMAT_ERROR("is 5 bytes long, shorter than the 8-byte");
        write_bytes(path, {});
        CHECK_FORMAT_ERROR("is 0 bytes long");
    }
    SUBCASE("truncated valid file") {
        save_safetensors(path, sample_file(6));
        std::vector<unsigned char> bytes = read_bytes(path);
        SUBCASE("inside the data buffer") {
            bytes.resize(bytes.size() - 4);
            write_bytes(path, bytes);
            CHECK_FORMAT_ERROR("run past the data buffer");
        }
        SUBCASE("inside the header") {
            bytes.resize(20);
            write_bytes(path, bytes);
            CHECK_FORMAT_ERROR("but only 12 bytes follow the length field");
        }
    }
    SUBCASE("absurd header length") {
        std::vector<unsigned char> bytes = {0, 0, 0, 0, 0, 0, 0, 0x40, '{', '}'};
        write_bytes(path, bytes);
        CHECK_FORMAT_ERROR("exceeds the limit of 100000000 bytes");
    }
    SUBCASE("corrupted header byte in a valid file") {
        save_safetensors(path, sample_file(7));
        std::vector<unsigned char> bytes = read_bytes(path);
        bytes[8] = 'x';  // the opening brace
        write_bytes(path, bytes);
        CHECK_FORMAT_ERROR("header is not valid JSON");
    }
    SUBCASE("JSON that does not parse") {
        write_raw(path, "{\"a\": {\"dtype\": ", floats_16);
        CHECK_FORMAT_ERROR("header is not valid JSON");
        write_raw(path, "{\"bad\xff\": 1}", floats_16);
        CHECK_FORMAT_ERROR("header is not valid JSON");
    }
    SUBCASE("header is not an object") {
        write_raw(path, "[1, 2]", floats_16);
        CHECK_FORMAT_ERROR("header is a JSON array, expected an object");
    }
    SUBCASE("entry is not an object") {
        write_raw(path, R"({"w": 5})", floats_16);
        CHECK_FORMAT_ERROR("tensor 'w' is a JSON number, expected an object");
    }
    SUBCASE("missing fields") {
        write_raw(path, R"({"w": {"shape": [4], "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("tensor 'w' has no \"dtype\" field");
        write_raw(path, R"({"w": {"dtype": "F32", "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("tensor 'w' has no \"shape\" field");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [4]}})", floats_16);
        CHECK_FORMAT_ERROR("tensor 'w' has no \"data_offsets\" field");
    }
    SUBCASE("unknown dtype") {
        write_raw(path, R"({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})", floats_16);
        CHECK_FORMAT_ERROR("has dtype 'F8_E4M3', expected one of F32, F64");
        write_raw(path, R"({"w": {"dtype": 32, "shape": [4], "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("dtype is a JSON number, expected a string");
    }
    SUBCASE("bad shapes") {
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [2, -2], "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("has negative size -2 in shape [2]+");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("expected non-negative integers");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("shape is a JSON number, expected an array");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}})",
                  floats_16);
        CHECK_FORMAT_ERROR("more elements than fit in an int64");
        // A zero-sized axis next to enormous ones would overflow contiguous strides.
        write_raw(path,
                  R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]}})",
                  floats_16);
        CHECK_FORMAT_ERROR("more elements than fit in an int64");
    }
    SUBCASE("bad offsets") {
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [4, 20]}})", floats_16);
        CHECK_FORMAT_ERROR("data_offsets [4, 20] run past the data buffer of 16 bytes");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", floats_16);
        CHECK_FORMAT_ERROR("begin after end");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("needs 3 x 4 bytes, data_offsets [0, 16] span 16");
        write_raw(path, R"({"w": {"dtype": "F64", "shape": [4], "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("needs 4 x 8 bytes");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}})", floats_16);
        CHECK_FORMAT_ERROR("expected [begin, end]");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", floats_16);
        CHECK_FORMAT_ERROR("expected [begin, end]");
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 18446744073709551615]}})",
                  floats_16);
        CHECK_FORMAT_ERROR("run past the data buffer");
    }
    SUBCASE("overlapping tensors") {
        write_raw(path,
                  R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                      "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                  floats_16);
        CHECK_FORMAT_ERROR("tensor 'b' at bytes [8, 16) overlaps tensor 'a' at [0, 12)");
        // Empty tensors occupy no bytes and may sit anywhere inside the buffer.
        write_raw(path,
                  R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                      "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [8, 8]}})",
                  floats_16);
        const TensorFile file = load_safetensors(path);
        CHECK(file.tensors.at("e").shape() == Shape{0, 3});
    }
    SUBCASE("every byte of the data buffer belongs to exactly one tensor") {
        write_raw(path,
                  R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                      "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                  floats_16);
        CHECK_FORMAT_ERROR("bytes [4, 8) of the data buffer belong to no tensor (a gap before tensor 'b')");
        write_raw(path, R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}})", floats_16);
        CHECK_FORMAT_ERROR("bytes [12, 16) of the data buffer belong to no tensor (trailing bytes");
        write_raw(path, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
                            "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("bytes [0, 4) of the data buffer belong to no tensor");
    }
    SUBCASE("repeated names and fields, unknown fields, too many axes, overlong names") {
        write_raw(path, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                            "a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("name 'a' appears twice in the header");
        write_raw(path, R"({"__metadata__": {"k": "1", "k": "2"}, "a": {"dtype": "F32", "shape": [4],
                            "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("__metadata__ key 'k' appears twice");
        write_raw(path, R"({"a": {"dtype": "F32", "dtype": "F64", "shape": [4], "data_offsets": [0, 16]}})", floats_16);
        CHECK_FORMAT_ERROR("tensor 'a' has two \"dtype\" fields");
        write_raw(path, R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16], "x": 1}})", floats_16);
        CHECK_FORMAT_ERROR("tensor 'a' has field 'x', expected only dtype, shape and data_offsets");
        std::string shape = "[1";
        for (int axis = 1; axis < 65; ++axis) shape += ",1";
        write_raw(path, R"({"a": {"dtype": "F32", "shape": )" + shape + R"(], "data_offsets": [0, 4]}})", floats_16);
        CHECK_FORMAT_ERROR("shape has more than 64 axes");
        const std::string long_name(5000, 'n');
        write_raw(path, R"({")" + long_name + R"(": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
                  floats_16);
        CHECK_FORMAT_ERROR("is 5000 bytes long, more than the limit of 1024");
        const std::string message = proact::test::message_of<FormatError>([&] { load_safetensors(path); });
        CHECK(message.size() < 400);  // quoted by excerpt only
    }
    SUBCASE("bad metadata") {
        write_raw(path, R"({"__metadata__": {"epochs": 3}})", {});
        CHECK_FORMAT_ERROR("__metadata__ entry 'epochs' is a JSON number, expected a string");
        write_raw(path, R"({"__metadata__": "hello"})", {});
        CHECK_FORMAT_ERROR("__metadata__ is a JSON string");
    }
#undef CHECK_FORMAT_ERROR
}

TEST_CASE("other dtypes are converted to float32 on load") {
    ScratchDirectory dir;
    const std::string path = dir.file("dtypes.safetensors");
    std::vector<unsigned char> buffer;
    // F64 [2]: 0.1 rounds to the nearest float; 1e300 overflows to infinity
    append_le<double>(buffer, 0.1);
    append_le<double>(buffer, -1e300);
    // I64 [3]: BatchNorm's num_batches_tracked is stored like this
    append_le<int64_t>(buffer, 0);
    append_le<int64_t>(buffer, -5);
    append_le<int64_t>(buffer, int64_t(1) << 40);
    // F16 [6]: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), inf, 0.333 (0x3555)
    for (uint16_t half : {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555}) append_le<uint16_t>(buffer, half);
    // BF16 [2]: 1, -3.5
    for (uint16_t bf16 : {0x3F80, 0xC060}) append_le<uint16_t>(buffer, bf16);
    // I32 [1], I8 [2], U8 [2], BOOL [2]
    append_le<int32_t>(buffer, -123456);
    append_le<int8_t>(buffer, -128);
    append_le<int8_t>(buffer, 127);
    append_le<uint8_t>(buffer, 255);
    append_le<uint8_t>(buffer, 7);
    append_le<uint8_t>(buffer, 1);
    append_le<uint8_t>(buffer, 0);
    const std::string header = R"({
        "__metadata__": {"format": "pt"},
        "f64": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
        "i64": {"dtype": "I64", "shape": [3], "data_offsets": [16, 40]},
        "f16": {"dtype": "F16", "shape": [2, 3], "data_offsets": [40, 52]},
        "bf16": {"dtype": "BF16", "shape": [2], "data_offsets": [52, 56]},
        "i32": {"dtype": "I32", "shape": [], "data_offsets": [56, 60]},
        "i8": {"dtype": "I8", "shape": [2], "data_offsets": [60, 62]},
        "u8": {"dtype": "U8", "shape": [2], "data_offsets": [62, 64]},
        "bool": {"dtype": "BOOL", "shape": [2], "data_offsets": [64, 66]}
    }   )";
    write_raw(path, header, buffer);
    const TensorFile file = load_safetensors(path);
    CHECK(file.metadata.at("format") == "pt");
    const auto& t = file.tensors;
    CHECK(t.at("f64").to_vector() == std::vector<float>{0.1f, -std::numeric_limits<float>::infinity()});
    CHECK(t.at("i64").to_vector() == std::vector<float>{0.0f, -5.0f, 1099511627776.0f});
    CHECK(t.at("f16").shape() == Shape{2, 3});
    const std::vector<float> f16 = t.at("f16").to_vector();
    CHECK(f16[0] == 1.0f);
    CHECK(f16[1] == -2.0f);
    CHECK(f16[2] == 65504.0f);
    CHECK(f16[3] == std::ldexp(1.0f, -24));
    CHECK(f16[4] == std::numeric_limits<float>::infinity());
    CHECK(f16[5] == 0.33325195f);  // 0x3555 = 1 + 0x155/1024, times 2^-2
    CHECK(t.at("bf16").to_vector() == std::vector<float>{1.0f, -3.5f});
    CHECK(t.at("i32").dim() == 0);
    CHECK(t.at("i32").item() == -123456.0f);
    CHECK(t.at("i8").to_vector() == std::vector<float>{-128.0f, 127.0f});
    CHECK(t.at("u8").to_vector() == std::vector<float>{255.0f, 7.0f});
    CHECK(t.at("bool").to_vector() == std::vector<float>{1.0f, 0.0f});
}

TEST_CASE("F16 NaN keeps its payload bits and negative zero keeps its sign") {
    ScratchDirectory dir;
    const std::string path = dir.file("half.safetensors");
    std::vector<unsigned char> buffer;
    for (uint16_t half : {0x7E01, 0x8000, 0x83FF}) append_le<uint16_t>(buffer, half);
    write_raw(path, R"({"h": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]}})", buffer);
    const std::vector<float> values = load_safetensors(path).tensors.at("h").to_vector();
    CHECK(std::bit_cast<uint32_t>(values[0]) == (0x7F800000u | (0x201u << 13)));
    CHECK(std::bit_cast<uint32_t>(values[1]) == 0x80000000u);
    CHECK(values[2] == -std::ldexp(1023.0f, -24));  // largest negative subnormal
}

TEST_CASE("random corruption never crashes: the load succeeds or throws FormatError") {
    ScratchDirectory dir;
    const std::string valid_path = dir.file("valid.safetensors");
    const std::string path = dir.file("fuzzed.safetensors");
    save_safetensors(valid_path, sample_file(8));
    const std::vector<unsigned char> valid = read_bytes(valid_path);
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | valid[i];
    Rng rng(9, "fuzz");
    int format_errors = 0;
    for (int trial = 0; trial < 1500; ++trial) {
        std::vector<unsigned char> bytes = valid;
        switch (trial % 3) {
            case 0:  // overwrite a few bytes of the length field or header with random bytes
                for (int k = 0; k < 1 + trial % 4; ++k)
                    bytes[rng.below(8 + header_bytes)] = static_cast<unsigned char>(rng.below(256));
                break;
            case 1:  // replace a header byte by a character that JSON cares about
                bytes[8 + rng.below(header_bytes)] = static_cast<unsigned char>("0123456789-,:[]{}\" "[rng.below(19)]);
                break;
            case 2:  // truncate anywhere
                bytes.resize(rng.below(bytes.size()));
                break;
        }
        write_bytes(path, bytes);
        try {
            const TensorFile file = load_safetensors(path);
            for (const auto& [name, tensor] : file.tensors) CHECK(tensor.numel() >= 0);
        } catch (const FormatError&) {
            ++format_errors;
        }
    }
    CHECK(format_errors > 500);
}
