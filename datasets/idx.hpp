// IDX files (MNIST, Fashion-MNIST), gzip-compressed or raw (told apart by the gzip magic 1f 8b).
//
// Layout, all integers big-endian:
//   images: magic 0x00000803 (unsigned bytes, 3 dimensions), count, rows, cols, then count*rows*cols
//           pixel bytes, row-major
//   labels: magic 0x00000801 (unsigned bytes, 1 dimension), count, then count label bytes
//
// Loaded datasets keep the file's pixel bytes (samples [1, rows, cols], float values pixel/255, see
// dataset.hpp) and labels in [0, 10).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/dataset.hpp"
#include "datasets/file_bytes.hpp"

namespace proact::datasets {

// Where the Debian package dataset-fashion-mnist installs the four .gz files.
inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;

// The pixel bytes of an IDX image file: pixels[(image * rows + row) * cols + col].
struct IdxImages {
    int64_t count = 0;
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<uint8_t> pixels{};
};

// Readers. IoError when the file cannot be read or is not a regular file; FormatError naming the
// file for a wrong magic, a truncated gzip stream, a length that does not match the header
// (expected vs actual bytes), a header claiming no samples, images of 0 pixels or more than
// limits.max_image_pixels, or a file larger than limits.max_file_bytes. The header's claims are
// checked before the payload is decompressed, and no more than the claim is ever decompressed.
IdxImages read_idx_images(const std::filesystem::path& path, const ReadLimits& limits = {});
std::vector<uint8_t> read_idx_labels(const std::filesystem::path& path, const ReadLimits& limits = {});

// Writers (for fixtures and exports). `pixels` holds count*rows*cols bytes; gzip compresses the file.
void write_idx_images(const std::filesystem::path& path, std::span<const uint8_t> pixels, int64_t count,
                      int64_t rows, int64_t cols, bool gzip);
void write_idx_labels(const std::filesystem::path& path, std::span<const uint8_t> labels, bool gzip);

// A dataset from an image file and a label file: checks that the counts match and that every label
// is below `class_names.size()` (FormatError naming the label file, sample and value).
Dataset load_idx_dataset(const std::filesystem::path& images_path, const std::filesystem::path& labels_path,
                         std::string name, std::vector<std::string> class_names, const ReadLimits& limits = {});

// `split` is "train" (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]) or "test"
// (t10k-...). The .gz name is tried first, then the plain one. ValueError for another split,
// IoError when neither file exists.
Dataset load_mnist(const std::filesystem::path& directory, std::string_view split, const ReadLimits& limits = {});
Dataset load_fashion_mnist(const std::filesystem::path& directory, std::string_view split,
                           const ReadLimits& limits = {});
inline Dataset load_fashion_mnist(std::string_view split) { return load_fashion_mnist(kDefaultFashionMnistDir, split); }

// Class names in label order.
const std::vector<std::string>& mnist_class_names();          // "0" .. "9"
const std::vector<std::string>& fashion_mnist_class_names();  // "T-shirt/top" .. "Ankle boot"

}  // namespace proact::datasets
