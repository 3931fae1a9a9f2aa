#include "core/im2col.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <omp.h>

#include "core/error.hpp"
#include "core/threads.hpp"

namespace proact::core {

namespace {

// The output positions o in [0, out_size) whose input coordinate o*stride + offset lies inside
// [0, in_size); offset = kernel tap - padding. Computing this range once per kernel tap replaces a
// bounds test per element: outside it im2col writes zeros and col2im has nothing to add.
struct ValidRange {
    int64_t begin;
    int64_t end;
};

int64_t ceil_div(int64_t numerator, int64_t denominator) { return (numerator + denominator - 1) / denominator; }

ValidRange valid_outputs(int64_t in_size, int64_t out_size, int64_t offset, int64_t stride) {
    int64_t begin = offset >= 0 ? 0 : ceil_div(-offset, stride);
    int64_t end = in_size - offset <= 0 ? 0 : ceil_div(in_size - offset, stride);
    begin = std::min(begin, out_size);
    end = std::clamp(end, begin, out_size);
    return {begin, end};
}

// Output planes of at most this many positions take im2col_small_planes.
constexpr int64_t kSmallPlane = 64;

void zero(float* dst, int64_t count) {
    if (count > 0) std::memset(dst, 0, sizeof(float) * static_cast<size_t>(count));
}

}  // namespace

namespace {

// im2col for small output planes (VGG's 8x8, 4x4 and 2x2): a row of cols at a time, all images, so
// that each row is written front to back. The per-plane loop in im2col writes a few values per
// row before jumping C*KH*KW rows on, and spent most of its time in those scattered writes and in
// calls to memset and memcpy of a few floats each. Each tap's source offsets within a plane
// (kNoSource for padding) are tabled once, so copying an image's part of a row is one
// branch-free loop over the plane. (Split into a zero, copy and zero run per output row, the 2x2
// planes of VGG's last stage, two values per output row, took 1.7 ms a call for 1.2 M values.)
constexpr int64_t kNoSource = -1;

// sources (KH*KW, OH*OW): tap t's input offset within a plane for output position p, or kNoSource
// where the tap reads padding.
std::vector<int64_t> tap_sources(const Im2colShape& shape) {
    const int64_t KH = shape.kernel_h, KW = shape.kernel_w, OH = shape.out_h(), OW = shape.out_w();
    const int64_t plane_out = OH * OW;
    std::vector<int64_t> sources(static_cast<size_t>(KH * KW * plane_out), kNoSource);
    for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
            const ValidRange rows = valid_outputs(shape.height, OH, kh - shape.padding, shape.stride);
            const ValidRange columns = valid_outputs(shape.width, OW, kw - shape.padding, shape.stride);
            int64_t* tap = sources.data() + (kh * KW + kw) * plane_out;
            for (int64_t oh = rows.begin; oh < rows.end; ++oh)
                for (int64_t ow = columns.begin; ow < columns.end; ++ow)
                    tap[oh * OW + ow] =
                        (oh * shape.stride + kh - shape.padding) * shape.width + ow * shape.stride + kw - shape.padding;
        }
    return sources;
}

// dst[i] = plane[tap[i]] or 0 where tap[i] is kNoSource, for i < count: branch-free.
inline void gather_tap(const float* __restrict plane, const int64_t* __restrict tap, int64_t count,
                       float* __restrict dst) {
    for (int64_t i = 0; i < count; ++i) {
        const int64_t source = tap[i];
        const float value = plane[source == kNoSource ? 0 : source];
        dst[i] = source == kNoSource ? 0.0f : value;
    }
}

void im2col_small_planes(const float* image, const Im2colShape& shape, float* cols) {
    const int64_t B = shape.batch, C = shape.channels, KK = shape.kernel_h * shape.kernel_w;
    const int64_t plane_out = shape.out_h() * shape.out_w(), plane_in = shape.height * shape.width;
    const int64_t col_cols = B * plane_out;
    const std::vector<int64_t> sources = tap_sources(shape);
    // Rows handed out in chunks of about kDynamicChunk values (one row at a time, the scheduling
    // cost more than the copy: two threads took longer than one)
#pragma omp parallel for schedule(dynamic, dynamic_chunk(col_cols)) \
    if (shape.col_rows() * col_cols > kParallelGrain && !omp_in_parallel())
    for (int64_t row = 0; row < shape.col_rows(); ++row) {
        const int64_t* tap = sources.data() + row % KK * plane_out;
        const float* channel = image + row / KK * plane_in;
        float* dst = cols + row * col_cols;  // (B, OH, OW)
        for (int64_t b = 0; b < B; ++b, dst += plane_out) gather_tap(channel + b * C * plane_in, tap, plane_out, dst);
    }
}

// col2im for the same small planes: each (image, channel) plane gets its taps' column entries
// through the same offset table, tap by tap in order from +0, which is the order and start of the
// plane loop in col2im (each pixel takes at most one entry per tap). That loop's per-plane lambda,
// zero-filled padded plane and row copies cost more than the adds on 2x2 and 4x4 planes.
void col2im_small_planes(const float* cols, const Im2colShape& shape, float* image) {
    const int64_t B = shape.batch, C = shape.channels, KK = shape.kernel_h * shape.kernel_w;
    const int64_t plane_out = shape.out_h() * shape.out_w(), plane_in = shape.height * shape.width;
    const int64_t col_cols = B * plane_out;
    const std::vector<int64_t> targets = tap_sources(shape);  // where im2col read, col2im adds
#pragma omp parallel for collapse(2) schedule(dynamic, dynamic_chunk(KK * plane_out)) \
    if (shape.col_rows() * col_cols > kParallelGrain && !omp_in_parallel())
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c) {
            float* __restrict plane = image + (b * C + c) * plane_in;
            std::fill(plane, plane + plane_in, 0.0f);
            for (int64_t t = 0; t < KK; ++t) {
                const float* __restrict src = cols + (c * KK + t) * col_cols + b * plane_out;
                const int64_t* __restrict tap = targets.data() + t * plane_out;
                for (int64_t p = 0; p < plane_out; ++p)
                    if (tap[p] != kNoSource) plane[tap[p]] += src[p];
            }
        }
}

}  // namespace

