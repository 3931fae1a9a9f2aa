// Image folder reader: class and file ordering, PNG/BMP/JPEG decoding, channel conversion,
// bilinear resizing, unreadable images. Fixtures are written with stb_image_write.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "datasets/datasets.hpp"
#include "datasets/registry.hpp"
#include "support/test_support.hpp"

using namespace proact;
using namespace proact::datasets;
namespace fs = std::filesystem;

namespace {

using test::TempDir;
using test::contains;
using test::message_of;

// An interleaved (height, width, channels) image with a distinct value per byte, shifted by `salt`.
std::vector<uint8_t> interleaved_pattern(int height, int width, int channels, int salt) {
    std::vector<uint8_t> pixels(static_cast<size_t>(height * width * channels));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 53 + size_t(salt) * 17) % 256);
    return pixels;
}

void write_png(const fs::path& path, const std::vector<uint8_t>& pixels, int height, int width, int channels) {
    REQUIRE(stbi_write_png(path.string().c_str(), width, height, channels, pixels.data(), width * channels) != 0);
}

void write_bmp(const fs::path& path, const std::vector<uint8_t>& pixels, int height, int width, int channels) {
    REQUIRE(stbi_write_bmp(path.string().c_str(), width, height, channels, pixels.data()) != 0);
}

// Value [channel, y, x] of a sample that should equal interleaved byte / 255.
float expected_value(const std::vector<uint8_t>& pixels, int width, int channels, int channel, int y, int x) {
    return static_cast<float>(pixels[static_cast<size_t>((y * width + x) * channels + channel)]) / 255.0f;
}

}  // namespace

TEST_CASE("classes sorted by folder name, files sorted by name, other files skipped") {
    TempDir dir;
    const int side = 4;
    fs::create_directories(dir.path / "b_dog");
    fs::create_directories(dir.path / "a_cat");
    fs::create_directories(dir.path / "c_empty");
    // Names in a_cat sort as 1.bmp, 10.PNG, 2.png (string order, extension case ignored).
    const auto image_2 = interleaved_pattern(side, side, 3, 2);
    const auto image_10 = interleaved_pattern(side, side, 3, 10);
    const auto image_1 = interleaved_pattern(side, side, 3, 1);
    const auto image_dog = interleaved_pattern(side, side, 3, 99);
    write_png(dir.path / "a_cat" / "2.png", image_2, side, side, 3);
    write_png(dir.path / "a_cat" / "10.PNG", image_10, side, side, 3);
    write_bmp(dir.path / "a_cat" / "1.bmp", image_1, side, side, 3);
    write_png(dir.path / "b_dog" / "x.png", image_dog, side, side, 3);
    write_file_bytes(dir.path / "a_cat" / "notes.txt", std::vector<uint8_t>{'h', 'i'}, false);
    write_file_bytes(dir.path / "stray.png", std::vector<uint8_t>{1, 2, 3}, false);  // not in a class folder

    // A class without images is refused, naming it: a label nothing teaches is a misplaced folder.
    const std::string empty_class =
        message_of<core::ValueError>([&] { load_image_folder(dir.path, {.channels = 3, .height = side, .width = side}); });
    CHECK(contains(empty_class, "'c_empty' holds no .png/.jpg/.jpeg/.bmp file"));
    fs::remove(dir.path / "c_empty");

    const Dataset dataset = load_image_folder(dir.path, {.channels = 3, .height = side, .width = side});
    CHECK(dataset.class_names == std::vector<std::string>{"a_cat", "b_dog"});
    CHECK(dataset.num_classes == 2);
    CHECK(dataset.labels == std::vector<int32_t>{0, 0, 0, 1});
    REQUIRE(dataset.images_shape() == core::Shape{4, 3, side, side});
    CHECK_NOTHROW(dataset.validate());

    // PNG and BMP are lossless: every value is exactly byte/255, planar [C, H, W].
    const std::vector<const std::vector<uint8_t>*> expected_order = {&image_1, &image_10, &image_2, &image_dog};
    size_t mismatches = 0;
    for (int64_t sample = 0; sample < 4; ++sample)
        for (int channel = 0; channel < 3; ++channel)
            for (int y = 0; y < side; ++y)
                for (int x = 0; x < side; ++x)
                    mismatches += dataset.images().at({sample, channel, y, x}) !=
                                  expected_value(*expected_order[static_cast<size_t>(sample)], side, 3, channel, y, x);
    CHECK(mismatches == 0);
}

