// Pooling over the H and W axes of x (B,C,H,W), one (H,W) plane at a time, in parallel over the
// B*C planes (each writes only its own plane, so results do not depend on the thread count).
//
// Window (oh, ow) covers rows [oh*stride - padding, oh*stride - padding + kernel) and the same for
// columns; OH = (H + 2*padding - kernel) / stride + 1. As in PyTorch, padding may be at most half
// the kernel: then every window holds at least one real pixel, so max-pool never returns the -inf
// of its padding, and (floor mode) no window reaches past the padded border, so avg-pool always
// divides by kernel*kernel (count_include_pad=true).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "autograd/ops.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace proact::autograd {

namespace {

using core::fail;
using core::shape_str;

struct PoolShape {
    int64_t planes;  // B*C
    int64_t height, width;
    int64_t kernel, stride, padding;
    int64_t out_h, out_w;

    // The input rows (or columns) [begin, end) under output position `out`, padding cut off.
    struct Range {
        int64_t begin, end;
    };
    Range window(int64_t out, int64_t limit) const {
        const int64_t start = out * stride - padding;
        return {std::max<int64_t>(start, 0), std::min(start + kernel, limit)};
    }
};

PoolShape validate_pool(const char* op, const Variable& x, int64_t kernel, int64_t stride, int64_t padding) {
    if (!x.defined()) fail<core::ValueError>(op, ": input must be defined");
    if (x.dim() != 4) fail<core::ShapeError>(op, ": input must be 4-D (B,C,H,W), got shape ", shape_str(x.shape()));
    if (kernel < 1) fail<core::ValueError>(op, ": kernel must be >= 1, got ", kernel);
    if (stride < 0) fail<core::ValueError>(op, ": stride must be >= 1 (or 0 for the kernel size), got ", stride);
    if (padding < 0) fail<core::ValueError>(op, ": padding must be >= 0, got ", padding);
    if (padding > kernel / 2)
        fail<core::ValueError>(op, ": padding ", padding, " is more than half the kernel size ", kernel,
                               " (at most ", kernel / 2, ", as in PyTorch)");
    if (stride == 0) stride = kernel;
    PoolShape shape{x.size(0) * x.size(1), x.size(2), x.size(3), kernel, stride, padding, 0, 0};
    if (shape.height + 2 * padding < kernel || shape.width + 2 * padding < kernel)
        fail<core::ShapeError>(op, ": kernel ", kernel, "x", kernel, " is larger than the padded input ",
                               shape.height + 2 * padding, "x", shape.width + 2 * padding, " (input ",
                               shape_str(x.shape()), ", padding ", padding, ")");
    shape.out_h = (shape.height + 2 * padding - kernel) / stride + 1;
    shape.out_w = (shape.width + 2 * padding - kernel) / stride + 1;
    return shape;
}

// Whether `value` replaces `best` as the running maximum: strictly larger (so the first maximum
// wins ties), or the first NaN (NaN propagates, as in PyTorch).
inline bool takes_max(float value, float best) { return value > best || (value != value && best == best); }

// One plane: in (H,W) -> out (OH,OW), argmax (OH,OW) as indices into the plane, or null.
void max_pool_plane(const float* in, const PoolShape& s, float* out, int32_t* argmax) {
    const int64_t H = s.height, W = s.width;
    if (s.kernel == 2 && s.stride == 2 && s.padding == 0) {
        // The common case: four loads per output and no window bookkeeping. Plain "strictly greater"
        // selects compile to branch-free code (random data would mispredict branches half the time);
        // a window holding a NaN or an infinity, where (v - v) is NaN, is redone with takes_max.
        for (int64_t oh = 0; oh < s.out_h; ++oh) {
            const float* row0 = in + 2 * oh * W;
            const float* row1 = row0 + W;
            float* out_row = out + oh * s.out_w;
            if (!argmax) {
                for (int64_t ow = 0; ow < s.out_w; ++ow) {
                    const float a = row0[2 * ow], b = row0[2 * ow + 1], c = row1[2 * ow], d = row1[2 * ow + 1];
                    float best = a;
                    best = b > best ? b : best;
                    best = c > best ? c : best;
                    best = d > best ? d : best;
                    if ((a - a) + (b - b) + (c - c) + (d - d) != 0.0f) {
                        best = a;
                        best = takes_max(b, best) ? b : best;
                        best = takes_max(c, best) ? c : best;
                        best = takes_max(d, best) ? d : best;
                    }
                    out_row[ow] = best;
                }
                continue;
            }
            int32_t* argmax_row = argmax + oh * s.out_w;
            const int32_t top = static_cast<int32_t>(2 * oh * W), bottom = static_cast<int32_t>((2 * oh + 1) * W);
            for (int64_t ow = 0; ow < s.out_w; ++ow) {
                const float a = row0[2 * ow], b = row0[2 * ow + 1], c = row1[2 * ow], d = row1[2 * ow + 1];
                const int32_t column = static_cast<int32_t>(2 * ow);
                float best = a;
                int32_t best_index = top + column;
                best_index = b > best ? top + column + 1 : best_index;
                best = b > best ? b : best;
                best_index = c > best ? bottom + column : best_index;
                best = c > best ? c : best;
                best_index = d > best ? bottom + column + 1 : best_index;
                best = d > best ? d : best;
                if ((a - a) + (b - b) + (c - c) + (d - d) != 0.0f) {
                    best = a;
                    best_index = top + column;
                    if (takes_max(b, best)) best = b, best_index = top + column + 1;
                    if (takes_max(c, best)) best = c, best_index = bottom + column;
                    if (takes_max(d, best)) best = d, best_index = bottom + column + 1;
                }
                out_row[ow] = best;
                argmax_row[ow] = best_index;
            }
        }
        return;
    }
    for (int64_t oh = 0; oh < s.out_h; ++oh) {
        const auto [h_begin, h_end] = s.window(oh, H);
        for (int64_t ow = 0; ow < s.out_w; ++ow) {
            const auto [w_begin, w_end] = s.window(ow, W);
            // the padding is -inf, so only real pixels can win; validation guarantees there is one
            int64_t best_index = h_begin * W + w_begin;
            float best = in[best_index];
            for (int64_t h = h_begin; h < h_end; ++h)
                for (int64_t w = w_begin; w < w_end; ++w)
                    if (takes_max(in[h * W + w], best)) best = in[h * W + w], best_index = h * W + w;
            out[oh * s.out_w + ow] = best;
            if (argmax) argmax[oh * s.out_w + ow] = static_cast<int32_t>(best_index);
        }
    }
}

}  // namespace

