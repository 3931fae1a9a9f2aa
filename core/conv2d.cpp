// conv2d forward / backward loops (see conv2d.hpp for the plan and its measurements).
#include "core/conv2d.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "core/conv_channels.hpp"
#include "core/gemm.hpp"
#include "core/im2col.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"

namespace proact::core {

namespace {

// Below this many multiply-adds (O*CKK*B*OH*OW) a convolution stays on the calling thread: forking
// would cost more than it saves (gradchecks run thousands of tiny convolutions). It is below
// core::sgemm's own threshold for threading (kSgemmParallelFlops), so its GEMMs stay on one thread too.
constexpr int64_t kSerialWork = 65536;

// Output planes of at most this many positions take Im2colSource in inference (conv2d_forward).
constexpr int64_t kConvSourceMaxPlane = 64;

// At most this many partial sums of dweight, each over a fixed run of consecutive groups.
constexpr int64_t kMaxSlots = 16;

// Groups of consecutive images; group g holds images [first(g), first(g) + images(g)).
struct ImageGroups {
    int64_t batch = 0;
    int64_t per_group = 1;
    int64_t count = 0;

    ImageGroups(int64_t batch_size, int64_t plane_out)
        : batch(batch_size),
          per_group(std::max<int64_t>(1, kConvGroupColumns / std::max<int64_t>(plane_out, 1))),
          count((batch_size + per_group - 1) / per_group) {}
    int64_t first(int64_t g) const { return g * per_group; }
    int64_t images(int64_t g) const { return std::min(per_group, batch - first(g)); }
};

// Sum of `count` floats in a fixed order: eight float lanes (vectorisable, unlike one serial
// accumulator) combined in double.
double plane_sum(const float* values, int64_t count) {
    float lanes[8] = {};
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
        for (int lane = 0; lane < 8; ++lane) lanes[lane] += values[i + lane];
    double total = 0.0;
    for (int lane = 0; lane < 8; ++lane) total += lanes[lane];
    for (; i < count; ++i) total += values[i];
    return total;
}

// Per-thread scratch, allocated before the parallel region (an allocation failure inside one
// would terminate): thread t uses floats [t*per_thread, (t+1)*per_thread).
struct Scratch {
    Tensor buffer;
    int64_t per_thread = 0;

    explicit Scratch(int64_t floats_per_thread)
        : buffer(floats_per_thread > 0 ? Tensor::empty({int64_t(omp_get_max_threads()) * floats_per_thread})
                                       : Tensor()),
          per_thread(floats_per_thread) {}
    float* mine() { return per_thread > 0 ? buffer.data() + int64_t(omp_get_thread_num()) * per_thread : nullptr; }
};

// The sizes every loop here uses.
struct ConvSizes {
    int64_t O, CKK, plane_in, plane_out, group_columns;
    ImageGroups groups;
    bool parallel;  // worth threads at all

    // Whether threads should take whole groups (or slots) of images: only when there are enough of
    // them to keep every thread busy. With fewer (VGG's 2x2 planes put the whole batch of 64 in one
    // group) the loop runs on the calling thread and each GEMM threads over its own tiles instead:
    // one group on two threads ran at half the rate. sgemm's sums do not depend on how the
    // columns are cut or on its thread count, so neither choice changes a bit.
    bool threads_take(int64_t units) const { return parallel && units >= omp_get_max_threads(); }