TEST_CASE("channel conversion: RGB to grey uses stb's luma, grey to RGB replicates, alpha is dropped") {
    TempDir dir;
    fs::create_directories(dir.path / "only");
    const std::vector<uint8_t> rgb = {200, 100, 50, 0, 255, 0, 10, 20, 30, 255, 255, 255};  // 2x2
    write_png(dir.path / "only" / "rgb.png", rgb, 2, 2, 3);
    const Dataset grey = load_image_folder(dir.path, {.channels = 1, .height = 2, .width = 2});
    REQUIRE(grey.images_shape() == core::Shape{1, 1, 2, 2});
    for (int pixel = 0; pixel < 4; ++pixel) {
        const int r = rgb[size_t(pixel * 3)], g = rgb[size_t(pixel * 3 + 1)], b = rgb[size_t(pixel * 3 + 2)];
        const int luma = (r * 77 + g * 150 + b * 29) >> 8;
        CHECK(grey.images().at({0, 0, pixel / 2, pixel % 2}) == static_cast<float>(luma) / 255.0f);
    }

    TempDir grey_dir;
    fs::create_directories(grey_dir.path / "only");
    const std::vector<uint8_t> grey_pixels = {0, 64, 128, 255};
    write_png(grey_dir.path / "only" / "grey.png", grey_pixels, 2, 2, 1);
    const Dataset colour = load_image_folder(grey_dir.path, {.channels = 3, .height = 2, .width = 2});
    for (int channel = 0; channel < 3; ++channel)
        for (int pixel = 0; pixel < 4; ++pixel)
            CHECK(colour.images().at({0, channel, pixel / 2, pixel % 2}) ==
                  static_cast<float>(grey_pixels[size_t(pixel)]) / 255.0f);

    const std::vector<uint8_t> rgba = {1, 2, 3, 0, 4, 5, 6, 128, 7, 8, 9, 255, 10, 11, 12, 255};
    write_png(dir.path / "only" / "rgb.png", rgba, 2, 2, 4);
    const core::Tensor image = load_image(dir.path / "only" / "rgb.png", {.channels = 3, .height = 2, .width = 2});
    CHECK(image.shape() == core::Shape{3, 2, 2});
    CHECK(image.at({2, 1, 1}) == 12.0f / 255.0f);
    CHECK(image.at({0, 0, 1}) == 4.0f / 255.0f);
}

TEST_CASE("JPEG decodes close to its source") {
    TempDir dir;
    fs::create_directories(dir.path / "smooth");
    const int side = 16;
    std::vector<uint8_t> gradient(static_cast<size_t>(side * side * 3));
    for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x)
            for (int channel = 0; channel < 3; ++channel)
                gradient[size_t((y * side + x) * 3 + channel)] = static_cast<uint8_t>(40 + 8 * x + 4 * y + 10 * channel);
    const fs::path path = dir.path / "smooth" / "g.jpeg";
    REQUIRE(stbi_write_jpg(path.string().c_str(), side, side, 3, gradient.data(), 100) != 0);
    const Dataset dataset = load_image_folder(dir.path, {.channels = 3, .height = side, .width = side});
    float worst = 0.0f;
    for (int channel = 0; channel < 3; ++channel)
        for (int y = 0; y < side; ++y)
            for (int x = 0; x < side; ++x)
                worst = std::max(worst, std::abs(dataset.images().at({0, channel, y, x}) -
                                                 expected_value(gradient, side, 3, channel, y, x)));
    CHECK(worst < 0.05f);
}