Variable max_pool2d(const Variable& x, int64_t kernel, int64_t stride, int64_t padding) {
    const PoolShape s = validate_pool("max_pool2d", x, kernel, stride, padding);
    if (s.height * s.width > std::numeric_limits<int32_t>::max())
        fail<core::ShapeError>("max_pool2d: plane of ", s.height, "x", s.width, " pixels exceeds the int32 argmax range");
    const Tensor input = x.value().contiguous();
    const int64_t plane_in = s.height * s.width, plane_out = s.out_h * s.out_w;
    Tensor out = Tensor::empty({x.size(0), x.size(1), s.out_h, s.out_w});

    const bool graph = needs_graph({&x});
    // argmax (B,C,OH,OW): the index within its (H,W) plane of the pixel each output came from.
    auto argmax = graph ? std::make_shared<std::vector<int32_t>>(static_cast<size_t>(s.planes * plane_out))
                        : std::shared_ptr<std::vector<int32_t>>();
    {
        const float* src = input.data();
        float* dst = out.data();
        int32_t* arg = argmax ? argmax->data() : nullptr;
#pragma omp parallel for schedule(static) if (s.planes * plane_in > core::kParallelGrain)
        for (int64_t p = 0; p < s.planes; ++p)
            max_pool_plane(src + p * plane_in, s, dst + p * plane_out, arg ? arg + p * plane_out : nullptr);
    }
    if (!graph) return make_result(std::move(out), "max_pool2d", {x}, nullptr);

    const Shape input_shape = x.shape();
    auto backward = [s, argmax, input_shape, plane_in, plane_out](const Tensor& grad_output) -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B,C,OH,OW)
        Tensor dx = Tensor::empty(input_shape);         // (B,C,H,W)
        const float* src = dout.data();
        const int32_t* arg = argmax->data();
        float* dst = dx.data();
#pragma omp parallel for schedule(static) if (s.planes * plane_in > core::kParallelGrain)
        for (int64_t p = 0; p < s.planes; ++p) {
            float* dx_plane = dst + p * plane_in;
            std::memset(dx_plane, 0, sizeof(float) * static_cast<size_t>(plane_in));
            const float* dout_plane = src + p * plane_out;
            const int32_t* arg_plane = arg + p * plane_out;
            for (int64_t i = 0; i < plane_out; ++i) dx_plane[arg_plane[i]] += dout_plane[i];
        }
        return {dx};
    };
    return make_result(std::move(out), "max_pool2d", {x}, std::move(backward));
}

