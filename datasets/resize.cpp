#include "datasets/resize.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace proact::datasets {

namespace {

// For each output coordinate along one axis: the two source taps and the weight of the second.
struct AxisTaps {
    std::vector<int64_t> low;
    std::vector<int64_t> high;
    std::vector<float> high_weight;
};

AxisTaps compute_taps(int64_t source_size, int64_t output_size) {
    AxisTaps taps;
    taps.low.resize(static_cast<size_t>(output_size));
    taps.high.resize(static_cast<size_t>(output_size));
    taps.high_weight.resize(static_cast<size_t>(output_size));
    const double scale = static_cast<double>(source_size) / static_cast<double>(output_size);
    for (int64_t out = 0; out < output_size; ++out) {
        // Centre of output pixel `out` in source coordinates; clamped at the borders.
        const double position = std::max(0.0, (static_cast<double>(out) + 0.5) * scale - 0.5);
        const int64_t low = std::min(static_cast<int64_t>(position), source_size - 1);
        const size_t slot = static_cast<size_t>(out);
        taps.low[slot] = low;
        taps.high[slot] = std::min(low + 1, source_size - 1);
        taps.high_weight[slot] = static_cast<float>(position - static_cast<double>(low));
    }
    return taps;
}

}  // namespace

void resize_bilinear(std::span<const float> source, int64_t channels, int64_t source_height, int64_t source_width,
                     std::span<float> destination, int64_t height, int64_t width) {
    if (channels < 1 || source_height < 1 || source_width < 1 || height < 1 || width < 1)
        core::fail<core::ShapeError>("resize_bilinear: sizes must be >= 1, got ", channels, " channels, source ",
                                     source_height, "x", source_width, ", output ", height, "x", width);
    const int64_t source_plane = source_height * source_width;
    const int64_t plane = height * width;
    if (static_cast<int64_t>(source.size()) < channels * source_plane)
        core::fail<core::ShapeError>("resize_bilinear: source holds ", source.size(), " values, ", channels, "x",
                                     source_height, "x", source_width, " needs ", channels * source_plane);
    if (static_cast<int64_t>(destination.size()) < channels * plane)
        core::fail<core::ShapeError>("resize_bilinear: destination holds ", destination.size(), " values, ", channels,
                                     "x", height, "x", width, " needs ", channels * plane);

    const AxisTaps rows = compute_taps(source_height, height);
    const AxisTaps cols = compute_taps(source_width, width);
    for (int64_t channel = 0; channel < channels; ++channel) {
        const float* in = source.data() + channel * source_plane;
        float* out = destination.data() + channel * plane;
        for (int64_t y = 0; y < height; ++y) {
            const size_t row_slot = static_cast<size_t>(y);
            const float* row_low = in + rows.low[row_slot] * source_width;
            const float* row_high = in + rows.high[row_slot] * source_width;
            const float weight_y = rows.high_weight[row_slot];
            for (int64_t x = 0; x < width; ++x) {
                const size_t col_slot = static_cast<size_t>(x);
                const int64_t x_low = cols.low[col_slot];
                const int64_t x_high = cols.high[col_slot];
                const float weight_x = cols.high_weight[col_slot];
                const float top = row_low[x_low] + weight_x * (row_low[x_high] - row_low[x_low]);
                const float bottom = row_high[x_low] + weight_x * (row_high[x_high] - row_high[x_low]);
                out[y * width + x] = top + weight_y * (bottom - top);
            }
        }
    }
}

}  // namespace proact::datasets