TEST_CASE("resize_bilinear: half-pixel centres, identity at the same size") {
    // 1-D view of 2 -> 4: output centres map to source -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped)
    const std::vector<float> source = {0.0f, 1.0f, 2.0f, 3.0f};  // 2x2: rows [0 1], [2 3]
    std::vector<float> upscaled(16);
    resize_bilinear(source, 1, 2, 2, upscaled, 4, 4);
    const std::vector<float> axis = {0.0f, 0.25f, 0.75f, 1.0f};
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x)
            CHECK(upscaled[size_t(y * 4 + x)] == doctest::Approx(2.0f * axis[size_t(y)] + axis[size_t(x)]));

    // 4 -> 2 averages neighbour pairs (source position 0.5 and 2.5)
    std::vector<float> big(2 * 16);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
    std::vector<float> small(2 * 4);
    resize_bilinear(big, 2, 4, 4, small, 2, 2);
    CHECK(small[0] == doctest::Approx((0 + 1 + 4 + 5) / 4.0));
    CHECK(small[3] == doctest::Approx((10 + 11 + 14 + 15) / 4.0));
    CHECK(small[4] == doctest::Approx(16 + (0 + 1 + 4 + 5) / 4.0));

    std::vector<float> same(big.size());
    resize_bilinear(big, 2, 4, 4, same, 4, 4);
    CHECK(same == big);

    // a constant image stays constant at any size
    const std::vector<float> flat(3 * 5 * 7, 0.3f);
    std::vector<float> stretched(3 * 11 * 2);
    resize_bilinear(flat, 3, 5, 7, stretched, 11, 2);
    for (float value : stretched) CHECK(value == doctest::Approx(0.3f));

    std::vector<float> too_small(3);
    CHECK_THROWS_AS(resize_bilinear(source, 1, 2, 2, too_small, 2, 2), core::ShapeError);
    CHECK_THROWS_AS(resize_bilinear(source, 1, 2, 2, upscaled, 0, 4), core::ShapeError);
}

TEST_CASE("images of different sizes are resized to the requested size") {
    TempDir dir;
    fs::create_directories(dir.path / "mixed");
    const auto small_image = interleaved_pattern(3, 5, 1, 1);
    const auto large_image = interleaved_pattern(9, 6, 1, 2);
    write_png(dir.path / "mixed" / "a.png", small_image, 3, 5, 1);
    write_png(dir.path / "mixed" / "b.png", large_image, 9, 6, 1);
    const Dataset dataset = load_image_folder(dir.path, {.channels = 1, .height = 4, .width = 4});
    REQUIRE(dataset.images_shape() == core::Shape{2, 1, 4, 4});

    // Same as resizing the decoded full-size image.
    std::vector<float> decoded(large_image.size());
    for (size_t i = 0; i < decoded.size(); ++i) decoded[i] = static_cast<float>(large_image[i]) / 255.0f;
    std::vector<float> expected(16);
    resize_bilinear(decoded, 1, 9, 6, expected, 4, 4);
    const core::Tensor second = dataset.images(1, 1).select(0).contiguous();
    for (size_t i = 0; i < 16; ++i) CHECK(second.data()[i] == expected[i]);
    const core::Tensor pixels = dataset.images();  // a range-for does not keep a temporary alive
    for (float value : pixels.span()) {
        CHECK(value >= 0.0f);
        CHECK(value <= 1.0f);
    }
}