Variable avg_pool2d(const Variable& x, int64_t kernel, int64_t stride, int64_t padding) {
    const PoolShape s = validate_pool("avg_pool2d", x, kernel, stride, padding);
    const Tensor input = x.value().contiguous();
    const int64_t H = s.height, W = s.width;
    const int64_t plane_in = H * W, plane_out = s.out_h * s.out_w;
    // count_include_pad: every window, padding included, has kernel*kernel cells (see the top).
    const float scale = 1.0f / static_cast<float>(s.kernel * s.kernel);
    const bool two_by_two = s.kernel == 2 && s.stride == 2 && s.padding == 0;
    Tensor out = Tensor::empty({x.size(0), x.size(1), s.out_h, s.out_w});
    {
        const float* src = input.data();
        float* dst = out.data();
#pragma omp parallel for schedule(static) if (s.planes * plane_in > core::kParallelGrain)
        for (int64_t p = 0; p < s.planes; ++p) {
            const float* in = src + p * plane_in;
            float* o = dst + p * plane_out;
            if (two_by_two) {  // same sums in the same order as below, without window bookkeeping
                for (int64_t oh = 0; oh < s.out_h; ++oh) {
                    const float* row0 = in + 2 * oh * W;
                    const float* row1 = row0 + W;
                    for (int64_t ow = 0; ow < s.out_w; ++ow)
                        o[oh * s.out_w + ow] =
                            (((row0[2 * ow] + row0[2 * ow + 1]) + row1[2 * ow]) + row1[2 * ow + 1]) * scale;
                }
                continue;
            }
            for (int64_t oh = 0; oh < s.out_h; ++oh) {
                const auto [h_begin, h_end] = s.window(oh, H);
                for (int64_t ow = 0; ow < s.out_w; ++ow) {
                    const auto [w_begin, w_end] = s.window(ow, W);
                    float total = 0.0f;
                    for (int64_t h = h_begin; h < h_end; ++h)
                        for (int64_t w = w_begin; w < w_end; ++w) total += in[h * W + w];
                    o[oh * s.out_w + ow] = total * scale;
                }
            }
        }
    }
    const Shape input_shape = x.shape();
    auto backward = [s, input_shape, plane_in, plane_out, scale, two_by_two](const Tensor& grad_output)
        -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B,C,OH,OW)
        Tensor dx = Tensor::empty(input_shape);         // (B,C,H,W)
        const int64_t H = s.height, W = s.width;
        const float* src = dout.data();
        float* dst = dx.data();
#pragma omp parallel for schedule(static) if (s.planes * plane_in > core::kParallelGrain)
        for (int64_t p = 0; p < s.planes; ++p) {
            float* dx_plane = dst + p * plane_in;
            std::memset(dx_plane, 0, sizeof(float) * static_cast<size_t>(plane_in));
            const float* dout_plane = src + p * plane_out;
            if (two_by_two) {  // disjoint windows: each pixel gets one share
                for (int64_t oh = 0; oh < s.out_h; ++oh) {
                    float* row0 = dx_plane + 2 * oh * W;
                    float* row1 = row0 + W;
                    for (int64_t ow = 0; ow < s.out_w; ++ow) {
                        const float share = dout_plane[oh * s.out_w + ow] * scale;
                        row0[2 * ow] = share;
                        row0[2 * ow + 1] = share;
                        row1[2 * ow] = share;
                        row1[2 * ow + 1] = share;
                    }
                }
                continue;
            }
            for (int64_t oh = 0; oh < s.out_h; ++oh) {
                const auto [h_begin, h_end] = s.window(oh, H);
                for (int64_t ow = 0; ow < s.out_w; ++ow) {
                    const auto [w_begin, w_end] = s.window(ow, W);
                    const float share = dout_plane[oh * s.out_w + ow] * scale;
                    for (int64_t h = h_begin; h < h_end; ++h)
                        for (int64_t w = w_begin; w < w_end; ++w) dx_plane[h * W + w] += share;
                }
            }
        }
        return {dx};
    };
    return make_result(std::move(out), "avg_pool2d", {x}, std::move(backward));
}

Variable global_avg_pool(const Variable& x) {
    if (!x.defined()) fail<core::ValueError>("global_avg_pool: input must be defined");
    if (x.dim() != 4)
        fail<core::ShapeError>("global_avg_pool: input must be 4-D (B,C,H,W), got shape ", shape_str(x.shape()));
    const int64_t B = x.size(0), C = x.size(1), plane = x.size(2) * x.size(3);
    if (plane == 0) fail<core::ShapeError>("global_avg_pool: input has empty planes, shape ", shape_str(x.shape()));
    const Tensor input = x.value().contiguous();
    Tensor out = Tensor::empty({B, C});
    {
        const float* src = input.data();
        float* dst = out.data();
#pragma omp parallel for schedule(static) if (B * C * plane > core::kParallelGrain)
        for (int64_t p = 0; p < B * C; ++p) {
            const float* in = src + p * plane;
            // eight double lanes in a fixed order: vectorised, unlike one chain of dependent additions
            double lanes[8] = {};
            int64_t i = 0;
            for (; i + 8 <= plane; i += 8)
                for (int lane = 0; lane < 8; ++lane) lanes[lane] += in[i + lane];
            double total = 0.0;
            for (int lane = 0; lane < 8; ++lane) total += lanes[lane];
            for (; i < plane; ++i) total += in[i];
            dst[p] = static_cast<float>(total / static_cast<double>(plane));
        }
    }
    const Shape input_shape = x.shape();
    auto backward = [input_shape, B, C, plane](const Tensor& grad_output) -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B,C)
        Tensor dx = Tensor::empty(input_shape);         // (B,C,H,W)
        const float* src = dout.data();
        float* dst = dx.data();
        const float scale = 1.0f / static_cast<float>(plane);
#pragma omp parallel for schedule(static) if (B * C * plane > core::kParallelGrain)
        for (int64_t p = 0; p < B * C; ++p) {
            const float share = src[p] * scale;
            float* dx_plane = dst + p * plane;
            for (int64_t i = 0; i < plane; ++i) dx_plane[i] = share;
        }
        return {dx};
    };
    return make_result(std::move(out), "global_avg_pool", {x}, std::move(backward));
}

}  // namespace proact::autograd
