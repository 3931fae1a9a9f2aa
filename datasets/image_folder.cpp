#include "datasets/image_folder.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "datasets/file_bytes.hpp"
#include "datasets/resize.hpp"
#include "datasets/split.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wpedantic"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO  // files are read by read_raw_file_bytes, so I/O and decode errors stay apart
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace proact::datasets {

namespace {

struct StbImageDeleter {
    void operator()(stbi_uc* pixels) const { stbi_image_free(pixels); }
};

void check_options(const ImageFolderOptions& options, const std::filesystem::path& path) {
    if (options.channels != 1 && options.channels != 3)
        core::fail<core::ValueError>("image folder '", path.string(), "': channels must be 1 or 3, got ",
                                     options.channels);
    if (options.height < 1 || options.width < 1)
        core::fail<core::ValueError>("image folder '", path.string(), "': output size must be at least 1x1, got ",
                                     options.height, "x", options.width);
}

// stb_image 2.27 (Debian 12) builds a JPEG Huffman table from the 16 code counts of a DHT segment
// without checking that they sum to at most 256, and writes past its 257-entry size table when
// they do (fixed upstream in 2.28; found by fuzz/ on 2026-12-05). So before stb sees a JPEG, every
// DHT segment is checked, walking the segments as stb does: markers with a length in order, and
// after a scan (SOS) the entropy-coded data up to the next marker that is neither a stuffed 0xFF
// (FF 00) nor a restart (FF D0..D7); bytes between segments are skipped one by one, and markers
// without a length (SOI, RST, fill bytes) are stepped over wherever they are. Where stb would stop
// with an error the walk goes on, so it checks at least every DHT that stb would build.
void check_jpeg_huffman_tables(const std::vector<uint8_t>& bytes, const std::filesystem::path& path) {
    const size_t size = bytes.size();
    size_t at = 0;
    while (at + 4 <= size) {
        if (bytes[at] != 0xFF) {  // padding between segments, which stb skips byte by byte
            ++at;
            continue;
        }
        const uint8_t marker = bytes[at + 1];
        if (marker == 0xFF || marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) {
            at += marker == 0xFF ? 1 : 2;  // fill byte, or a marker without a length
            continue;
        }
        if (marker == 0xD9) return;  // EOI
        const size_t length = size_t(bytes[at + 2]) << 8 | bytes[at + 3];
        const size_t end = std::min(at + 2 + length, size);
        if (marker == 0xC4) {
            // As stb reads them: tables while the segment's length is not used up, each 17 bytes
            // plus its codes, read on past the segment's end if the length says so (0 past EOF).
            for (size_t table = at + 4, left = length >= 2 ? length - 2 : 0; left > 0 && table < size;) {
                size_t codes = 0;
                for (size_t i = table + 1; i <= table + 16 && i < size; ++i) codes += bytes[i];
                if (codes > 256)
                    core::fail<core::FormatError>("image '", path.string(), "' is a corrupt JPEG: a Huffman table at byte ",
                                                  table, " declares ", codes, " codes, at most 256 are possible");
                table += 17 + codes;
                left = left > 17 + codes ? left - 17 - codes : 0;
            }
        }
        at = end;
        if (marker == 0xDA)  // skip the scan's entropy-coded data
            while (at + 1 < size &&
                   !(bytes[at] == 0xFF && bytes[at + 1] != 0 && (bytes[at + 1] < 0xD0 || bytes[at + 1] > 0xD7)))
                ++at;
    }
}

// Decodes `path` into destination, which is (channels, height, width).
void decode_into(const std::filesystem::path& path, const ImageFolderOptions& options, float* destination) {
    const std::vector<uint8_t> file_bytes = read_raw_file_bytes(path, options.limits);
    if (file_bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
        core::fail<core::FormatError>("image '", path.string(), "' is too large to decode (", file_bytes.size(),
                                      " bytes)");
    // stb takes any file whose first marker after 0xFF fill bytes is SOI for a JPEG.
    if (!file_bytes.empty() && file_bytes[0] == 0xFF) check_jpeg_huffman_tables(file_bytes, path);
    int source_width = 0;
    int source_height = 0;
    int channels_in_file = 0;
    // The size from the header first: a few hundred bytes can claim a 60000 x 60000 image, which
    // stb would try to allocate.
    if (!stbi_info_from_memory(file_bytes.data(), static_cast<int>(file_bytes.size()), &source_width, &source_height,
                               &channels_in_file))
        core::fail<core::FormatError>("image '", path.string(), "' cannot be decoded: ", stbi_failure_reason());
    const uint64_t claimed_pixels = uint64_t(std::max(source_width, 0)) * uint64_t(std::max(source_height, 0));
    if (claimed_pixels == 0 || claimed_pixels > options.limits.max_image_pixels)
        core::fail<core::FormatError>("image '", path.string(), "' claims ", source_width, "x", source_height,
                                      " pixels, expected 1 to ", options.limits.max_image_pixels,
                                      " pixels per image (ReadLimits::max_image_pixels)");
    std::unique_ptr<stbi_uc, StbImageDeleter> pixels(
        stbi_load_from_memory(file_bytes.data(), static_cast<int>(file_bytes.size()), &source_width, &source_height,
                              &channels_in_file, options.channels));
    if (!pixels)
        core::fail<core::FormatError>("image '", path.string(), "' cannot be decoded: ", stbi_failure_reason());
    if (uint64_t(source_width) * uint64_t(source_height) != claimed_pixels)
        core::fail<core::FormatError>("image '", path.string(), "' decodes to ", source_width, "x", source_height,
                                      " pixels, its header said ", claimed_pixels);

    // stb gives (height, width, channels) interleaved; samples are planar (channels, height, width).
    const int64_t channels = options.channels;
    const int64_t plane = int64_t(source_height) * source_width;
    const bool same_size = source_height == options.height && source_width == options.width;
    std::vector<float> planar;
    float* planar_out = destination;
    if (!same_size) {
        planar.resize(static_cast<size_t>(channels * plane));
        planar_out = planar.data();
    }
    const stbi_uc* in = pixels.get();
    for (int64_t pixel = 0; pixel < plane; ++pixel)
        for (int64_t channel = 0; channel < channels; ++channel)
            planar_out[channel * plane + pixel] = static_cast<float>(in[pixel * channels + channel]) / 255.0f;
    if (!same_size)
        resize_bilinear(planar, channels, source_height, source_width,
                        std::span<float>(destination, static_cast<size_t>(channels * options.height * options.width)),
                        options.height, options.width);
}

// The sub-folders (want_directories) or the image files of `directory`, sorted by name. An entry
// whose type cannot be found out (a symbolic link loop, a dangling link) is refused where it could
// matter: any at the top, an image-named one in a class folder. FIFOs and devices with image names
// are listed and then refused by the reader (core::InputFile) without being opened.
std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& directory, bool want_directories) {
    std::vector<std::filesystem::path> entries;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
        std::error_code type_error;
        const std::filesystem::file_status status = entry.status(type_error);
        if (type_error && (want_directories || is_image_file_name(entry.path())))
            core::fail<core::IoError>("image folder: cannot follow '", entry.path().string(), "': ",
                                      type_error.message());
        const bool is_directory = !type_error && std::filesystem::is_directory(status);
        if (want_directories ? is_directory : (!is_directory && !type_error && is_image_file_name(entry.path())))
            entries.push_back(entry.path());
    }
    if (error) core::fail<core::IoError>("image folder: cannot list '", directory.string(), "': ", error.message());
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.filename().string() < b.filename().string(); });
    return entries;
}

}  // namespace