TEST_CASE("image folder errors") {
    TempDir dir;
    SUBCASE("unreadable image names the file") {
        fs::create_directories(dir.path / "cls");
        write_png(dir.path / "cls" / "good.png", interleaved_pattern(2, 2, 3, 0), 2, 2, 3);
        const fs::path bad = dir.path / "cls" / "broken.jpg";
        write_file_bytes(bad, std::vector<uint8_t>{0xFF, 0xD8, 0xFF, 0x00, 0x12, 0x34, 0x56}, false);
        const std::string message = message_of<core::FormatError>([&] { load_image_folder(dir.path); });
        CHECK(contains(message, bad.string()));
    }
    SUBCASE("truncated PNG") {
        fs::create_directories(dir.path / "cls");
        const fs::path path = dir.path / "cls" / "cut.png";
        write_png(path, interleaved_pattern(8, 8, 3, 0), 8, 8, 3);
        fs::resize_file(path, fs::file_size(path) / 2);
        const std::string message = message_of<core::FormatError>([&] { load_image_folder(dir.path); });
        CHECK(contains(message, path.string()));
    }
    SUBCASE("no class folders, no images, missing root, bad options") {
        CHECK(contains(message_of<core::ValueError>([&] { load_image_folder(dir.path); }), "no class sub-folders"));
        fs::create_directories(dir.path / "empty_class");
        CHECK(contains(message_of<core::ValueError>([&] { load_image_folder(dir.path); }), "no .png"));
        CHECK_THROWS_AS(load_image_folder(dir.path / "absent"), core::IoError);
        CHECK_THROWS_AS(load_image(dir.path / "absent.png", {}), core::IoError);
        CHECK_THROWS_AS(load_image_folder(dir.path, {.channels = 2}), core::ValueError);
        CHECK_THROWS_AS(load_image_folder(dir.path, {.channels = 3, .height = 0, .width = 4}), core::ValueError);
    }
    CHECK(is_image_file_name("a/b.JPG"));
    CHECK(is_image_file_name("x.jpeg"));
    CHECK_FALSE(is_image_file_name("x.gif"));
    CHECK_FALSE(is_image_file_name("png"));
}

namespace {

// root/<class>/<i>.png for `per_class` images in each of three classes, image i of class k filled
// with the byte 10 * k + i, so a sample's pixel says which file it came from.
void write_class_folders(const fs::path& root, int per_class) {
    for (int label = 0; label < 3; ++label) {
        const fs::path folder = root / ("class" + std::to_string(label));
        fs::create_directories(folder);
        for (int i = 0; i < per_class; ++i)
            write_png(folder / (std::to_string(i) + ".png"),
                      std::vector<uint8_t>(4 * 4 * 3, static_cast<uint8_t>(10 * label + i)), 4, 4, 3);
    }
}

std::vector<int> file_codes(const Dataset& data) {
    std::vector<int> codes;
    for (int64_t i = 0; i < data.size(); ++i)
        codes.push_back(static_cast<int>(data.images(i, 1).data()[0] * 255.0f + 0.5f));
    return codes;
}

}  // namespace

TEST_CASE("a folder of class folders works as it is, with a seeded held-out test split") {
    TempDir dir;
    write_class_folders(dir.path, 10);
    const core::Shape shape = {3, 4, 4};
    const Dataset train = load_dataset("folder", "train", dir.path.string(), shape);
    const Dataset test = load_dataset("folder", "test", dir.path.string(), shape);
    CHECK(test.size() == 6);  // 20% of 30
    CHECK(train.size() == 24);
    CHECK(train.num_classes == 3);
    CHECK(test.class_names == std::vector<std::string>{"class0", "class1", "class2"});
    std::vector<int> all = file_codes(train);
    const std::vector<int> held_out = file_codes(test);
    all.insert(all.end(), held_out.begin(), held_out.end());
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());  // disjoint
    CHECK(all.size() == 30);                                         // and complete
    for (int64_t i = 0; i < test.size(); ++i)
        CHECK(test.labels[static_cast<size_t>(i)] == held_out[static_cast<size_t>(i)] / 10);
    // The same files and seed give the same split; another seed another one.
    CHECK(file_codes(load_dataset("folder", "test", dir.path.string(), shape)) == held_out);
    CHECK(file_codes(load_image_folder_split(dir.path, "test", {.channels = 3, .height = 4, .width = 4},
                                             {.test_fraction = 0.2, .split_seed = 7})) != held_out);
    CHECK_THROWS_AS(load_image_folder_split(dir.path, "validation", {}), core::ValueError);
    CHECK_THROWS_AS(load_image_folder_split(dir.path, "test", {}, {.test_fraction = 1.5}), core::ValueError);
}

TEST_CASE("root/train and root/test are used as they are") {
    TempDir dir;
    write_class_folders(dir.path / "train", 4);
    write_class_folders(dir.path / "test", 2);
    const core::Shape shape = {3, 4, 4};
    CHECK(load_dataset("folder", "train", dir.path.string(), shape).size() == 12);
    const Dataset test = load_dataset("folder", "test", dir.path.string(), shape);
    CHECK(file_codes(test) == std::vector<int>{0, 1, 10, 11, 20, 21});
}
