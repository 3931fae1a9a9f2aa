// IDX reader/writer (MNIST, Fashion-MNIST): round trips raw and gzip, corrupt inputs, and the real
// Fashion-MNIST files when the Debian package is installed.
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

// count images of rows x cols whose bytes follow a pattern that covers 0..255.
std::vector<uint8_t> pattern_pixels(int64_t count, int64_t rows, int64_t cols) {
    std::vector<uint8_t> pixels(static_cast<size_t>(count * rows * cols));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
    return pixels;
}

std::vector<uint8_t> pattern_labels(int64_t count) {
    std::vector<uint8_t> labels(static_cast<size_t>(count));
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>((i * 7) % 10);
    return labels;
}

void check_matches(const Dataset& dataset, const std::vector<uint8_t>& pixels, const std::vector<uint8_t>& labels,
                   int64_t count, int64_t rows, int64_t cols) {
    REQUIRE(dataset.images_shape() == core::Shape{count, 1, rows, cols});
    CHECK(dataset.stores_bytes());  // the file's bytes, converted per batch
    const core::Tensor images = dataset.images();
    const float* values = images.data();
    size_t mismatches = 0;
    for (size_t i = 0; i < pixels.size(); ++i) mismatches += values[i] != static_cast<float>(pixels[i]) / 255.0f;
    CHECK(mismatches == 0);
    REQUIRE(dataset.labels.size() == labels.size());
    for (size_t i = 0; i < labels.size(); ++i) CHECK(dataset.labels[i] == labels[i]);
    CHECK(dataset.num_classes == 10);
}

}  // namespace

TEST_CASE("idx round trip, raw and gzip") {
    TempDir dir;
    const int64_t count = 7, rows = 5, cols = 3;
    const auto pixels = pattern_pixels(count, rows, cols);
    const auto labels = pattern_labels(count);
    for (bool gzip : {false, true}) {
        CAPTURE(gzip);
        const fs::path images_path = dir.path / (gzip ? "images.gz" : "images");
        const fs::path labels_path = dir.path / (gzip ? "labels.gz" : "labels");
        write_idx_images(images_path, pixels, count, rows, cols, gzip);
        write_idx_labels(labels_path, labels, gzip);
        CHECK(is_gzip(read_raw_file_bytes(images_path)) == gzip);
        CHECK(fs::file_size(labels_path) > 0);

        const IdxImages read_back = read_idx_images(images_path);
        CHECK(read_back.count == count);
        CHECK(read_back.rows == rows);
        CHECK(read_back.cols == cols);
        CHECK(read_back.pixels == pixels);
        CHECK(read_idx_labels(labels_path) == labels);

        const Dataset dataset = load_idx_dataset(images_path, labels_path, "tiny", mnist_class_names());
        check_matches(dataset, pixels, labels, count, rows, cols);
        CHECK(dataset.name == "tiny");
        CHECK_NOTHROW(dataset.validate());
    }
    // The raw header is big-endian: magic 00 00 08 03, then count, rows, cols.
    const auto raw = read_raw_file_bytes(dir.path / "images");
    REQUIRE(raw.size() == 16 + pixels.size());
    CHECK(std::vector<uint8_t>(raw.begin(), raw.begin() + 16) ==
          std::vector<uint8_t>{0, 0, 8, 3, 0, 0, 0, 7, 0, 0, 0, 5, 0, 0, 0, 3});
}

TEST_CASE("load_mnist / load_fashion_mnist find .gz and plain file names") {
    const int64_t train_count = 6, test_count = 4, side = 4;
    const auto train_pixels = pattern_pixels(train_count, side, side);
    const auto train_labels = pattern_labels(train_count);
    auto test_pixels = pattern_pixels(test_count, side, side);
    for (auto& pixel : test_pixels) pixel = static_cast<uint8_t>(255 - pixel);
    const auto test_labels = pattern_labels(test_count);

    for (bool gzip : {true, false}) {
        CAPTURE(gzip);
        TempDir dir;
        const std::string suffix = gzip ? ".gz" : "";
        write_idx_images(dir.path / ("train-images-idx3-ubyte" + suffix), train_pixels, train_count, side, side, gzip);
        write_idx_labels(dir.path / ("train-labels-idx1-ubyte" + suffix), train_labels, gzip);
        write_idx_images(dir.path / ("t10k-images-idx3-ubyte" + suffix), test_pixels, test_count, side, side, gzip);
        write_idx_labels(dir.path / ("t10k-labels-idx1-ubyte" + suffix), test_labels, gzip);

        const Dataset train = load_fashion_mnist(dir.path, "train");
        check_matches(train, train_pixels, train_labels, train_count, side, side);
        CHECK(train.name == "fashion-mnist-train");
        CHECK(train.class_names == fashion_mnist_class_names());
        CHECK(train.class_names[9] == "Ankle boot");

        const Dataset test = load_mnist(dir.path, "test");
        check_matches(test, test_pixels, test_labels, test_count, side, side);
        CHECK(test.name == "mnist-test");
        CHECK(test.class_names[3] == "3");

        const std::string bad_split = message_of<core::ValueError>([&] { load_mnist(dir.path, "validation"); });
        CHECK(contains(bad_split, "\"validation\""));
    }
}