bool is_image_file_name(const std::filesystem::path& path) {
    std::string extension = path.extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return extension == ".png" || extension == ".jpg" || extension == ".jpeg" || extension == ".bmp";
}

core::Tensor load_image(const std::filesystem::path& path, const ImageFolderOptions& options) {
    check_options(options, path);
    core::Tensor image = core::Tensor::empty({options.channels, options.height, options.width});
    decode_into(path, options, image.data());
    return image;
}

Dataset load_image_folder(const std::filesystem::path& root, const ImageFolderOptions& options) {
    check_options(options, root);
    std::error_code error;
    if (!std::filesystem::is_directory(root, error))
        core::fail<core::IoError>("image folder: '", root.string(), "' is not a directory");

    const std::vector<std::filesystem::path> class_directories = sorted_entries(root, true);
    if (class_directories.empty())
        core::fail<core::ValueError>("image folder '", root.string(),
                                     "' has no class sub-folders (expected root/<class>/<image>)");

    Dataset dataset;
    dataset.name = root.filename().empty() ? root.parent_path().filename().string() : root.filename().string();
    std::vector<std::filesystem::path> files;
    if (class_directories.size() > size_t(std::numeric_limits<int32_t>::max()))
        core::fail<core::ValueError>("image folder '", root.string(), "' has ", class_directories.size(),
                                     " class folders, more than labels can count");
    for (size_t label = 0; label < class_directories.size(); ++label) {
        dataset.class_names.push_back(class_directories[label].filename().string());
        std::vector<std::filesystem::path> images = sorted_entries(class_directories[label], false);
        // A class without samples cannot be learnt or evaluated, and usually means a misplaced folder.
        if (images.empty())
            core::fail<core::ValueError>("image folder '", root.string(), "': class folder '",
                                         class_directories[label].filename().string(),
                                         "' holds no .png/.jpg/.jpeg/.bmp file; every class needs at least one image");
        for (auto& file : images) {
            files.push_back(std::move(file));
            dataset.labels.push_back(static_cast<int32_t>(label));
        }
    }
    dataset.num_classes = static_cast<int>(class_directories.size());

    // Tensor::empty checks the element count for overflow before anything is decoded. Floats, not
    // bytes: a resized image's values are not byte/255.
    core::Tensor images =
        core::Tensor::empty({static_cast<int64_t>(files.size()), options.channels, options.height, options.width});
    const int64_t sample_elements = images.numel() / static_cast<int64_t>(files.size());
    float* out = images.data();
    for (size_t index = 0; index < files.size(); ++index)
        decode_into(files[index], options, out + static_cast<int64_t>(index) * sample_elements);
    dataset.set_images(images);
    return dataset;
}

Dataset load_image_folder_split(const std::filesystem::path& root, const std::string& split,
                                const ImageFolderOptions& options, const FolderSplitOptions& held_out) {
    if (split != "train" && split != "test")
        core::fail<core::ValueError>("image folder: split must be 'train' or 'test', got '", split, "'");
    std::error_code error;
    if (std::filesystem::is_directory(root / "train", error) && std::filesystem::is_directory(root / "test", error))
        return load_image_folder(root / split, options);
    if (!(held_out.test_fraction >= 0.0 && held_out.test_fraction <= 1.0))
        core::fail<core::ValueError>("image folder: held-out test fraction must be in [0, 1], got ",
                                     held_out.test_fraction);
    Dataset all = load_image_folder(root, options);
    auto [train, test] = datasets::split(all, held_out.test_fraction, held_out.split_seed);
    Dataset& chosen = split == "train" ? train : test;
    chosen.name = all.name + "-" + split;
    return std::move(chosen);
}

}  // namespace proact::datasets