void im2col(const float* image, const Im2colShape& shape, float* cols) {
    const int64_t B = shape.batch, C = shape.channels, H = shape.height, W = shape.width;
    const int64_t KH = shape.kernel_h, KW = shape.kernel_w, stride = shape.stride, padding = shape.padding;
    const int64_t OH = shape.out_h(), OW = shape.out_w();
    const int64_t plane_out = OH * OW;
    const int64_t col_cols = B * plane_out;  // row length of cols
    if (plane_out <= kSmallPlane) {
        im2col_small_planes(image, shape, cols);
        return;
    }

#pragma omp parallel for collapse(2) schedule(dynamic) if (shape.col_rows() * col_cols > kParallelGrain && !omp_in_parallel())
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t c = 0; c < C; ++c) {
            const float* plane = image + (b * C + c) * H * W;  // (H,W)
            for (int64_t kh = 0; kh < KH; ++kh) {
                const ValidRange rows = valid_outputs(H, OH, kh - padding, stride);
                for (int64_t kw = 0; kw < KW; ++kw) {
                    const ValidRange columns = valid_outputs(W, OW, kw - padding, stride);
                    // this tap's row of cols, restricted to image b: (OH,OW)
                    float* dst = cols + ((c * KH + kh) * KW + kw) * col_cols + b * plane_out;
                    zero(dst, rows.begin * OW);
                    if (stride == 1 && OW == W) {
                        // "Same" convolution: dst[oh*W + ow] = plane[oh*W + ow + shift] for every valid
                        // (oh, ow), one constant shift for the whole block of valid rows. One copy of the
                        // block (clipped to the plane) replaces a short copy per row; the few entries
                        // that wrapped around a row edge are then reset to the zero padding.
                        const int64_t shift = (kh - padding) * W + (kw - padding);
                        const int64_t block_begin = std::max(rows.begin * W, -shift);
                        const int64_t block_end = std::min(rows.end * W, H * W - shift);
                        if (block_end > block_begin)
                            std::memcpy(dst + block_begin, plane + (block_begin + shift),
                                        sizeof(float) * static_cast<size_t>(block_end - block_begin));
                        for (int64_t oh = rows.begin; oh < rows.end; ++oh) {
                            float* dst_row = dst + oh * OW;
                            for (int64_t ow = 0; ow < columns.begin; ++ow) dst_row[ow] = 0.0f;
                            for (int64_t ow = columns.end; ow < OW; ++ow) dst_row[ow] = 0.0f;
                        }
                    } else {
                        for (int64_t oh = rows.begin; oh < rows.end; ++oh) {
                            float* dst_row = dst + oh * OW;
                            // input row ih, read at iw = ow*stride + kw - padding
                            const float* src_row = plane + (oh * stride + kh - padding) * W;
                            zero(dst_row, columns.begin);
                            if (stride == 1) {
                                if (columns.end > columns.begin)
                                    std::memcpy(dst_row + columns.begin, src_row + (columns.begin + kw - padding),
                                                sizeof(float) * static_cast<size_t>(columns.end - columns.begin));
                            } else {
                                for (int64_t ow = columns.begin; ow < columns.end; ++ow)
                                    dst_row[ow] = src_row[ow * stride + kw - padding];
                            }
                            zero(dst_row + columns.end, OW - columns.end);
                        }
                    }
                    zero(dst + rows.end * OW, (OH - rows.end) * OW);
                }
            }
        }
    }
}

Im2colSource::Im2colSource(const float* image, const Im2colShape& shape) : image_(image), shape_(shape) {
    if (shape.out_h() * shape.out_w() > kIm2colSourceMaxPlane)
        fail<ValueError>("Im2colSource: an output plane of ", shape.out_h(), "x", shape.out_w(), " is over ",
                         kIm2colSourceMaxPlane, " positions");
    sources_ = tap_sources(shape);
}

