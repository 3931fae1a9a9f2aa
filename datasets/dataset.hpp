// Dataset: samples as one float tensor plus one integer label per sample.
//
//   images: [N, C, H, W] for image sets, pixel values raw/255 in [0, 1]
//           [N, F]       for synthetic tabular sets (F features per sample)
//   labels: N class indices in [0, num_classes)
//
// Every loader in this folder returns a contiguous `images` tensor; subset() keeps it that way.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace proact::datasets {

struct Dataset {
    core::Tensor images{};
    std::vector<int32_t> labels{};
    int num_classes = 0;
    std::string name{};
    std::vector<std::string> class_names{};  // empty, or one name per class

    // Number of samples (rows of axis 0 of `images`; 0 for an undefined tensor).
    int64_t size() const;
    // Shape of one sample: [C, H, W] or [F].
    core::Shape sample_shape() const;
    // Elements in one sample: C*H*W or F.
    int64_t sample_numel() const;

    // A new dataset holding the samples at `indices`, in that order (repeats allowed), with its own
    // contiguous copy of their images. Throws IndexError for an index outside [0, size()).
    Dataset subset(std::span<const int64_t> indices) const;

    // Checks the invariants above: images defined with at least 2 axes, one label per sample,
    // labels in [0, num_classes), class_names empty or num_classes long. Throws ShapeError or
    // ValueError naming the dataset.
    void validate() const;
};

// How many samples carry each label: result[k] = count of label k, k in [0, num_classes).
std::vector<int64_t> label_histogram(const Dataset& dataset);

}  // namespace proact::datasets
