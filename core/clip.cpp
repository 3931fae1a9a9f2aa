#include "core/clip.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/threads.hpp"

namespace proact::core {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// exp(a) for a <= 0, Cephes' single-precision polynomial (within 2 ulp of expf): unlike a call to
// libm's expf it vectorises, and the smooth step spends most of its time here. Below -87 it is 0
// (expf would give a denormal or 0 there).
inline float exp_nonpositive(float input) {
    const float a = input > -87.0f ? input : -87.0f;
    // n = round(a log2 e) by the shifter trick: adding 1.5 * 2^23 rounds to an integer, which then
    // sits in the low mantissa bits (a float-to-int conversion here keeps GCC from vectorising).
    constexpr float kShifter = 12582912.0f;
    const float shifted = a * 1.44269504088896341f + kShifter;
    const float n = shifted - kShifter;
    const int32_t exponent = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kShifter);
    float r = a - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    const float value = e * std::bit_cast<float>((exponent + 127) << 23);
    return input < -87.0f ? 0.0f : value;
}

// sigmoid(z) and 1 - sigmoid(z) without overflow or cancellation: exp of -|z| only. Plain floats
// and selects (no struct), which GCC if-converts and vectorises.
inline void stable_sigmoid(float z, float& s, float& one_minus_s) {
    const float e = exp_nonpositive(-std::fabs(z));
    const float inverse = 1.0f / (1.0f + e);
    const float e_inverse = e * inverse;
    const bool positive = z >= 0.0f;
    s = positive ? inverse : e_inverse;
    one_minus_s = positive ? e_inverse : inverse;
}

// Branch-free (bitwise & on the conditions, selects), so that the loops over a row vectorise.
// `valid`: a finite positive x; everything else (0, negatives, -inf, NaN, +inf) is 0, except +inf
// in saturate mode, which is b.
inline bool finite_positive(float x) { return (x > 0.0f) & (x < kInf); }

template <ClipMode mode>
inline float clip_value(float x, float b, float slope) {
    const bool valid = finite_positive(x);
    if constexpr (mode == ClipMode::hard) return valid & (x <= b) ? x : 0.0f;
    if constexpr (mode == ClipMode::saturate) return valid ? std::min(x, b) : (x == kInf ? b : 0.0f);
    float s, one_minus_s;
    stable_sigmoid(slope * (x - b), s, one_minus_s);
    const float y = x * one_minus_s;
    return valid ? y : 0.0f;
}

struct ClipGrad {
    float dx;
    float dthreshold;
};

// d y / d x and d y / d b times dy at one element.
template <ClipMode mode>
inline ClipGrad clip_grad(float x, float b, float dy, float slope) {
    const bool valid = finite_positive(x);
    if constexpr (mode == ClipMode::hard) return {valid & (x <= b) ? dy : 0.0f, 0.0f};
    if constexpr (mode == ClipMode::saturate) {
        const bool inside = valid & (x < b);
        const bool clipped = (valid & (x >= b)) | (x == kInf);
        return {inside ? dy : 0.0f, clipped ? dy : 0.0f};
    }
    float s, one_minus_s;
    stable_sigmoid(slope * (x - b), s, one_minus_s);
    const float bump = x * slope * s * one_minus_s;  // x k s (1 - s)
    return {valid ? dy * (one_minus_s - bump) : 0.0f, valid ? dy * bump : 0.0f};
}

// y = clip(x) over one row of S elements; b is the row's threshold: S values (neuron) or one.
template <ClipMode mode, bool per_element>
void clip_row(const float* x, const float* b, float* y, int64_t S, float slope) {
    const float shared = b[0];
#pragma omp simd
    for (int64_t s = 0; s < S; ++s) y[s] = clip_value<mode>(x[s], per_element ? b[s] : shared, slope);
}

// One row of the backward: dx written if write_dx; the threshold gradient added to sums[s]
// (per_element) or to sums[0] if write_sums. Chunks of kLanes elements: the threshold gradients go
// to a float buffer first and are added to the double sums in a second loop (GCC does not
// vectorise the convert-and-add inside the first). A shared threshold sums element s into lane
// s % kLanes and the lanes in order at the end, so its bits do not depend on the vector width
// the compiler chose; a per-element sum adds one value per element per row, in row order.
constexpr int64_t kLanes = 16;