// Rows [k0, k0 + kc) x columns [j0, j0 + nc) of the columns into sgemm's packed panels: column j is
// image j / (OH*OW), output position j % (OH*OW); row k is channel k / (KH*KW), tap k % (KH*KW).
void Im2colSource::pack(const void* self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
    const auto& me = *static_cast<const Im2colSource*>(self);
    const Im2colShape& shape = me.shape_;
    const int64_t KK = shape.kernel_h * shape.kernel_w, plane_out = shape.out_h() * shape.out_w();
    const int64_t plane_in = shape.height * shape.width, image_floats = shape.channels * plane_in;
    constexpr int64_t NR = kSgemmNR, kLanes = 16;
    for (int64_t k = 0; k < kc; ++k) {
        const int64_t row = k0 + k;
        const int64_t* tap = me.sources_.data() + row % KK * plane_out;
        const float* channel = me.image_ + row / KK * plane_in;
        // runs of columns within one image and one panel
        int64_t image = j0 / plane_out, position = j0 % plane_out;
        for (int64_t done = 0; done < nc;) {
            const int64_t slot = done % NR;
            const int64_t run = std::min({plane_out - position, NR - slot, nc - done});
            gather_tap(channel + image * image_floats, tap + position, run, dst + done / NR * NR * kc + k * NR + slot);
            done += run;
            position += run;
            if (position == plane_out) {
                position = 0;
                ++image;
            }
        }
        // the last panel's columns past nc, up to a whole vector, as sgemm's packing leaves them
        const int64_t tail = nc % NR, width = (tail + kLanes - 1) / kLanes * kLanes;
        if (tail > 0)
            std::fill(dst + nc / NR * NR * kc + k * NR + tail, dst + nc / NR * NR * kc + k * NR + width, 0.0f);
    }
}

void col2im(const float* cols, const Im2colShape& shape, float* image) {
    const int64_t B = shape.batch, C = shape.channels, H = shape.height, W = shape.width;
    const int64_t KH = shape.kernel_h, KW = shape.kernel_w, stride = shape.stride, padding = shape.padding;
    const int64_t OH = shape.out_h(), OW = shape.out_w();
    const int64_t plane_out = OH * OW;
    const int64_t col_cols = B * plane_out;
    if (plane_out <= kSmallPlane) {
        col2im_small_planes(cols, shape, image);
        return;
    }
    // Stride 1 accumulates into a zero-padded plane (H + 2*padding, W + 2*padding): every column
    // entry then has a place, so each tap adds whole rows of OW values, with no clipping at the
    // borders and no short remainder loops; the padding is dropped when copying the plane out.
    const int64_t padded_h = H + 2 * padding, padded_w = W + 2 * padding;

    ExceptionCarrier carrier;
#pragma omp parallel if (shape.col_rows() * col_cols > kParallelGrain && !omp_in_parallel())
    {
        // The plane is allocated inside the region: a failure is carried out of it, and that
        // thread still reaches the `omp for` (every thread must) but does no work.
        std::vector<float> padded_plane;
        carrier.run([&] { padded_plane.resize(stride == 1 ? static_cast<size_t>(padded_h * padded_w) : 0); });
#pragma omp for collapse(2) schedule(dynamic)
        for (int64_t b = 0; b < B; ++b) {
            for (int64_t c = 0; c < C; ++c) carrier.run([&] {
                float* plane = image + (b * C + c) * H * W;  // (H,W), owned by this iteration alone
                const float* plane_cols = cols + c * KH * KW * col_cols + b * plane_out;
                if (stride == 1) {
                    float* padded = padded_plane.data();
                    std::fill(padded_plane.begin(), padded_plane.end(), 0.0f);
                    for (int64_t kh = 0; kh < KH; ++kh)
                        for (int64_t kw = 0; kw < KW; ++kw) {
                            const float* src = plane_cols + (kh * KW + kw) * col_cols;  // (OH,OW)
                            for (int64_t oh = 0; oh < OH; ++oh) {
                                float* __restrict dst_row = padded + (oh + kh) * padded_w + kw;
                                const float* __restrict src_row = src + oh * OW;
                                for (int64_t ow = 0; ow < OW; ++ow) dst_row[ow] += src_row[ow];
                            }
                        }
                    for (int64_t h = 0; h < H; ++h)
                        std::memcpy(plane + h * W, padded + (h + padding) * padded_w + padding,
                                    sizeof(float) * static_cast<size_t>(W));
                    return;
                }
                zero(plane, H * W);
                for (int64_t kh = 0; kh < KH; ++kh) {
                    const ValidRange rows = valid_outputs(H, OH, kh - padding, stride);
                    for (int64_t kw = 0; kw < KW; ++kw) {
                        const ValidRange columns = valid_outputs(W, OW, kw - padding, stride);
                        const float* src = plane_cols + (kh * KW + kw) * col_cols;  // (OH,OW)
                        for (int64_t oh = rows.begin; oh < rows.end; ++oh) {
                            const float* src_row = src + oh * OW;
                            float* dst_row = plane + (oh * stride + kh - padding) * W;
                            for (int64_t ow = columns.begin; ow < columns.end; ++ow)
                                dst_row[ow * stride + kw - padding] += src_row[ow];
                        }
                    }
                }
            });
        }
    }
    carrier.rethrow();
}

}  // namespace proact::core
