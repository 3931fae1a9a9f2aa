// Untrusted inputs: checkpoints, data sets and campaign JSON the user downloaded. Each class of
// hostile input is refused with a core::Error naming the file, what was expected and what was
// found, quoting the file by short excerpts only, before anything large is allocated, and without
// hanging (FIFOs) or overflowing the stack (deep nesting). Inputs that fuzzing found crashing are
// kept here and in fuzz/corpus/ (test_fuzz_corpus).
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file_io.hpp"
#include "core/safetensors.hpp"
#include "datasets/cifar.hpp"
#include "datasets/file_bytes.hpp"
#include "datasets/idx.hpp"
#include "datasets/image_folder.hpp"
#include "faults/campaign_result.hpp"
#include "faults/report.hpp"
#include "faults/storage_format.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "support/test_support.hpp"

using namespace proact;
namespace fs = std::filesystem;
using test::contains;
using test::message_of;
using test::TempDir;

namespace {

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// length field + header + buffer
std::string safetensors_bytes(const std::string& header, const std::string& buffer = "") {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
    return bytes + header + buffer;
}

std::string floats(const std::vector<float>& values) {
    std::string bytes(values.size() * 4, '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
}

// A FIFO whose open for reading would block forever if a reader opened it: the test is killed
// after 30 s instead of hanging the suite if that ever regresses.
fs::path make_fifo(const TempDir& dir, const std::string& name) {
    const fs::path path = dir.path / name;
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    ::alarm(30);
    return path;
}

}  // namespace

TEST_CASE("excerpt: short, printable, with the full length when cut") {
    CHECK(core::excerpt("abc") == "abc");
    CHECK(core::excerpt(std::string(5000, 'a'), 8) == "aaaaaaaa... (5000 bytes)");
    CHECK(core::excerpt(std::string("a\x1b[2J\n\\", 7)) == "a\\x1b[2J\\x0a\\x5c");
}

TEST_CASE("tensor shapes whose element count overflows are refused before allocating") {
    const int64_t big = int64_t(1) << 40;
    CHECK_THROWS_WITH_AS(core::Tensor::empty({big, big}), doctest::Contains("has more than"), core::ShapeError);
    // A zero next to enormous sizes: zero elements, but the strides would overflow.
    CHECK_THROWS_AS(core::numel_of({big, big, 0}), core::ShapeError);
    CHECK_THROWS_AS(core::numel_of({int64_t(1) << 62}), core::ShapeError);  // elements fit, bytes do not
    CHECK(core::numel_of({big, 0}) == 0);
    CHECK_THROWS_AS(core::Tensor::zeros({4}).reshape({-1, big, big}), core::ShapeError);
}

TEST_CASE("special files are refused without being opened: FIFO, device, directory, symlink loop") {
    TempDir dir;
    const fs::path fifo = make_fifo(dir, "model.safetensors");
    CHECK_THROWS_WITH_AS(core::load_safetensors(fifo.string()), doctest::Contains("is a FIFO (named pipe), expected a regular file"),
                         core::IoError);
    CHECK_THROWS_WITH_AS(core::read_file(fifo.string()), doctest::Contains("FIFO"), core::IoError);
    CHECK_THROWS_WITH_AS(datasets::read_idx_images(fifo), doctest::Contains("FIFO"), core::IoError);
    CHECK_THROWS_WITH_AS(core::load_safetensors("/dev/zero"), doctest::Contains("is a character device"),
                         core::IoError);
    CHECK_THROWS_WITH_AS(core::read_file(dir.path.string()), doctest::Contains("is a directory"), core::IoError);
    fs::create_symlink(dir.path / "b", dir.path / "a");
    fs::create_symlink(dir.path / "a", dir.path / "b");
    CHECK_THROWS_WITH_AS(core::load_safetensors((dir.path / "a").string()),
                         doctest::Contains("is a loop of symbolic links"), core::IoError);
    CHECK_THROWS_WITH_AS(datasets::read_file_bytes(dir.path / "a"), doctest::Contains("loop"), core::IoError);

    // Under the names the data set loaders look for: refused as what they are, not "missing".
    const fs::path mnist = dir.path / "mnist";
    fs::create_directories(mnist);
    REQUIRE(::mkfifo((mnist / "train-images-idx3-ubyte").c_str(), 0600) == 0);
    datasets::write_idx_labels(mnist / "train-labels-idx1-ubyte", std::vector<uint8_t>{1, 2}, false);
    CHECK_THROWS_WITH_AS(datasets::load_mnist(mnist, "train"), doctest::Contains("FIFO"), core::IoError);
    const fs::path cifar = dir.path / "cifar";
    fs::create_directories(cifar);
    fs::create_symlink(cifar / "test_batch.bin", cifar / "test_batch.bin");
    CHECK_THROWS_WITH_AS(datasets::load_cifar10(cifar, "test"), doctest::Contains("loop"), core::IoError);
    ::alarm(0);
}

TEST_CASE("image folder: FIFOs, symlink loops and empty classes are refused") {
    TempDir dir;
    fs::create_directories(dir.path / "cat");
    make_fifo(dir, "cat/photo.png");
    CHECK_THROWS_WITH_AS(datasets::load_image_folder(dir.path), doctest::Contains("FIFO"), core::IoError);
    fs::remove(dir.path / "cat" / "photo.png");
    fs::create_symlink(dir.path / "cat" / "loop.png", dir.path / "cat" / "loop.png");
    CHECK_THROWS_WITH_AS(datasets::load_image_folder(dir.path), doctest::Contains("cannot follow"), core::IoError);
    fs::remove(dir.path / "cat" / "loop.png");
    fs::create_symlink(dir.path / "dog", dir.path / "dog");  // a class folder that is a loop
    CHECK_THROWS_WITH_AS(datasets::load_image_folder(dir.path), doctest::Contains("cannot follow"), core::IoError);
    fs::remove(dir.path / "dog");
    CHECK_THROWS_WITH_AS(datasets::load_image_folder(dir.path), doctest::Contains("'cat' holds no .png"),
                         core::ValueError);
    ::alarm(0);
}

TEST_CASE("safetensors: deep nesting is refused at once, without recursion") {
    TempDir dir;
    const std::string path = dir.file("deep.safetensors");
    // A million '[' would overflow the stack of a recursive parser or of the json destructor.
    write_text(path, safetensors_bytes("{\"a\": " + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}"));
    CHECK_THROWS_WITH_AS(core::load_safetensors(path), doctest::Contains("tensor 'a' is a JSON array, expected an object"),
                         core::FormatError);
    write_text(path, safetensors_bytes(std::string(1'000'000, '[') + std::string(1'000'000, ']')));
    CHECK_THROWS_WITH_AS(core::load_safetensors(path), doctest::Contains("header is a JSON array, expected an object"),
                         core::FormatError);
    write_text(path, safetensors_bytes("{\"__metadata__\": {\"k\": " + std::string(100'000, '{') + "}}"));
    CHECK_THROWS_AS(core::load_safetensors(path), core::FormatError);
}

TEST_CASE("safetensors: messages quote the file by excerpt only") {
    TempDir dir;
    const std::string path = dir.file("long.safetensors");
    const std::string huge(1'000'000, 'x');
    for (const std::string& header :
         {R"({"a": {"dtype": ")" + huge + R"(", "shape": [1], "data_offsets": [0, 4]}})",
          R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, ")" + huge + "\": 1}",
          R"({"__metadata__": {"k": ")" + huge + "\"}}", R"({"a": )" + huge + "}",
          R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": ")" + huge + "\"}}"}) {
        write_text(path, safetensors_bytes(header, floats({1})));
        const std::string message = message_of<core::FormatError>([&] { core::load_safetensors(path); });
        CAPTURE(message.substr(0, 300));
        CHECK(message.size() < 500);
        CHECK(contains(message, "long.safetensors"));
    }
}

TEST_CASE("non_finite_tensors names every tensor with NaN or Inf and counts them") {
    layers::Checkpoint checkpoint;
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    checkpoint.tensors["a.weight"] = core::Tensor::from_vector({2, 2}, {1, nan, -inf, nan});
    checkpoint.tensors["b.bias"] = core::Tensor::from_vector({3}, {1, 2, 3});
    checkpoint.tensors["c.weight"] = core::Tensor::from_vector({1}, {inf});
    const std::vector<layers::NonFiniteTensor> found = layers::non_finite_tensors(checkpoint);
    REQUIRE(found.size() == 2);
    CHECK(found[0].name == "a.weight");
    CHECK(found[0].nan == 2);
    CHECK(found[0].infinite == 1);
    CHECK(found[0].count() == 3);
    CHECK(found[1].name == "c.weight");
    CHECK(found[1].infinite == 1);
    CHECK_THROWS_WITH_AS(layers::check_finite_weights(checkpoint, "'m.safetensors'"),
                         doctest::Contains("'m.safetensors': 2 tensors hold non-finite values: a.weight (2 NaN, 1 Inf), "
                                           "c.weight (0 NaN, 1 Inf)"),
                         core::NumericError);
    checkpoint.tensors.erase("a.weight");
    checkpoint.tensors.erase("c.weight");
    CHECK(layers::non_finite_tensors(checkpoint).empty());
    CHECK_NOTHROW(layers::check_finite_weights(checkpoint, "x"));

    // Read from a file: NaN and Inf survive the load and are found.
    TempDir dir;
    const std::string path = dir.file("nan.safetensors");
    write_text(path, safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}})",
                                       floats({0.5f, nan, -inf})));
    const std::vector<layers::NonFiniteTensor> loaded = layers::non_finite_tensors(layers::load_checkpoint(path));
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].nan == 1);
    CHECK(loaded[0].infinite == 1);
}

