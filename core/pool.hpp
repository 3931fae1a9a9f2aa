// Pooling loops over the H and W axes of x (B,C,H,W), one (H,W) plane at a time, in parallel over
// the B*C planes (each writes only its own plane, so results do not depend on the thread count).
// autograd/ops_pool.cpp validates the shapes and holds the graph code.
//
// Window (oh, ow) covers rows [oh*stride - padding, oh*stride - padding + kernel) and the same for
// columns; OH = (H + 2*padding - kernel) / stride + 1. As in PyTorch, padding may be at most half
// the kernel: then every window holds at least one real pixel, so max-pool never returns the -inf
// of its padding, and (floor mode) no window reaches past the padded border, so avg-pool always
// divides by kernel*kernel (count_include_pad=true).
#pragma once

#include <algorithm>
#include <cstdint>

namespace proact::core {

// The sizes of one pooling, checked by the caller (padding <= kernel / 2, OH, OW >= 1).
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

// x (planes, H, W) -> out (planes, OH, OW); argmax (planes, OH, OW): the index within its (H,W)
// plane of the pixel each output came from, or null. NaN propagates (the first one wins), and the
// first maximum wins ties.
void max_pool2d_forward(const float* x, const PoolShape& shape, float* out, int32_t* argmax);
// dout (planes, OH, OW), argmax from the forward -> dx (planes, H, W), overwritten.
void max_pool2d_backward(const float* dout, const int32_t* argmax, const PoolShape& shape, float* dx);

// x (planes, H, W) -> out (planes, OH, OW): window sums times 1/kernel^2.
void avg_pool2d_forward(const float* x, const PoolShape& shape, float* out);
// dout (planes, OH, OW) -> dx (planes, H, W), overwritten.
void avg_pool2d_backward(const float* dout, const PoolShape& shape, float* dx);

// x (planes, plane) -> out (planes): the mean of each plane, summed in double in a fixed order.
void global_avg_pool_forward(const float* x, int64_t planes, int64_t plane, float* out);
// dout (planes) -> dx (planes, plane), overwritten: each element gets dout / plane.
void global_avg_pool_backward(const float* dout, int64_t planes, int64_t plane, float* dx);

}  // namespace proact::core
