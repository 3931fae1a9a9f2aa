// Data sets by name, as the command line names them:
//   fashion-mnist (default dir /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
//   mnist, cifar10, cifar100 (need a directory), folder (an image folder: DIR/train/<class>/...
//   and DIR/test/<class>/..., or DIR/<class>/... with a seeded held-out test split: 20% of the
//   images chosen by Rng(0, "split"), see load_image_folder_split)
// `data_dir` empty means the default directory of that data set (only fashion-mnist has one).
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "datasets/file_bytes.hpp"

namespace proact::datasets {

const std::vector<std::string>& dataset_names();

// split: "train" or "test". ValueError for an unknown name (listing the known ones) or a data set
// without a default directory when data_dir is empty; IoError / FormatError from the readers.
// `image_shape` (C,H,W) is used by "folder" to decode and resize; ignored otherwise. `limits`
// bound what one file may make the reader allocate (file_bytes.hpp).
Dataset load_dataset(const std::string& name, const std::string& split, const std::string& data_dir = "",
                     const core::Shape& image_shape = {3, 32, 32}, const ReadLimits& limits = {});

}  // namespace proact::datasets
