// Dataset: samples stored once, as their source holds them, a view of indices over them, and one
// integer label per sample of the view.
//
//   stored pixels: R rows of shape [C, H, W] (image sets) or [F] (synthetic tabular sets), either
//                  bytes (IDX, CIFAR: the file's uint8 values; a value is byte / 255.0f, in [0, 1])
//                  or floats (image folders, which are resized; synthetic sets)
//   rows:          N indices into the stored rows: sample i is stored row rows[i]
//   labels:        N class indices in [0, num_classes)
//
// Copies share the stored pixels, and subset() and split() are views: they copy indices and
// labels, never pixels. Consumers ask for float samples by range (images(first, count)) or by
// index list (gather(indices)); each call converts only those samples, byte / 255.0f exactly as
// a float loader would, so a batch is the same bits whichever way it was stored. Fashion-MNIST's
// training set is 47 MB of bytes; as floats it was 188 MB, and each split copied it again.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace proact::datasets {

class Dataset {
public:
    std::vector<int32_t> labels{};
    int num_classes = 0;
    std::string name{};
    std::vector<std::string> class_names{};  // empty, or one name per class

    // Stores float samples `images` [N, ...] (at least 2 axes; a non-contiguous tensor is copied,
    // a contiguous one shared) and views all of them in order. Labels are left as they are.
    void set_images(const core::Tensor& images);
    // Stores `bytes`, rows of `sample_shape` (value byte / 255.0f), and views all of them in order.
    // ShapeError unless bytes.size() is a whole number of samples.
    void set_pixel_bytes(std::vector<uint8_t> bytes, const core::Shape& sample_shape);

    // Number of samples in the view (0 before set_images / set_pixel_bytes).
    int64_t size() const { return static_cast<int64_t>(rows_.size()); }
    // Shape of one sample: [C, H, W] or [F] ({} with nothing stored).
    core::Shape sample_shape() const;
    // Elements in one sample: C*H*W or F.
    int64_t sample_numel() const;
    // [N, C, H, W] or [N, F]: the shape of images().
    core::Shape images_shape() const;
    // True when the pixels are stored as bytes (and converted per batch).
    bool stores_bytes() const;
    // True when both views read the same stored pixels.
    bool shares_pixels_with(const Dataset& other) const { return pixels_ && pixels_ == other.pixels_; }

    // Samples [first, first + count) as a new contiguous float tensor [count, ...]. IndexError
    // outside [0, size()).
    core::Tensor images(int64_t first, int64_t count) const;
    // The samples at `indices` (repeats allowed), in that order, as a new float tensor.
    // IndexError naming the position for an index outside [0, size()).
    core::Tensor gather(std::span<const int64_t> indices) const;
    // Every sample as one float tensor: for small sets and for consumers that hold every image at
    // once (a fault campaign). Training and evaluation ask for batches instead.
    core::Tensor images() const { return images(0, size()); }
    // Writes sample `index` as floats into destination (sample_numel() values). No range check:
    // for loops that checked their indices.
    void copy_sample(int64_t index, float* destination) const;

    // A view of the samples at `indices`, in that order (repeats allowed): shares the stored pixels
    // and copies the labels. Throws IndexError for an index outside [0, size()).
    Dataset subset(std::span<const int64_t> indices) const;

    // Checks the invariants above: pixels stored with at least 1 axis per sample, one label per
    // sample, labels in [0, num_classes), class_names empty or num_classes long. Throws ShapeError
    // or ValueError naming the dataset.
    void validate() const;

private:
    // What the source held, never changed once stored: exactly one of bytes and values is used.
    struct Pixels {
        core::Shape sample_shape;
        int64_t sample_numel = 0;
        std::vector<uint8_t> bytes;  // rows * sample_numel, value byte / 255.0f
        core::Tensor values;         // or [rows, ...] float32, contiguous
        int64_t rows() const;
    };
    std::shared_ptr<const Pixels> pixels_;
    std::vector<int64_t> rows_;  // sample i is stored row rows_[i]
};

// How many samples carry each label: result[k] = count of label k, k in [0, num_classes).
std::vector<int64_t> label_histogram(const Dataset& dataset);

}  // namespace proact::datasets