template <ClipMode mode, bool per_element, bool write_dx, bool write_sums>
void clip_grad_row_as(const float* x, const float* b, const float* dy, float* dx, double* sums, int64_t S, float slope) {
    const float shared = b[0];
    double lanes[kLanes] = {};
    for (int64_t start = 0; start < S; start += kLanes) {
        const int64_t count = std::min(kLanes, S - start);
        float dthreshold[kLanes];
#pragma omp simd
        for (int64_t j = 0; j < count; ++j) {
            const int64_t s = start + j;
            const ClipGrad g = clip_grad<mode>(x[s], per_element ? b[s] : shared, dy[s], slope);
            if constexpr (write_dx) dx[s] = g.dx;
            dthreshold[j] = g.dthreshold;
        }
        if constexpr (!write_sums) continue;
        if constexpr (per_element) {
#pragma omp simd
            for (int64_t j = 0; j < count; ++j) sums[start + j] += static_cast<double>(dthreshold[j]);
        } else {
#pragma omp simd
            for (int64_t j = 0; j < count; ++j) lanes[j] += static_cast<double>(dthreshold[j]);
        }
    }
    if constexpr (write_sums && !per_element) {
        double total = 0.0;
        for (int64_t j = 0; j < kLanes; ++j) total += lanes[j];
        sums[0] += total;
    }
}

template <ClipMode mode, bool per_element>
void clip_grad_row(const float* x, const float* b, const float* dy, float* dx, double* sums, int64_t S, float slope) {
    if (dx && sums) clip_grad_row_as<mode, per_element, true, true>(x, b, dy, dx, sums, S, slope);
    else if (dx) clip_grad_row_as<mode, per_element, true, false>(x, b, dy, dx, sums, S, slope);
    else if (sums) clip_grad_row_as<mode, per_element, false, true>(x, b, dy, dx, sums, S, slope);
}

// Elements per block of a layer threshold's flat loops: fixed, so the partial sums (and so the
// gradient's bits) do not depend on the thread count.
constexpr int64_t kClipBlock = 4096;

// The rows each granularity walks: layer = everything as blocks of one row, neuron = one row of
// C*S per sample, channel = one row of S per (sample, channel). A channel threshold over S = 1 is
// a neuron threshold.
bool neuron_like(const ClipShape& shape) {
    return shape.granularity == ClipGranularity::neuron ||
           (shape.granularity == ClipGranularity::channel && shape.spatial == 1);
}

template <ClipMode mode>
void clip_forward_mode(const float* x, const float* threshold, float* y, const ClipShape& shape, float slope,
                       bool may_thread) {
    const int64_t total = shape.batch * shape.channels * shape.spatial;
    const bool layer = shape.granularity == ClipGranularity::layer, per_sample = neuron_like(shape);
    // Units: blocks of kClipBlock elements under one layer threshold, else rows of `length`.
    const int64_t length = layer ? kClipBlock : per_sample ? shape.channels * shape.spatial : shape.spatial;
    const int64_t units = layer ? (total + kClipBlock - 1) / kClipBlock : total / std::max<int64_t>(length, 1);
    const auto unit = [&](int64_t i) {
        const int64_t start = i * length;
        if (layer) clip_row<mode, false>(x + start, threshold, y + start, std::min(kClipBlock, total - start), slope);
        else if (per_sample) clip_row<mode, true>(x + start, threshold, y + start, length, slope);
        else clip_row<mode, false>(x + start, threshold + i % shape.channels, y + start, length, slope);
    };
    if (!may_thread || total <= kParallelGrain) {  // no region at all: an if(false) one still costs a team
        for (int64_t i = 0; i < units; ++i) unit(i);
        return;
    }
#pragma omp parallel for schedule(dynamic, layer ? 1 : dynamic_chunk(length))
    for (int64_t i = 0; i < units; ++i) unit(i);
}

