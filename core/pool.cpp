// Pooling loops (see pool.hpp for the window convention).
#include "core/pool.hpp"

#include <omp.h>

#include <cstring>

#include "core/threads.hpp"

namespace proact::core {

namespace {

// Whether `value` replaces `best` as the running maximum: strictly larger (so the first maximum
// wins ties), or the first NaN (NaN propagates, as in PyTorch).
inline bool takes_max(float value, float best) { return value > best || (value != value && best == best); }

// Eight floats as one value (GCC's and clang's vector extension: one ymm, or two xmm on a portable
// build, the same comparisons and selects per lane on any target).
using Floats8 = float __attribute__((vector_size(8 * sizeof(float))));

inline Floats8 load8(const float* p) {
    Floats8 v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

// Outputs [ow, ow + 8) of a 2x2 / stride-2 row without argmax, from the rows above (row0) and
// below (row1): per lane the chain of the scalar loop below (best = a, then b, c, d where strictly
// greater). False, nothing written, if a window holds a NaN or an infinity (takes_max's case).
inline bool max_pool_8(const float* row0, const float* row1, int64_t ow, float* out_row) {
    const Floats8 top0 = load8(row0 + 2 * ow), top1 = load8(row0 + 2 * ow + 8);
    const Floats8 bottom0 = load8(row1 + 2 * ow), bottom1 = load8(row1 + 2 * ow + 8);
    const Floats8 a = __builtin_shufflevector(top0, top1, 0, 2, 4, 6, 8, 10, 12, 14);
    const Floats8 b = __builtin_shufflevector(top0, top1, 1, 3, 5, 7, 9, 11, 13, 15);
    const Floats8 c = __builtin_shufflevector(bottom0, bottom1, 0, 2, 4, 6, 8, 10, 12, 14);
    const Floats8 d = __builtin_shufflevector(bottom0, bottom1, 1, 3, 5, 7, 9, 11, 13, 15);
    const Floats8 special = (a - a) + (b - b) + (c - c) + (d - d);
    for (int lane = 0; lane < 8; ++lane)
        if (special[lane] != 0.0f) return false;
    Floats8 best = a;
    best = b > best ? b : best;
    best = c > best ? c : best;
    best = d > best ? d : best;
    std::memcpy(out_row + ow, &best, sizeof(best));
    return true;
}

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
                int64_t ow = 0;
                // whole blocks of 8 outputs as vectors while no window is special, the rest below
                while (ow + 8 <= s.out_w && max_pool_8(row0, row1, ow, out_row)) ow += 8;
                for (; ow < s.out_w; ++ow) {
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

void max_pool2d_forward(const float* x, const PoolShape& s, float* out, int32_t* argmax) {
    const int64_t plane_in = s.height * s.width, plane_out = s.out_h * s.out_w;
    const auto planes = [&](int64_t p) {
        max_pool_plane(x + p * plane_in, s, out + p * plane_out, argmax ? argmax + p * plane_out : nullptr);
    };
    // no parallel construct at all when small or already on a thread of one (the fused convolution
    // pools each image's planes inside its own region): even an if(false) region costs a team
    if (s.planes * plane_in <= kParallelGrain || omp_in_parallel()) {
        for (int64_t p = 0; p < s.planes; ++p) planes(p);
        return;
    }
#pragma omp parallel for schedule(dynamic, dynamic_chunk(plane_in))
    for (int64_t p = 0; p < s.planes; ++p) planes(p);
}

void max_pool2d_backward(const float* dout, const int32_t* argmax, const PoolShape& s, float* dx) {
    const int64_t plane_in = s.height * s.width, plane_out = s.out_h * s.out_w;
#pragma omp parallel for schedule(dynamic, dynamic_chunk(plane_in)) if (s.planes * plane_in > kParallelGrain)
    for (int64_t p = 0; p < s.planes; ++p) {
        float* dx_plane = dx + p * plane_in;
        std::memset(dx_plane, 0, sizeof(float) * static_cast<size_t>(plane_in));
        const float* dout_plane = dout + p * plane_out;
        const int32_t* arg_plane = argmax + p * plane_out;
        for (int64_t i = 0; i < plane_out; ++i) dx_plane[arg_plane[i]] += dout_plane[i];
    }
}

// count_include_pad: every window, padding included, has kernel*kernel cells (see pool.hpp).
void avg_pool2d_forward(const float* x, const PoolShape& s, float* out) {
    const int64_t H = s.height, W = s.width;
    const int64_t plane_in = H * W, plane_out = s.out_h * s.out_w;
    const float scale = 1.0f / static_cast<float>(s.kernel * s.kernel);
    const bool two_by_two = s.kernel == 2 && s.stride == 2 && s.padding == 0;
    const float* src = x;
    float* dst = out;
#pragma omp parallel for schedule(dynamic, dynamic_chunk(plane_in)) if (s.planes * plane_in > kParallelGrain)
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

void avg_pool2d_backward(const float* dout, const PoolShape& s, float* dx) {
    const int64_t H = s.height, W = s.width;
    const int64_t plane_in = H * W, plane_out = s.out_h * s.out_w;
    const float scale = 1.0f / static_cast<float>(s.kernel * s.kernel);
    const bool two_by_two = s.kernel == 2 && s.stride == 2 && s.padding == 0;
    const float* src = dout;
    float* dst = dx;
#pragma omp parallel for schedule(dynamic, dynamic_chunk(plane_in)) if (s.planes * plane_in > kParallelGrain)
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
}

void global_avg_pool_forward(const float* x, int64_t planes, int64_t plane, float* out) {
    const float* src = x;
    float* dst = out;
#pragma omp parallel for schedule(dynamic, dynamic_chunk(plane)) if (planes * plane > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
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

void global_avg_pool_backward(const float* dout, int64_t planes, int64_t plane, float* dx) {
    const float scale = 1.0f / static_cast<float>(plane);
#pragma omp parallel for schedule(dynamic, dynamic_chunk(plane)) if (planes * plane > kParallelGrain)
    for (int64_t p = 0; p < planes; ++p) {
        const float share = dout[p] * scale;
        float* dx_plane = dx + p * plane;
        for (int64_t i = 0; i < plane; ++i) dx_plane[i] = share;
    }
}

}  // namespace proact::core
