// Bilinear image resizing with half-pixel centres (PyTorch's interpolate(mode="bilinear",
// align_corners=False) without antialiasing; OpenCV's INTER_LINEAR). Resizing to the same size is
// the identity.
#pragma once

#include <cstdint>
#include <span>

namespace proact::datasets {

// source is (channels, source_height, source_width), destination is (channels, height, width),
// both contiguous row-major. ShapeError if a span is smaller than its sizes say or a size is < 1.
void resize_bilinear(std::span<const float> source, int64_t channels, int64_t source_height, int64_t source_width,
                     std::span<float> destination, int64_t height, int64_t width);

}  // namespace proact::datasets