    ConvSizes(const Im2colShape& shape, int64_t outputs)
        : O(outputs),
          CKK(shape.col_rows()),
          plane_in(shape.channels * shape.height * shape.width),
          plane_out(shape.out_h() * shape.out_w()),
          group_columns(0),
          groups(shape.batch, plane_out),
          parallel(O * CKK * shape.col_cols() > kSerialWork) {
        group_columns = groups.per_group * plane_out;
    }
};

// dbias partial sums of slot s over images [first, first + images): dbias_partials (slots, O).
void add_bias_partials(const float* dout, const ConvSizes& z, int64_t first, int64_t images, double* slot_partials) {
    for (int64_t o = 0; o < z.O; ++o)
        for (int64_t image = 0; image < images; ++image)
            slot_partials[o] += plane_sum(dout + ((first + image) * z.O + o) * z.plane_out, z.plane_out);
}

// dweight (O, CKK) = sum over slots of the partials, (slots, O*CKK) as (CKK, O) or (O, CKK) each:
// each element from +0, adding slot 0, 1, ... in order. Transposed partials go through tiles of
// kReduceTile x kReduceTile elements summed in the partials' own layout (contiguous rows), then
// written out transposed: element by element, one dweight row's values lie O floats apart in a
// partial, and that reduction took 8% of a VGG-11 training step (3-4x slower than the tiles on
// VGG's 256- and 512-channel shapes). Tiles are disjoint, so no thread count changes a bit.
void reduce_dweight(const float* partials, int64_t slots, const ConvSizes& z, bool transposed, float* dweight) {
    const int64_t O = z.O, R = z.CKK, count = O * R;
    if (!transposed) {
#pragma omp parallel for schedule(dynamic, kDynamicChunk) if (count * slots > kParallelGrain)
        for (int64_t i = 0; i < count; ++i) {
            float total = 0.0f;
            for (int64_t s = 0; s < slots; ++s) total += partials[s * count + i];
            dweight[i] = total;
        }
        return;
    }
    constexpr int64_t kReduceTile = 32;
    const int64_t o_tiles = (O + kReduceTile - 1) / kReduceTile, r_tiles = (R + kReduceTile - 1) / kReduceTile;
#pragma omp parallel for schedule(dynamic) if (count * slots > kParallelGrain)
    for (int64_t t = 0; t < o_tiles * r_tiles; ++t) {
        const int64_t o0 = t / r_tiles * kReduceTile, r0 = t % r_tiles * kReduceTile;
        const int64_t width = std::min(O, o0 + kReduceTile) - o0, height = std::min(R, r0 + kReduceTile) - r0;
        float tile[kReduceTile * kReduceTile];  // (height, width) of the partials' (CKK, O) layout
        std::fill(tile, tile + height * kReduceTile, 0.0f);
        for (int64_t s = 0; s < slots; ++s)
            for (int64_t r = 0; r < height; ++r) {
                const float* __restrict src = partials + s * count + (r0 + r) * O + o0;
                float* __restrict row = tile + r * kReduceTile;
                for (int64_t o = 0; o < width; ++o) row[o] += src[o];
            }
        for (int64_t o = 0; o < width; ++o)
            for (int64_t r = 0; r < height; ++r) dweight[(o0 + o) * R + r0 + r] = tile[r * kReduceTile + o];
    }
}

}  // namespace

void conv2d_forward(const float* x, const float* weight, const float* bias, const Im2colShape& shape, int64_t O,
                    float* out, float* saved_cols, const ConvEpilogue* epilogue) {
    if (saved_cols && epilogue)
        fail<ValueError>("conv2d_forward: an epilogue (inference) with saved columns (training)");
    if (!saved_cols && conv2d_direct_applies(shape, O)) {
        conv2d_forward_direct(x, weight, bias, shape, O, out, epilogue);
        return;
    }
    const ConvSizes z(shape, O);
    // Inference on small planes (at most kConvSourceMaxPlane positions) reads each group's columns
    // from x straight into the GEMM's packed panels (Im2colSource) when threads take whole groups.
    // Measured on VGG's layers (2 threads, batch 64): 8x8 and 4x4 planes 4-7% faster than im2col
    // then GEMM; 16x16 7-12% slower (there im2col copies whole rows, and gathering through the
    // table costs more); one group threaded inside the GEMM (2x2) 20% slower, as every thread's
    // part of C gathers the columns again. With few output channels sgemm reads the stored columns
    // in place without packing them, which a source cannot (a campaign's channel-sparse restarts
    // of a few channels took 18% longer through it). Training stores the columns whole for the
    // backward pass.
    std::optional<Im2colSource> source;
    if (!saved_cols && !gemm_uses_blas() && z.plane_out <= kConvSourceMaxPlane && O > kSgemmDirectBMaxRows &&
        (z.threads_take(z.groups.count) || !z.parallel))
        source.emplace(x, shape);
    Scratch cols_scratch(saved_cols || source ? 0 : z.CKK * z.group_columns);  // (CKK, group columns)
    Scratch out_scratch(O * z.group_columns);                                  // (O, group columns)
    ExceptionCarrier carrier;  // gemm's pack buffers allocate inside the region
#pragma omp parallel for schedule(dynamic) if (z.threads_take(z.groups.count))
    for (int64_t g = 0; g < z.groups.count; ++g) carrier.run([&] {
        const int64_t first = z.groups.first(g), images = z.groups.images(g), columns = images * z.plane_out;
        float* out_mat = out_scratch.mine();
        if (source) {
            sgemm_from_source(O, columns, z.CKK, weight, z.CKK, source->operand(first * z.plane_out), out_mat, columns);
        } else {
            Im2colShape group_shape = shape;
            group_shape.batch = images;
            float* cols = saved_cols ? saved_cols + z.CKK * first * z.plane_out : cols_scratch.mine();
            im2col(x + first * z.plane_in, group_shape, cols);
            gemm(false, false, O, columns, z.CKK, 1.0f, weight, z.CKK, cols, columns, 0.0f, out_mat, columns);
        }
        for (int64_t image = 0; image < images; ++image)
            for (int64_t o = 0; o < O; ++o) {
                const float* src = out_mat + o * columns + image * z.plane_out;
                float* dst = out + ((first + image) * O + o) * z.plane_out;
                const float shift = bias ? bias[o] : 0.0f;
                for (int64_t i = 0; i < z.plane_out; ++i) dst[i] = src[i] + shift;
            }
        if (epilogue)  // the group's images are still in cache
            for (int64_t image = first; image < first + images; ++image)
                apply_conv_epilogue(*epilogue, image, out + image * O * z.plane_out, O, z.plane_out);
    });
    carrier.rethrow();
}

void conv2d_backward(const float* dout, const float* x, const float* cols, const float* weight,
                     const Im2colShape& shape, int64_t O, float* dx, float* dweight, float* dbias) {
    if (dx && conv2d_backward_input_direct_applies(shape, O, weight)) {
        conv2d_backward_input_direct(dout, weight, shape, O, dx);
        dx = nullptr;  // done: the loop below computes dweight and dbias only
    }
    const ConvSizes z(shape, O);
    const int64_t CKK = z.CKK;
    // Slot s sums over groups [s*count/slots, (s+1)*count/slots), in order.
    const int64_t slots = std::min(z.groups.count, kMaxSlots);
    // dweight partials as (CKK, O) = cols x dout_mat^T once O fills part of core::sgemm's 48-wide
    // register tile: measured 30% faster there (ResNet-20, LeNet conv2), 2x slower for O = 6.
    const bool transposed_dweight = O >= 16;
    Tensor dweight_partials = dweight ? Tensor::empty({std::max<int64_t>(slots, 1), O * CKK}) : Tensor();
    std::vector<double> dbias_partials(dbias ? static_cast<size_t>(slots * O) : 0, 0.0);
    {
        Scratch dout_scratch((dweight || dx) && z.groups.per_group > 1 ? O * z.group_columns : 0);  // (O, group columns)
        Scratch cols_scratch(dweight && !cols ? CKK * z.group_columns : 0);
        Scratch dcols_scratch(dx ? CKK * z.group_columns : 0);  // (CKK, group columns)
        ExceptionCarrier carrier;  // gemm's pack buffers allocate inside the region
#pragma omp parallel for schedule(dynamic) if (z.threads_take(slots))
        for (int64_t s = 0; s < slots; ++s) carrier.run([&] {
            const int64_t group_begin = s * z.groups.count / slots, group_end = (s + 1) * z.groups.count / slots;
            for (int64_t g = group_begin; g < group_end; ++g) {
                const int64_t first = z.groups.first(g), images = z.groups.images(g);
                const int64_t columns = images * z.plane_out;
                Im2colShape group_shape = shape;
                group_shape.batch = images;
                if (dbias) add_bias_partials(dout, z, first, images, dbias_partials.data() + s * O);
                if (!dweight && !dx) continue;

                // (O, columns): this group's dout, permuted; a group of one image (planes of
                // kConvGroupColumns or more) already has that layout in dout, so it is read in place
                const float* dout_mat = dout + first * O * z.plane_out;
                if (images > 1) {
                    float* permuted = dout_scratch.mine();
                    for (int64_t o = 0; o < O; ++o)
                        for (int64_t image = 0; image < images; ++image)
                            std::memcpy(permuted + o * columns + image * z.plane_out,
                                        dout + ((first + image) * O + o) * z.plane_out,
                                        sizeof(float) * static_cast<size_t>(z.plane_out));
                    dout_mat = permuted;
                }
                if (dweight) {
                    const float* group_cols;
                    if (cols) {
                        group_cols = cols + CKK * first * z.plane_out;
                    } else {
                        float* rebuilt = cols_scratch.mine();
                        im2col(x + first * z.plane_in, group_shape, rebuilt);
                        group_cols = rebuilt;
                    }
                    float* partial = dweight_partials.data() + s * O * CKK;
                    const float beta = g == group_begin ? 0.0f : 1.0f;
                    // by_shape: C is (taps, output channels), the model's own sizes, never a batch's
                    // rows, so the dot path may serve it.
                    if (transposed_dweight)  // partial (CKK, O) (+)= cols (CKK, columns) x dout_mat^T
                        gemm(false, true, CKK, O, columns, 1.0f, group_cols, columns, dout_mat, columns, beta, partial,
                             O, GemmSums::by_shape);
                    else  // partial (O, CKK) (+)= dout_mat (O, columns) x cols^T (columns, CKK)
                        gemm(false, true, O, CKK, columns, 1.0f, dout_mat, columns, group_cols, columns, beta, partial,
                             CKK, GemmSums::by_shape);
                }
                if (dx) {
                    float* dcols = dcols_scratch.mine();
                    gemm(true, false, CKK, columns, O, 1.0f, weight, CKK, dout_mat, columns, 0.0f, dcols, columns);
                    col2im(dcols, group_shape, dx + first * z.plane_in);
                }
            }
        });
        carrier.rethrow();
    }
    if (dweight) reduce_dweight(dweight_partials.data(), slots, z, transposed_dweight, dweight);
    if (dbias)
        for (int64_t o = 0; o < O; ++o) {
            double total = 0.0;
            for (int64_t s = 0; s < slots; ++s) total += dbias_partials[static_cast<size_t>(s * O + o)];
            dbias[o] = static_cast<float>(total);
        }
}

}  // namespace proact::core