TEST_CASE("idx: missing files are IoErrors naming the paths") {
    TempDir dir;
    const std::string missing = message_of<core::IoError>([&] { load_fashion_mnist(dir.path, "train"); });
    CHECK(contains(missing, (dir.path / "train-images-idx3-ubyte.gz").string()));
    CHECK(contains(missing, (dir.path / "train-images-idx3-ubyte").string()));
    const std::string direct = message_of<core::IoError>([&] { read_idx_labels(dir.path / "nothing-here"); });
    CHECK(contains(direct, "nothing-here"));
}

TEST_CASE("idx: a truncated file names the file, the expected and the actual byte count") {
    TempDir dir;
    const int64_t count = 3, rows = 4, cols = 4;
    const auto pixels = pattern_pixels(count, rows, cols);
    const fs::path raw_path = dir.path / "raw-images";
    write_idx_images(raw_path, pixels, count, rows, cols, false);
    fs::resize_file(raw_path, 16 + 40);
    std::string message = message_of<core::FormatError>([&] { read_idx_images(raw_path); });
    CHECK(contains(message, raw_path.string()));
    CHECK(contains(message, "truncated"));
    CHECK(contains(message, "64"));  // 16 + 3*4*4 expected
    CHECK(contains(message, "56"));  // actual

    // gzip of a short payload: decompresses fine, then fails the length check
    auto short_file = read_raw_file_bytes(raw_path);
    const fs::path short_gz = dir.path / "short-images.gz";
    write_file_bytes(short_gz, short_file, true);
    message = message_of<core::FormatError>([&] { read_idx_images(short_gz); });
    CHECK(contains(message, short_gz.string()));
    CHECK(contains(message, "after decompression"));
    CHECK(contains(message, "64"));
    CHECK(contains(message, "56"));

    // gzip stream itself cut short
    const fs::path whole_gz = dir.path / "images.gz";
    write_idx_images(whole_gz, pattern_pixels(50, 28, 28), 50, 28, 28, true);
    const auto compressed_size = fs::file_size(whole_gz);
    fs::resize_file(whole_gz, compressed_size / 2);
    message = message_of<core::FormatError>([&] { read_idx_images(whole_gz); });
    CHECK(contains(message, whole_gz.string()));
    CHECK(contains(message, "truncated"));

    // a file too short for its header
    const fs::path stub = dir.path / "stub";
    write_file_bytes(stub, std::vector<uint8_t>{0, 0, 8, 3, 0, 0}, false);
    message = message_of<core::FormatError>([&] { read_idx_images(stub); });
    CHECK(contains(message, "16-byte header"));
    write_file_bytes(stub, std::vector<uint8_t>{0, 0}, false);
    CHECK_THROWS_AS(read_idx_labels(stub), core::FormatError);

    // labels truncated
    const fs::path labels_path = dir.path / "labels";
    write_idx_labels(labels_path, pattern_labels(10), false);
    fs::resize_file(labels_path, 8 + 6);
    message = message_of<core::FormatError>([&] { read_idx_labels(labels_path); });
    CHECK(contains(message, "18"));
    CHECK(contains(message, "14"));
}