TEST_CASE("checkpoint metadata is bounded before a model is built from it") {
    const std::map<std::string, std::string> good = {
        {"model", "lenet5"}, {"input_shape", "1,28,28"}, {"num_classes", "10"}};
    CHECK_NOTHROW(layers::model_info_from_metadata(good));
    const auto refused = [&](const std::string& key, const std::string& value, const std::string& expected) {
        CAPTURE(key);
        CAPTURE(value.substr(0, 40));
        std::map<std::string, std::string> metadata = good;
        metadata[key] = value;
        const std::string message =
            message_of<core::FormatError>([&] { layers::model_info_from_metadata(metadata, "'m.safetensors'"); });
        CHECK(contains(message, "'m.safetensors'"));
        CHECK(contains(message, expected));
        CHECK(message.size() < 400);
    };
    refused("input_shape", "3,100000,100000", "each in 1..4096");
    refused("input_shape", "1,4096,4096", "at most 65536 pixels (height x width)");
    refused("input_shape", "32,256,256", "and 1048576 values in all");
    CHECK(layers::model_info_from_metadata({{"model", "vgg11"}, {"input_shape", "3,224,224"}, {"num_classes", "1000"}})
              .input_shape == core::Shape{3, 224, 224});
    refused("input_shape", "0,28,28", "expected channels,height,width");
    refused("input_shape", "1,28", "expected channels,height,width");
    refused("num_classes", "0", "expected an integer in 1..100000");
    refused("num_classes", "100001", "expected an integer in 1..100000");
    refused("num_classes", "99999999999999999999999", "expected an integer in 1..100000");
    refused("model", std::string(100'000, 'm'), "longer than 256 bytes");
    refused("input_shape", std::string(100'000, '1'), "longer than 256 bytes");

    // The surgeries' entries too, checked before they are parsed.
    layers::Checkpoint checkpoint;
    checkpoint.metadata = good;
    checkpoint.metadata["activation"] = std::string(10'000, 'h');
    CHECK_THROWS_WITH_AS(layers::load_model(checkpoint, "'m.safetensors'"),
                         doctest::Contains("metadata 'activation' is 'hhhh"), core::FormatError);
}

TEST_CASE("data sets: claims beyond the limits are refused from the header, before decoding") {
    TempDir dir;
    const datasets::ReadLimits small{.max_file_bytes = 1 << 20, .max_image_pixels = 1 << 12};

    // An IDX header claiming a gigabyte, gzip-compressed into a few kilobytes.
    std::vector<uint8_t> claim = {0, 0, 8, 3, 0, 0, 3, 232, 0, 0, 3, 232, 0, 0, 3, 232};  // 1000 x 1000 x 1000
    claim.resize(claim.size() + 4000, 0);
    datasets::write_file_bytes(dir.path / "claim.gz", claim, true);
    std::string message = message_of<core::FormatError>([&] { datasets::read_idx_images(dir.path / "claim.gz", small); });
    CHECK(contains(message, "claim.gz' claims images of 1000x1000 pixels, expected 1 to 4096 pixels per image"));
    const datasets::ReadLimits pixels_ok{.max_file_bytes = 1 << 20, .max_image_pixels = 1 << 20};
    message = message_of<core::FormatError>([&] { datasets::read_idx_images(dir.path / "claim.gz", pixels_ok); });
    CHECK(contains(message, "claims 1000 images (1000000016 bytes after decompression), more than the limit of "
                            "1048576 bytes"));
    // Within the default limits the claim is decompressed up to itself only: the stream is short.
    message = message_of<core::FormatError>([&] { datasets::read_idx_images(dir.path / "claim.gz"); });
    CHECK(contains(message, "header promises 1000000016 bytes, the file holds 4016 bytes after decompression"));

    // A real gzip bomb without a header (CIFAR): decompression stops at the limit.
    datasets::write_file_bytes(dir.path / "bomb.bin", std::vector<uint8_t>(20 << 20, 0), true);
    CHECK(fs::file_size(dir.path / "bomb.bin") < 100'000);
    message = message_of<core::FormatError>([&] { datasets::read_cifar10_files({dir.path / "bomb.bin"}, "c", small); });
    CHECK(contains(message, "bomb.bin' decompresses to more than 1048576 bytes, the limit for a data file"));
    // A raw file over the limit is refused from its size, before it is read.
    datasets::write_file_bytes(dir.path / "big.bin", std::vector<uint8_t>((1 << 20) + 1, 0), false);
    message = message_of<core::FormatError>([&] { datasets::read_cifar10_files({dir.path / "big.bin"}, "c", small); });
    CHECK(contains(message, "big.bin' is 1048577 bytes long, more than the limit of 1048576 bytes"));

    // No samples, or images without pixels.
    datasets::write_file_bytes(dir.path / "none", std::vector<uint8_t>{0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28}, false);
    CHECK_THROWS_WITH_AS(datasets::read_idx_images(dir.path / "none"), doctest::Contains("holds no images"),
                         core::FormatError);
    datasets::write_file_bytes(dir.path / "flat", std::vector<uint8_t>{0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 28}, false);
    CHECK_THROWS_WITH_AS(datasets::read_idx_images(dir.path / "flat"), doctest::Contains("images of 0x28 pixels"),
                         core::FormatError);
    datasets::write_file_bytes(dir.path / "nolabels", std::vector<uint8_t>{0, 0, 8, 1, 0, 0, 0, 0}, false);
    CHECK_THROWS_WITH_AS(datasets::read_idx_labels(dir.path / "nolabels"), doctest::Contains("holds no labels"),
                         core::FormatError);

    // An image header claiming 10000 x 10000 pixels in 33 bytes: refused before stb decodes it.
    fs::create_directories(dir.path / "folder" / "cls");
    const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                      0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10, 8, 2, 0, 0, 0, 0x2c, 0x7d, 0x5d, 0x8a};
    datasets::write_file_bytes(dir.path / "folder" / "cls" / "huge.png", png, false);
    message = message_of<core::FormatError>([&] { datasets::load_image_folder(dir.path / "folder"); });
    CHECK(contains(message, "huge.png' claims 10000x10000 pixels, expected 1 to 67108864 pixels per image"));
}

// Found by fuzz/ (fuzz_image): stb_image 2.27 writes past its Huffman size table when a JPEG DHT
// segment declares more than 256 codes. The three crashing inputs are in fuzz/corpus/image/crash-*;
// here the same three shapes: the table right after SOI, after 0xFF fill bytes before SOI (which
// stb also takes for a JPEG), and after padding between segments.
TEST_CASE("fuzz regression: JPEG Huffman tables with more than 256 codes are refused before stb") {
    std::vector<uint8_t> dht = {0xFF, 0xC4, 0x01, 0x3F, 0x00};  // length 2 + 17 + 300, DC table 0
    for (int i = 0; i < 14; ++i) dht.push_back(0);
    dht.push_back(255);
    dht.push_back(45);
    dht.resize(dht.size() + 300, 0);
    const std::vector<uint8_t> soi = {0xFF, 0xD8}, eoi = {0xFF, 0xD9};
    const auto join = [](std::initializer_list<std::vector<uint8_t>> parts) {
        std::vector<uint8_t> bytes;
        for (const auto& part : parts) bytes.insert(bytes.end(), part.begin(), part.end());
        return bytes;
    };
    TempDir dir;
    fs::create_directories(dir.path / "cls");
    for (const std::vector<uint8_t>& jpeg : {join({soi, dht, eoi}), join({{0xFF, 0xFF, 0xFF}, soi, dht, eoi}),
                                             join({soi, {0x00, 0x12, 0x34}, dht, eoi})}) {
        datasets::write_file_bytes(dir.path / "cls" / "x.jpg", jpeg, false);
        CHECK_THROWS_WITH_AS(datasets::load_image_folder(dir.path), doctest::Contains("declares 300 codes, at most 256"),
                             core::FormatError);
    }
}

namespace {

// A valid campaign JSON of three trials at two BERs, as campaign_json writes it.
nlohmann::json valid_campaign() {
    faults::CampaignResult result;
    result.label = "x";
    result.format = "Q15.16";
    result.bit_mask = "0,31";
    result.trials = 3;
    result.samples = 100;
    result.fault_free_correct = 90;
    for (double rate : {1e-6, 1e-5}) {
        faults::PointResult point;
        point.rate = rate;
        point.trial_ids = {0, 1, 2};
        point.correct = {90, 80, 70};
        point.no_prediction = {0, 1, 2};
        point.sdc = {1, 2, 3};
        point.faults = {0, 3, 6};
        result.points.push_back(point);
    }
    faults::recompute_stats(result);
    return nlohmann::json::parse(faults::campaign_json(result));
}

std::string campaign_error(const std::string& text) {
    return message_of<core::FormatError>([&] { faults::campaign_from_json(text, "shard.json"); });
}

}  // namespace

TEST_CASE("campaign JSON: hostile values are a FormatError naming the file and key") {
    CHECK_NOTHROW(faults::campaign_from_json(valid_campaign().dump(), "shard.json"));
    const auto with = [](const std::string& pointer, const nlohmann::json& value) {
        nlohmann::json json = valid_campaign();
        json[nlohmann::json::json_pointer(pointer)] = value;
        return json.dump();
    };
    CHECK(contains(campaign_error(with("/trials", 5'000'000'000)), "shard.json: 'trials' is 5000000000, expected an integer in [1, 10000000]"));
    CHECK(contains(campaign_error(with("/samples", 1e300)), "'samples' is 1e+300, expected an integer in [1, 9223372036854775807]"));
    CHECK(contains(campaign_error(with("/samples", -1)), "'samples' is -1"));
    CHECK(contains(campaign_error(with("/samples", "many")), "'samples' is a JSON string, expected an integer"));
    CHECK(contains(campaign_error(with("/seed", -1)), "'seed' is -1, expected a non-negative integer"));
    CHECK(contains(campaign_error(with("/fault_free_correct", 101)), "'fault_free_correct' is 101, expected an integer in [0, 100]"));
    CHECK(contains(campaign_error(with("/ci_margin", "wide")), "'ci_margin' is a JSON string, expected a number"));
    CHECK(contains(campaign_error(with("/points/1/correct/2", -4)), "'points[1].correct[2]' is -4"));
    CHECK(contains(campaign_error(with("/points/0/correct", std::vector<int>(4, 1))), "'points[0].correct' holds 4 elements, expected at most 3"));
    CHECK(contains(campaign_error(with("/points/0/trial_ids", {0, 2, 1})), "trial id 1 at position 2, expected ascending ids below the 3 trials"));
    CHECK(contains(campaign_error(with("/points/0/trial_ids", {0, 1, 7})), "trial id 7"));
    CHECK(contains(campaign_error(with("/points/0/rate", 2.5)), "'points[0].rate' is 2.5, expected a number in [0, 1]"));
    CHECK(contains(campaign_error(with("/points/0/stopped_early", 1)), "'points[0].stopped_early' is a JSON number, expected true or false"));
    CHECK(contains(campaign_error(with("/points", 7)), "'points' is a JSON number, expected an array"));
    CHECK(contains(campaign_error(with("/points/0", "row")), "'points[0]' is a JSON string, expected an object"));
    CHECK(contains(campaign_error(with("/targets/0", 5)), "'targets[0]' is a JSON number, expected a string"));

    const std::string long_label = campaign_error(with("/label", std::string(1'000'000, 'l')));
    CHECK(contains(long_label, "'label' is a string of 1000000 bytes"));
    CHECK(long_label.size() < 300);
    const std::string long_model = campaign_error(with("/fault_model", std::string(3000, 'f')));
    CHECK(long_model.size() < 5000);

    CHECK(contains(campaign_error("{\"a\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}"),
                   "shard.json: JSON nested deeper than 8 levels"));
    CHECK(contains(campaign_error(R"({"trials": 3, "trials": 4})"), "key 'trials' appears twice in one JSON object"));
    const std::string syntax = campaign_error("{\"label\": \"" + std::string(1'000'000, 'x'));
    CHECK(contains(syntax, "shard.json: not valid JSON"));
    CHECK(syntax.size() < 400);
}

// Found by fuzz/ (fuzz_campaign_json): a campaign JSON whose bit_mask was not a list of positions
// ("0,1,2,60,<1") was accepted, and the table of `proact inject --plot` / `proact merge` then died
// of an uncaught std::invalid_argument from std::stoi. The crashing input is
// fuzz/corpus/campaign_json/crash-bit-mask-not-positions.
TEST_CASE("fuzz regression: a campaign's bit mask must be ascending positions of its format") {
    for (const char* mask : {"0,1,2,60,<1", "all", "31,0", "0,,1", "99999999999", "0,32"}) {
        CAPTURE(mask);
        nlohmann::json json = valid_campaign();
        json["bit_mask"] = mask;
        CHECK(contains(campaign_error(json.dump()), "shard.json: 'bit_mask'"));
    }
    nlohmann::json json = valid_campaign();
    json["format"] = "Q7.8";
    json["bit_mask"] = "0,15";
    CHECK(faults::campaign_from_json(json.dump(), "shard.json").bit_mask == "0,15");
    json["bit_mask"] = "0,16";  // outside a 16-bit word
    CHECK(contains(campaign_error(json.dump()), "lies outside the word"));
    json["format"] = "Q9.9";
    CHECK(contains(campaign_error(json.dump()), "shard.json: 'format': storage format Q9.9: a word of 1 + 9 + 9 = 19 bits"));
    // Bit counts that would overflow StorageFormat::parse's int sum never reach it from a file.
    json["format"] = "Q1110911110.1110911110";
    CHECK(contains(campaign_error(json.dump()), "'format' is a string of 22 bytes"));
    json = valid_campaign();
    json["bit_mask"] = "";
    CHECK(faults::campaign_table(faults::campaign_from_json(json.dump(), "shard.json")).find("bits none") !=
          std::string::npos);
}

// Found by fuzz/ (fuzz_storage_format): StorageFormat::fixed_point computed 1 + m + n in int, so
// "Q1110911110.1110911110" (both counts fit an int, their sum does not) was a signed overflow
// (UBSan). Counts above 31 are now refused before the sum; the input is in the corpus.
TEST_CASE("fuzz regression: Qm.n bit counts whose sum overflows an int") {
    CHECK_THROWS_AS(faults::StorageFormat::parse("q1110911110.1110911110"), core::ValueError);
    CHECK_THROWS_AS(faults::StorageFormat::parse("Q2147483647.1"), core::ValueError);
}

TEST_CASE("parse_json and read_file enforce their size limits") {
    CHECK_THROWS_WITH_AS(core::parse_json("[1, 2, 3]", "t.json", {.max_bytes = 4}),
                         doctest::Contains("t.json: 9 bytes of JSON, more than the limit of 4"), core::FormatError);
    CHECK(core::parse_json("[[1]]", "t.json", {.max_depth = 2}).size() == 1);
    CHECK_THROWS_AS(core::parse_json("[[[1]]]", "t.json", {.max_depth = 2}), core::FormatError);
    TempDir dir;
    write_text(dir.path / "f.json", "0123456789");
    CHECK(core::read_file((dir.path / "f.json").string(), 10) == "0123456789");
    CHECK_THROWS_WITH_AS(core::read_file((dir.path / "f.json").string(), 9),
                         doctest::Contains("is 10 bytes long, more than the limit of 9 bytes"), core::IoError);
}
