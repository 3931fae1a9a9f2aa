// CIFAR-10 and CIFAR-100 binary versions (cifar-10-batches-bin/, cifar-100-binary/).
//
// A file is a sequence of fixed-size records, no header:
//   CIFAR-10:  label byte,                          3072 pixel bytes
//   CIFAR-100: coarse label byte, fine label byte,  3072 pixel bytes
// Pixels are 1024 red, then 1024 green, then 1024 blue bytes, each plane 32x32 row-major, which is
// already the [C, H, W] order of a sample. Loaded datasets keep the pixel bytes
// (samples [3, 32, 32], float values byte/255, see dataset.hpp).
// Files may also be gzip-compressed (detected by magic bytes).
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

inline constexpr int64_t kCifarImageBytes = 3 * 32 * 32;
inline constexpr int64_t kCifar10RecordBytes = 1 + kCifarImageBytes;
inline constexpr int64_t kCifar100RecordBytes = 2 + kCifarImageBytes;

// Readers of one or more files, concatenated in the given order. FormatError naming the file when
// its size is not a whole number of records (or zero), a label is out of range, or the file is
// larger than limits.max_file_bytes (a gzip stream is stopped there); IoError as read_file_bytes.
Dataset read_cifar10_files(const std::vector<std::filesystem::path>& files, std::string name = "cifar10",
                           const ReadLimits& limits = {});
// Uses the fine labels (100 classes); coarse labels are only checked to be below 20.
Dataset read_cifar100_files(const std::vector<std::filesystem::path>& files, std::string name = "cifar100",
                            const ReadLimits& limits = {});

// `directory` holds data_batch_1.bin .. data_batch_5.bin ("train") and test_batch.bin ("test").
Dataset load_cifar10(const std::filesystem::path& directory, std::string_view split, const ReadLimits& limits = {});
// `directory` holds train.bin and test.bin.
Dataset load_cifar100(const std::filesystem::path& directory, std::string_view split, const ReadLimits& limits = {});

// Writers (fixtures, exports). `pixels` holds labels.size() * 3072 bytes in the record pixel order.
void write_cifar10_file(const std::filesystem::path& path, std::span<const uint8_t> pixels,
                        std::span<const uint8_t> labels);
void write_cifar100_file(const std::filesystem::path& path, std::span<const uint8_t> pixels,
                         std::span<const uint8_t> coarse_labels, std::span<const uint8_t> fine_labels);

// Class names in label order (fine labels for CIFAR-100).
const std::vector<std::string>& cifar10_class_names();
const std::vector<std::string>& cifar100_class_names();

}  // namespace proact::datasets
