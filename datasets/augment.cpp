#include "datasets/augment.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace proact::datasets {

AugmentationDraw draw_augmentation(const Augmentation& augmentation, core::Rng& rng) {
    AugmentationDraw draw;
    if (augmentation.crop_padding > 0) {
        const auto positions = static_cast<uint64_t>(2 * augmentation.crop_padding + 1);
        draw.offset_y = static_cast<int64_t>(rng.below(positions));
        draw.offset_x = static_cast<int64_t>(rng.below(positions));
    }
    if (augmentation.horizontal_flip) draw.flip = rng.uniform() < 0.5f;
    return draw;
}

void crop_and_flip(std::span<const float> source, std::span<float> destination, int64_t channels, int64_t height,
                   int64_t width, int64_t padding, const AugmentationDraw& draw) {
    const int64_t sample_elements = channels * height * width;
    if (static_cast<int64_t>(source.size()) < sample_elements || static_cast<int64_t>(destination.size()) < sample_elements)
        core::fail<core::ShapeError>("crop_and_flip: a ", channels, "x", height, "x", width, " sample needs ",
                                     sample_elements, " values, source holds ", source.size(), ", destination ",
                                     destination.size());
    if (padding < 0) core::fail<core::ValueError>("crop_and_flip: padding must be >= 0, got ", padding);
    if (draw.offset_y < 0 || draw.offset_y > 2 * padding || draw.offset_x < 0 || draw.offset_x > 2 * padding)
        core::fail<core::ValueError>("crop_and_flip: offsets (", draw.offset_y, ", ", draw.offset_x,
                                     ") outside [0, ", 2 * padding, "]");

    // Source column of output column x is x + shift_x (unflipped) or width-1-x + shift_x (flipped).
    const int64_t shift_y = draw.offset_y - padding;
    const int64_t shift_x = draw.offset_x - padding;
    // Output columns whose source column is inside the image; the rest are zero padding.
    const int64_t first_x = draw.flip ? std::max<int64_t>(0, shift_x) : std::max<int64_t>(0, -shift_x);
    const int64_t last_x = draw.flip ? std::min<int64_t>(width, width + shift_x) : std::min<int64_t>(width, width - shift_x);
    const int64_t plane = height * width;
    for (int64_t channel = 0; channel < channels; ++channel) {
        const float* in = source.data() + channel * plane;
        float* out = destination.data() + channel * plane;
        for (int64_t y = 0; y < height; ++y) {
            float* out_row = out + y * width;
            const int64_t source_y = y + shift_y;
            if (source_y < 0 || source_y >= height || first_x >= last_x) {
                std::fill_n(out_row, width, 0.0f);
                continue;
            }
            const float* in_row = in + source_y * width;
            std::fill(out_row, out_row + first_x, 0.0f);
            if (draw.flip) {
                for (int64_t x = first_x; x < last_x; ++x) out_row[x] = in_row[width - 1 - x + shift_x];
            } else {
                std::copy(in_row + first_x + shift_x, in_row + last_x + shift_x, out_row + first_x);
            }
            std::fill(out_row + last_x, out_row + width, 0.0f);
        }
    }
}

}  // namespace proact::datasets
