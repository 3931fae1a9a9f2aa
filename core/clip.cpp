#include "core/clip.hpp"

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/threads.hpp"

namespace proact::core {

namespace {

// sigmoid(z) and 1 - sigmoid(z) without overflow or cancellation: exp of -|z| only.
struct Sigmoid {
    float s;
    float one_minus_s;
};

inline Sigmoid stable_sigmoid(float z) {
    const float e = std::exp(-std::fabs(z));
    const float inverse = 1.0f / (1.0f + e);
    return z >= 0.0f ? Sigmoid{inverse, e * inverse} : Sigmoid{e * inverse, inverse};
}

inline float clip_value(float x, float b, ClipMode mode, float slope) {
    if (!(x > 0.0f)) return 0.0f;  // negatives, zero, -inf and NaN
    if (std::isinf(x)) return mode == ClipMode::saturate ? b : 0.0f;
    switch (mode) {
        case ClipMode::hard: return x <= b ? x : 0.0f;
        case ClipMode::saturate: return x < b ? x : b;
        case ClipMode::smooth: return x * stable_sigmoid(slope * (x - b)).one_minus_s;
    }
    return 0.0f;
}

struct ClipGrad {
    float dx;
    float dthreshold;
};

// d y / d x and d y / d b times dy at one element.
inline ClipGrad clip_grad(float x, float b, float dy, ClipMode mode, float slope) {
    if (!(x > 0.0f)) return {0.0f, 0.0f};
    if (std::isinf(x)) return {0.0f, mode == ClipMode::saturate ? dy : 0.0f};
    switch (mode) {
        case ClipMode::hard: return {x <= b ? dy : 0.0f, 0.0f};
        case ClipMode::saturate: return x < b ? ClipGrad{dy, 0.0f} : ClipGrad{0.0f, dy};
        case ClipMode::smooth: {
            const Sigmoid sig = stable_sigmoid(slope * (x - b));
            const float bump = x * slope * sig.s * sig.one_minus_s;  // x k s (1 - s)
            return {dy * (sig.one_minus_s - bump), dy * bump};
        }
    }
    return {0.0f, 0.0f};
}

// Index of the threshold element for channel c, position s.
inline int64_t threshold_index(ClipGranularity granularity, int64_t c, int64_t s, int64_t spatial) {
    switch (granularity) {
        case ClipGranularity::layer: return 0;
        case ClipGranularity::channel: return c;
        case ClipGranularity::neuron: return c * spatial + s;
    }
    return 0;
}

}  // namespace

ClipGranularity parse_clip_granularity(std::string_view text) {
    if (text == "layer") return ClipGranularity::layer;
    if (text == "channel") return ClipGranularity::channel;
    if (text == "neuron") return ClipGranularity::neuron;
    fail<ValueError>("clip granularity: '", text, "' is not one of layer, channel, neuron");
}

const char* to_string(ClipGranularity granularity) {
    switch (granularity) {
        case ClipGranularity::layer: return "layer";
        case ClipGranularity::channel: return "channel";
        case ClipGranularity::neuron: return "neuron";
    }
    return "?";
}

ClipMode parse_clip_mode(std::string_view text) {
    if (text == "hard") return ClipMode::hard;
    if (text == "smooth") return ClipMode::smooth;
    if (text == "saturate") return ClipMode::saturate;
    fail<ValueError>("clip mode: '", text, "' is not one of hard, smooth, saturate");
}

const char* to_string(ClipMode mode) {
    switch (mode) {
        case ClipMode::hard: return "hard";
        case ClipMode::smooth: return "smooth";
        case ClipMode::saturate: return "saturate";
    }
    return "?";
}

int64_t ClipShape::threshold_numel() const {
    switch (granularity) {
        case ClipGranularity::layer: return 1;
        case ClipGranularity::channel: return channels;
        case ClipGranularity::neuron: return channels * spatial;
    }
    return 1;
}

// x, y (B, C, S): rows of S elements, one row per (b, c).
void clip_forward(const float* x, const float* threshold, float* y, const ClipShape& shape, ClipMode mode,
                  float slope) {
    const int64_t rows = shape.batch * shape.channels, S = shape.spatial, C = shape.channels;
#pragma omp parallel for schedule(static) if (rows * S > kParallelGrain)
    for (int64_t row = 0; row < rows; ++row) {
        const int64_t c = row % C;
        const float* xr = x + row * S;
        float* yr = y + row * S;
        for (int64_t s = 0; s < S; ++s)
            yr[s] = clip_value(xr[s], threshold[threshold_index(shape.granularity, c, s, S)], mode, slope);
    }
}

// One channel at a time (in parallel): every element of that channel over the batch, b then s, so
// each threshold element's sum has one order whatever the thread count.
void clip_backward(const float* x, const float* threshold, const float* dy, float* dx, float* dthreshold,
                   const ClipShape& shape, ClipMode mode, float slope) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.spatial;
    const ClipGranularity granularity = shape.granularity;
    // Per channel: S sums (neuron) or one (channel, layer).
    const int64_t sums_per_channel = granularity == ClipGranularity::neuron ? S : 1;
    std::vector<double> sums(dthreshold ? static_cast<size_t>(C * sums_per_channel) : 0, 0.0);
#pragma omp parallel for schedule(static) if (B * C * S > kParallelGrain)
    for (int64_t c = 0; c < C; ++c) {
        double* channel_sums = dthreshold ? sums.data() + c * sums_per_channel : nullptr;
        for (int64_t b = 0; b < B; ++b) {
            const int64_t base = (b * C + c) * S;
            for (int64_t s = 0; s < S; ++s) {
                const float bound = threshold[threshold_index(granularity, c, s, S)];
                const ClipGrad g = clip_grad(x[base + s], bound, dy[base + s], mode, slope);
                if (dx) dx[base + s] = g.dx;
                if (channel_sums) channel_sums[sums_per_channel == 1 ? 0 : s] += g.dthreshold;
            }
        }
    }
    if (!dthreshold) return;
    if (granularity == ClipGranularity::layer) {
        double total = 0.0;
        for (int64_t c = 0; c < C; ++c) total += sums[static_cast<size_t>(c)];
        dthreshold[0] = static_cast<float>(total);
        return;
    }
    for (size_t i = 0; i < sums.size(); ++i) dthreshold[i] = static_cast<float>(sums[i]);
}

}  // namespace proact::core
