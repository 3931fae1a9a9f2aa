// Training-time augmentation of image samples: random crop with zero padding, then random
// horizontal flip (torchvision's RandomCrop(size, padding) + RandomHorizontalFlip(0.5), applied to
// raw pixel values, so the padding is black before normalisation).
#pragma once

#include <cstdint>
#include <span>

#include "core/rng.hpp"

namespace proact::datasets {

struct Augmentation {
    int64_t crop_padding = 0;      // P: crop H x W out of the image zero-padded by P on every side
    bool horizontal_flip = false;  // mirror left-right with probability 0.5
    bool enabled() const { return crop_padding > 0 || horizontal_flip; }
};

// Where one sample's crop is taken and whether it is mirrored.
struct AugmentationDraw {
    int64_t offset_y = 0;  // in [0, 2P]: top row of the window in padded coordinates
    int64_t offset_x = 0;  // in [0, 2P]
    bool flip = false;
};

// Draws in a fixed order from `rng`: offset_y, offset_x (only when P > 0), then flip (only when
// horizontal_flip). The DataLoader passes Rng(seed, "augment", epoch).child(sample index), so a
// sample's draw depends on nothing but (seed, epoch, sample index).
AugmentationDraw draw_augmentation(const Augmentation& augmentation, core::Rng& rng);

// source and destination are (channels, height, width), contiguous, not overlapping.
// destination[c][y][x] = padded[c][y + offset_y][x' + offset_x], x' = flip ? width-1-x : x, where
// padded is source with `padding` zeros on every side.
void crop_and_flip(std::span<const float> source, std::span<float> destination, int64_t channels, int64_t height,
                   int64_t width, int64_t padding, const AugmentationDraw& draw);

}  // namespace proact::datasets