TEST_CASE("idx: trailing bytes, wrong magic, count mismatch, label range, corrupt gzip") {
    TempDir dir;
    const int64_t count = 4, rows = 2, cols = 3;
    const auto pixels = pattern_pixels(count, rows, cols);
    const fs::path images_path = dir.path / "images";
    const fs::path labels_path = dir.path / "labels";
    write_idx_images(images_path, pixels, count, rows, cols, false);
    write_idx_labels(labels_path, pattern_labels(count), false);

    SUBCASE("trailing bytes") {
        auto bytes = read_raw_file_bytes(images_path);
        bytes.push_back(0);
        write_file_bytes(images_path, bytes, false);
        const std::string message = message_of<core::FormatError>([&] { read_idx_images(images_path); });
        CHECK(contains(message, "longer"));
        CHECK(contains(message, "40"));  // 16 + 24 expected
        CHECK(contains(message, "41"));
    }
    SUBCASE("labels file given as images and the reverse") {
        std::string message = message_of<core::FormatError>([&] { read_idx_images(labels_path); });
        CHECK(contains(message, labels_path.string()));
        CHECK(contains(message, "0x00000801"));
        CHECK(contains(message, "0x00000803"));
        message = message_of<core::FormatError>([&] { read_idx_labels(images_path); });
        CHECK(contains(message, "0x00000803"));
        CHECK(contains(message, "0x00000801"));
    }
    SUBCASE("wrong element type") {
        auto bytes = read_raw_file_bytes(images_path);
        bytes[2] = 0x0D;  // float32 elements
        write_file_bytes(images_path, bytes, false);
        const std::string message = message_of<core::FormatError>([&] { read_idx_images(images_path); });
        CHECK(contains(message, "0x00000d03"));
    }
    SUBCASE("label count differs from image count") {
        write_idx_labels(labels_path, pattern_labels(count - 1), false);
        const std::string message =
            message_of<core::FormatError>([&] { load_idx_dataset(images_path, labels_path, "x", mnist_class_names()); });
        CHECK(contains(message, "3 labels"));
        CHECK(contains(message, "4 images"));
    }
    SUBCASE("label out of range") {
        auto labels = pattern_labels(count);
        labels[2] = 10;
        write_idx_labels(labels_path, labels, true);
        const std::string message =
            message_of<core::FormatError>([&] { load_idx_dataset(images_path, labels_path, "x", mnist_class_names()); });
        CHECK(contains(message, labels_path.string()));
        CHECK(contains(message, "sample 2 is 10"));
    }
    SUBCASE("corrupt gzip data") {
        const fs::path gz_path = dir.path / "images.gz";
        write_idx_images(gz_path, pattern_pixels(20, 28, 28), 20, 28, 28, true);
        auto bytes = read_raw_file_bytes(gz_path);
        for (size_t i = 20; i < 60 && i < bytes.size(); ++i) bytes[i] ^= 0x5A;
        write_file_bytes(gz_path, bytes, false);
        const std::string message = message_of<core::FormatError>([&] { read_idx_images(gz_path); });
        CHECK(contains(message, gz_path.string()));
    }
    SUBCASE("writer checks its arguments") {
        CHECK_THROWS_AS(write_idx_images(images_path, pixels, count + 1, rows, cols, false), core::ShapeError);
        CHECK_THROWS_AS(write_idx_images(images_path, pixels, -1, rows, cols, false), core::ValueError);
    }
}

TEST_CASE("gzip: concatenated members are joined, empty payloads round trip") {
    TempDir dir;
    const std::vector<uint8_t> first = {1, 2, 3};
    const std::vector<uint8_t> second = {4, 5};
    write_file_bytes(dir.path / "a.gz", first, true);
    write_file_bytes(dir.path / "b.gz", second, true);
    auto joined = read_raw_file_bytes(dir.path / "a.gz");
    const auto tail = read_raw_file_bytes(dir.path / "b.gz");
    joined.insert(joined.end(), tail.begin(), tail.end());
    write_file_bytes(dir.path / "ab.gz", joined, false);
    CHECK(read_file_bytes(dir.path / "ab.gz") == std::vector<uint8_t>{1, 2, 3, 4, 5});

    write_file_bytes(dir.path / "empty.gz", std::vector<uint8_t>{}, true);
    CHECK(read_file_bytes(dir.path / "empty.gz").empty());
    write_file_bytes(dir.path / "empty", std::vector<uint8_t>{}, false);
    CHECK(read_file_bytes(dir.path / "empty").empty());

    // Large and highly compressible: the output buffer has to grow several times.
    std::vector<uint8_t> zeros(5'000'000, 0);
    zeros[4'999'999] = 9;
    write_file_bytes(dir.path / "zeros.gz", zeros, true);
    CHECK(fs::file_size(dir.path / "zeros.gz") < 100'000);
    CHECK(read_file_bytes(dir.path / "zeros.gz") == zeros);
}

TEST_CASE("real Fashion-MNIST (Debian package dataset-fashion-mnist)") {
    const fs::path directory = kDefaultFashionMnistDir;
    if (!fs::exists(directory / "t10k-images-idx3-ubyte.gz")) {
        MESSAGE("skipped: ", directory.string(), " not found (apt install dataset-fashion-mnist)");
        return;
    }
    const Dataset test = load_fashion_mnist("test");
    CHECK(test.images_shape() == core::Shape{10000, 1, 28, 28});
    CHECK(test.labels.size() == 10000);
    CHECK(test.num_classes == 10);
    CHECK(label_histogram(test) == std::vector<int64_t>(10, 1000));
    float low = 1.0f, high = 0.0f;
    const core::Tensor pixels = test.images();  // a range-for does not keep a temporary alive
    for (float value : pixels.span()) {
        low = std::min(low, value);
        high = std::max(high, value);
    }
    CHECK(low == 0.0f);
    CHECK(high == 1.0f);

    const Dataset train = load_fashion_mnist(directory, "train");
    CHECK(train.images_shape() == core::Shape{60000, 1, 28, 28});
    CHECK(label_histogram(train) == std::vector<int64_t>(10, 6000));
    // The usual published statistics of the training set.
    const Normalization statistics = channel_statistics(train);
    CHECK(statistics.mean[0] == doctest::Approx(0.2860).epsilon(0.001));
    CHECK(statistics.std[0] == doctest::Approx(0.3530).epsilon(0.001));
}
