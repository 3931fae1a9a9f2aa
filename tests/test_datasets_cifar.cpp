// CIFAR-10 / CIFAR-100 binary readers: round trips through tiny synthetic files, folder loaders,
// truncated and out-of-range inputs.
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/datasets.hpp"
#include "support/test_support.hpp"

using namespace proact;
using namespace proact::datasets;
namespace fs = std::filesystem;

namespace {

using test::TempDir;
using test::contains;
using test::message_of;

// `count` images whose bytes differ per image (seeded by `salt`), 3072 bytes each.
std::vector<uint8_t> image_bytes(int64_t count, int salt) {
    std::vector<uint8_t> pixels(static_cast<size_t>(count * kCifarImageBytes));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 31 + size_t(salt) * 101) % 256);
    return pixels;
}

// Checks images [first, first + count) of `dataset` against `pixels` (record order = [C, H, W]).
void check_images(const Dataset& dataset, int64_t first, const std::vector<uint8_t>& pixels) {
    CHECK(dataset.stores_bytes());
    const core::Tensor images = dataset.images(first, static_cast<int64_t>(pixels.size()) / kCifarImageBytes);
    const float* values = images.data();
    size_t mismatches = 0;
    for (size_t i = 0; i < pixels.size(); ++i) mismatches += values[i] != static_cast<float>(pixels[i]) / 255.0f;
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("cifar10 round trip, several files concatenated in order") {
    TempDir dir;
    const auto first_pixels = image_bytes(3, 1);
    const auto second_pixels = image_bytes(2, 2);
    const std::vector<uint8_t> first_labels = {0, 9, 4};
    const std::vector<uint8_t> second_labels = {7, 1};
    write_cifar10_file(dir.path / "a.bin", first_pixels, first_labels);
    write_cifar10_file(dir.path / "b.bin", second_pixels, second_labels);
    CHECK(fs::file_size(dir.path / "a.bin") == 3 * 3073);

    const Dataset dataset = read_cifar10_files({dir.path / "a.bin", dir.path / "b.bin"});
    REQUIRE(dataset.images_shape() == core::Shape{5, 3, 32, 32});
    CHECK(dataset.labels == std::vector<int32_t>{0, 9, 4, 7, 1});
    CHECK(dataset.num_classes == 10);
    CHECK(dataset.class_names.size() == 10);
    CHECK(dataset.class_names[0] == "airplane");
    CHECK(dataset.class_names[9] == "truck");
    check_images(dataset, 0, first_pixels);
    check_images(dataset, 3, second_pixels);
    // Pixel (channel 1 = green, row 2, col 5) of image 1 comes from record byte 1024 + 2*32 + 5.
    CHECK(dataset.images().at({1, 1, 2, 5}) == static_cast<float>(first_pixels[3072 + 1024 + 2 * 32 + 5]) / 255.0f);
    CHECK_NOTHROW(dataset.validate());
}

TEST_CASE("cifar10 folder layout: five training batches and a test batch") {
    TempDir dir;
    std::vector<uint8_t> expected_labels;
    for (int batch = 1; batch <= 5; ++batch) {
        const std::vector<uint8_t> labels = {uint8_t(batch), uint8_t(batch + 4)};
        write_cifar10_file(dir.path / ("data_batch_" + std::to_string(batch) + ".bin"), image_bytes(2, batch), labels);
        expected_labels.insert(expected_labels.end(), labels.begin(), labels.end());
    }
    write_cifar10_file(dir.path / "test_batch.bin", image_bytes(1, 9), std::vector<uint8_t>{3});

    const Dataset train = load_cifar10(dir.path, "train");
    CHECK(train.size() == 10);
    CHECK(train.name == "cifar10-train");
    CHECK(std::vector<uint8_t>(train.labels.begin(), train.labels.end()) == expected_labels);
    check_images(train, 4, image_bytes(2, 3));
    const Dataset test = load_cifar10(dir.path, "test");
    CHECK(test.size() == 1);
    CHECK(test.labels == std::vector<int32_t>{3});

    CHECK_THROWS_AS(load_cifar10(dir.path, "dev"), core::ValueError);
    fs::remove(dir.path / "data_batch_4.bin");
    const std::string message = message_of<core::IoError>([&] { load_cifar10(dir.path, "train"); });
    CHECK(contains(message, "data_batch_4.bin"));
}

TEST_CASE("cifar100 round trip uses the fine labels") {
    TempDir dir;
    const auto pixels = image_bytes(4, 5);
    const std::vector<uint8_t> coarse = {0, 19, 3, 7};
    const std::vector<uint8_t> fine = {0, 99, 42, 57};
    write_cifar100_file(dir.path / "train.bin", pixels, coarse, fine);
    write_cifar100_file(dir.path / "test.bin", image_bytes(1, 6), std::vector<uint8_t>{2}, std::vector<uint8_t>{8});
    CHECK(fs::file_size(dir.path / "train.bin") == 4 * 3074);

    const Dataset train = load_cifar100(dir.path, "train");
    REQUIRE(train.images_shape() == core::Shape{4, 3, 32, 32});
    CHECK(train.labels == std::vector<int32_t>{0, 99, 42, 57});
    CHECK(train.num_classes == 100);
    CHECK(train.class_names.size() == 100);
    CHECK(train.class_names[0] == "apple");
    CHECK(train.class_names[99] == "worm");
    CHECK(train.name == "cifar100-train");
    check_images(train, 0, pixels);
    const Dataset test = load_cifar100(dir.path, "test");
    CHECK(test.labels == std::vector<int32_t>{8});
    check_images(test, 0, image_bytes(1, 6));
}

TEST_CASE("cifar files are gzip-transparent") {
    TempDir dir;
    const auto pixels = image_bytes(2, 4);
    write_cifar10_file(dir.path / "plain.bin", pixels, std::vector<uint8_t>{5, 6});
    write_file_bytes(dir.path / "packed.bin", read_raw_file_bytes(dir.path / "plain.bin"), true);
    const Dataset dataset = read_cifar10_files({dir.path / "packed.bin"});
    CHECK(dataset.labels == std::vector<int32_t>{5, 6});
    check_images(dataset, 0, pixels);
}

TEST_CASE("cifar corrupt inputs") {
    TempDir dir;
    const fs::path path = dir.path / "data.bin";

    SUBCASE("truncated cifar10 file names the file, size and record size") {
        write_cifar10_file(path, image_bytes(2, 1), std::vector<uint8_t>{1, 2});
        fs::resize_file(path, 2 * 3073 - 100);
        const std::string message = message_of<core::FormatError>([&] { read_cifar10_files({path}); });
        CHECK(contains(message, path.string()));
        CHECK(contains(message, "6046 bytes"));
        CHECK(contains(message, "3073-byte record"));
    }
    SUBCASE("a cifar10 file read as cifar100 does not divide into records") {
        write_cifar10_file(path, image_bytes(2, 1), std::vector<uint8_t>{1, 2});
        const std::string message = message_of<core::FormatError>([&] { read_cifar100_files({path}); });
        CHECK(contains(message, "3074-byte record"));
    }
    SUBCASE("empty file") {
        write_file_bytes(path, std::vector<uint8_t>{}, false);
        const std::string message = message_of<core::FormatError>([&] { read_cifar10_files({path}); });
        CHECK(contains(message, "empty"));
    }
    SUBCASE("cifar10 label out of range") {
        write_cifar10_file(path, image_bytes(3, 1), std::vector<uint8_t>{1, 2, 10});
        const std::string message = message_of<core::FormatError>([&] { read_cifar10_files({path}); });
        CHECK(contains(message, path.string()));
        CHECK(contains(message, "record 2 has label 10"));
    }
    SUBCASE("cifar100 fine and coarse labels out of range") {
        write_cifar100_file(path, image_bytes(2, 1), std::vector<uint8_t>{1, 2}, std::vector<uint8_t>{5, 100});
        CHECK(contains(message_of<core::FormatError>([&] { read_cifar100_files({path}); }), "record 1 has label 100"));
        write_cifar100_file(path, image_bytes(2, 1), std::vector<uint8_t>{20, 2}, std::vector<uint8_t>{5, 6});
        CHECK(contains(message_of<core::FormatError>([&] { read_cifar100_files({path}); }), "coarse label 20"));
    }
    SUBCASE("missing file, no files, writer argument checks") {
        CHECK_THROWS_AS(read_cifar10_files({dir.path / "absent.bin"}), core::IoError);
        CHECK_THROWS_AS(read_cifar10_files({}), core::ValueError);
        CHECK_THROWS_AS(load_cifar100(dir.path, "train"), core::IoError);
        CHECK_THROWS_AS(write_cifar10_file(path, image_bytes(2, 1), std::vector<uint8_t>{1}), core::ShapeError);
        CHECK_THROWS_AS(
            write_cifar100_file(path, image_bytes(2, 1), std::vector<uint8_t>{1}, std::vector<uint8_t>{1, 2}),
            core::ShapeError);
    }
}
