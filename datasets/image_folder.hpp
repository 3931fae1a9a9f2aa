// A folder of images, one sub-folder per class (torchvision's ImageFolder layout):
//
//   root/cat/001.png  root/cat/002.jpg  root/dog/a.bmp ...
//
// Classes are the sub-folders sorted by name (label k = k-th name); within a class, files are
// sorted by name. Files ending in .png .jpg .jpeg .bmp (any case) are read, others are skipped;
// a class folder without images is an error (a label without samples). The files are untrusted:
// a FIFO, a device or a symbolic link loop is refused without being opened, and an image whose
// header claims more than limits.max_image_pixels is refused before it is decoded.
// Every image is decoded by stb_image, converted to `channels` (1: stb's luma of RGB; 3: grey
// replicated; alpha dropped) and resized to height x width by bilinear interpolation
// (see resize.hpp). The dataset's samples are [channels, height, width] with values byte/255 (stored
// as floats: a resized image's values are not bytes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "datasets/dataset.hpp"
#include "datasets/file_bytes.hpp"

namespace proact::datasets {

struct ImageFolderOptions {
    int channels = 3;  // 1 or 3
    int64_t height = 32;
    int64_t width = 32;
    ReadLimits limits{};  // bytes of an image file, pixels of an image
};

// IoError when `root` is not a directory or a file cannot be read or followed; ValueError when it
// holds no class folder or a class folder holds no image; FormatError naming the file when an
// image cannot be decoded or claims more pixels than options.limits allow.
Dataset load_image_folder(const std::filesystem::path& root, const ImageFolderOptions& options = {});

// The "folder" data set's split of `root`, in either layout:
//   root/train/<class>/... and root/test/<class>/...   each split is its own image folder;
//   root/<class>/...                                   one image folder, from which a seeded
//       held-out share is the test split: round(test_fraction * N) samples chosen by
//       Rng(split_seed, "split") (datasets::split), the rest the train split. The two are disjoint
//       and together hold every image; the split depends only on the files and the seed, so a
//       train and a later eval of the same folder agree on it.
// ValueError for a split other than "train" / "test" or a test_fraction outside [0, 1]; otherwise
// errors as load_image_folder.
struct FolderSplitOptions {
    double test_fraction = 0.2;
    uint64_t split_seed = 0;
};
Dataset load_image_folder_split(const std::filesystem::path& root, const std::string& split,
                                const ImageFolderOptions& options = {}, const FolderSplitOptions& held_out = {});

// One image as a [channels, height, width] tensor of byte/255 values (errors as above).
core::Tensor load_image(const std::filesystem::path& path, const ImageFolderOptions& options);

// True for the extensions load_image_folder reads.
bool is_image_file_name(const std::filesystem::path& path);

}  // namespace proact::datasets