// Each threshold element's gradient is summed in one fixed order whatever the thread count:
// layer = per block of kClipBlock elements, then the blocks in order; neuron = over the batch, per
// element (threads split the elements); channel = over the batch and positions, per channel.
template <ClipMode mode>
void clip_backward_mode(const float* x, const float* threshold, const float* dy, float* dx, std::vector<double>& sums,
                        const ClipShape& shape, float slope) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.spatial, total = B * C * S;
    double* out = sums.empty() ? nullptr : sums.data();
    if (shape.granularity == ClipGranularity::layer) {
        const int64_t blocks = (total + kClipBlock - 1) / kClipBlock;
        std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
#pragma omp parallel for schedule(dynamic) if (total > kParallelGrain)
        for (int64_t block = 0; block < blocks; ++block) {
            const int64_t start = block * kClipBlock;
            clip_grad_row<mode, false>(x + start, threshold, dy + start, dx ? dx + start : nullptr,
                                       out ? &partial[static_cast<size_t>(block)] : nullptr,
                                       std::min(kClipBlock, total - start), slope);
        }
        if (out)
            for (double value : partial) out[0] += value;
        return;
    }
    if (neuron_like(shape)) {
        const int64_t length = C * S;
        const int64_t blocks = (length + kClipBlock - 1) / kClipBlock;
#pragma omp parallel for schedule(dynamic) if (total > kParallelGrain)
        for (int64_t block = 0; block < blocks; ++block) {
            const int64_t start = block * kClipBlock, count = std::min(kClipBlock, length - start);
            for (int64_t batch = 0; batch < B; ++batch) {
                const int64_t base = batch * length + start;
                clip_grad_row<mode, true>(x + base, threshold + start, dy + base, dx ? dx + base : nullptr,
                                          out ? out + start : nullptr, count, slope);
            }
        }
        return;
    }
#pragma omp parallel for schedule(dynamic) if (total > kParallelGrain)
    for (int64_t c = 0; c < C; ++c)
        for (int64_t batch = 0; batch < B; ++batch) {
            const int64_t base = (batch * C + c) * S;
            clip_grad_row<mode, false>(x + base, threshold + c, dy + base, dx ? dx + base : nullptr,
                                       out ? out + c : nullptr, S, slope);
        }
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

namespace {

void clip_forward_on(const float* x, const float* threshold, float* y, const ClipShape& shape, ClipMode mode,
                     float slope, bool may_thread) {
    switch (mode) {
        case ClipMode::hard: return clip_forward_mode<ClipMode::hard>(x, threshold, y, shape, slope, may_thread);
        case ClipMode::smooth: return clip_forward_mode<ClipMode::smooth>(x, threshold, y, shape, slope, may_thread);
        case ClipMode::saturate:
            return clip_forward_mode<ClipMode::saturate>(x, threshold, y, shape, slope, may_thread);
    }
}

}  // namespace

void clip_forward(const float* x, const float* threshold, float* y, const ClipShape& shape, ClipMode mode,
                  float slope) {
    clip_forward_on(x, threshold, y, shape, mode, slope, /*may_thread=*/true);
}

void clip_forward_serial(const float* x, const float* threshold, float* y, const ClipShape& shape, ClipMode mode,
                         float slope) {
    clip_forward_on(x, threshold, y, shape, mode, slope, /*may_thread=*/false);
}

void clip_backward(const float* x, const float* threshold, const float* dy, float* dx, float* dthreshold,
                   const ClipShape& shape, ClipMode mode, float slope) {
    std::vector<double> sums(dthreshold ? static_cast<size_t>(shape.threshold_numel()) : 0, 0.0);
    switch (mode) {
        case ClipMode::hard: clip_backward_mode<ClipMode::hard>(x, threshold, dy, dx, sums, shape, slope); break;
        case ClipMode::smooth: clip_backward_mode<ClipMode::smooth>(x, threshold, dy, dx, sums, shape, slope); break;
        case ClipMode::saturate: clip_backward_mode<ClipMode::saturate>(x, threshold, dy, dx, sums, shape, slope); break;
    }
    if (!dthreshold) return;
    for (size_t i = 0; i < sums.size(); ++i) dthreshold[i] = static_cast<float>(sums[i]);
}

}  // namespace proact::core
