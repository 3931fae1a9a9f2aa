// conv2d as im2col + GEMM, with the batch folded into the GEMM's N dimension.
//
//   forward:   cols (CKK, B*OH*OW) = im2col(x)                       CKK = C*KH*KW
//              out_mat (O, B*OH*OW) = weight (O, CKK) x cols
//              out (B,O,OH,OW) = out_mat scattered per image, + bias[o]
//   backward:  dout_mat (O, B*OH*OW) = dout (B,O,OH,OW) permuted
//              dweight (O, CKK) = dout_mat x cols^T
//              dcols (CKK, B*OH*OW) = weight^T x dout_mat,  dx = col2im(dcols)
//              dbias (O) = sum of dout over B, OH, OW
//
// The N dimension is cut into groups of whole images of about kGroupColumns columns each, and the
// threads take whole groups: im2col, GEMM and scatter of one group run back to back on one thread
// while its columns are still in cache, instead of streaming the whole batch's cols through memory
// twice (75 MB for a ResNet-20 stage at batch 128). Measured on this 2-core machine against im2col
// of the whole batch followed by one two-thread GEMM (bench_conv): the forward of ResNet-20's 32- and
// 16-channel stages runs about 2x and 3x faster, their backward 1.6-1.9x. Each GEMM runs on the calling
// thread (core::gemm stays single-threaded inside a parallel region). The cut depends on the shapes
// alone, so every output element is computed by the same operations in the same order whatever the
// thread count: results are bit-identical on 1 or 2 threads. dweight and dbias, sums over N, add
// per-slot partial sums in a fixed order.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "autograd/ops.hpp"
#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/im2col.hpp"
#include "core/threads.hpp"

namespace proact::autograd {

namespace {

using core::fail;
using core::shape_str;

// Above this size the forward's cols are not kept for backward but rebuilt from x there: a
// ResNet-20 stage at batch 128 would otherwise hold over a gigabyte of columns across the network.
constexpr int64_t kMaxSavedColsBytes = int64_t(32) << 20;

// About this many GEMM columns (output positions) per group: the group's cols (CKK x 512 floats,
// 1.2 MB for CKK = 576) stay in a core's L2, and ResNet-20's smallest stage still gets 16 groups.
constexpr int64_t kGroupColumns = 512;

// Below this many multiply-adds (O*CKK*B*OH*OW) a convolution stays on the calling thread: forking
// would cost more than it saves (gradchecks run thousands of tiny convolutions). It is below
// core::sgemm's own threshold for threading (kSgemmParallelFlops), so its GEMMs stay on one thread too.
constexpr int64_t kSerialWork = 65536;

// At most this many partial sums of dweight, each over a fixed run of consecutive groups.
constexpr int64_t kMaxSlots = 16;

core::Im2colShape validate_conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride,
                                  int64_t padding) {
    if (!x.defined() || !weight.defined()) fail<core::ValueError>("conv2d: input and weight must be defined");
    if (x.dim() != 4)
        fail<core::ShapeError>("conv2d: input must be 4-D (B,C,H,W), got shape ", shape_str(x.shape()));
    if (weight.dim() != 4)
        fail<core::ShapeError>("conv2d: weight must be 4-D (O,C,KH,KW), got shape ", shape_str(weight.shape()));
    if (x.size(1) != weight.size(1))
        fail<core::ShapeError>("conv2d: input has ", x.size(1), " channels, weight expects ", weight.size(1));
    if (bias.defined() && bias.shape() != Shape{weight.size(0)})
        fail<core::ShapeError>("conv2d: bias has shape ", shape_str(bias.shape()), ", expected [", weight.size(0),
                               "] (one per output channel)");
    if (stride < 1) fail<core::ValueError>("conv2d: stride must be >= 1, got ", stride);
    if (padding < 0) fail<core::ValueError>("conv2d: padding must be >= 0, got ", padding);
    if (weight.size(0) < 1 || weight.size(2) < 1 || weight.size(3) < 1)
        fail<core::ShapeError>("conv2d: weight needs at least one 1x1 filter, got shape ", shape_str(weight.shape()));

    core::Im2colShape shape;
    shape.batch = x.size(0);
    shape.channels = x.size(1);
    shape.height = x.size(2);
    shape.width = x.size(3);
    shape.kernel_h = weight.size(2);
    shape.kernel_w = weight.size(3);
    shape.stride = stride;
    shape.padding = padding;
    if (shape.height + 2 * padding < shape.kernel_h || shape.width + 2 * padding < shape.kernel_w)
        fail<core::ShapeError>("conv2d: kernel ", shape.kernel_h, "x", shape.kernel_w,
                               " is larger than the padded input ", shape.height + 2 * padding, "x",
                               shape.width + 2 * padding, " (input ", shape_str(x.shape()), ", padding ", padding,
                               ")");
    return shape;
}

// Groups of consecutive images; group g holds images [first(g), first(g) + images(g)).
struct ImageGroups {
    int64_t batch = 0;
    int64_t per_group = 1;
    int64_t count = 0;

    ImageGroups(int64_t batch_size, int64_t plane_out)
        : batch(batch_size), per_group(std::max<int64_t>(1, kGroupColumns / std::max<int64_t>(plane_out, 1))),
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

}  // namespace

Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride, int64_t padding) {
    const core::Im2colShape shape = validate_conv2d(x, weight, bias, stride, padding);
    const int64_t B = shape.batch, C = shape.channels, O = weight.size(0);
    const int64_t OH = shape.out_h(), OW = shape.out_w();
    const int64_t plane_in = C * shape.height * shape.width;  // floats per image of x
    const int64_t plane_out = OH * OW;
    const int64_t CKK = shape.col_rows(), N = shape.col_cols();
    const ImageGroups groups(B, plane_out);
    const int64_t group_columns = groups.per_group * plane_out;
    const bool parallel = O * CKK * N > kSerialWork;

    const Tensor x_value = x.value().contiguous();
    const Tensor weight_value = weight.value().contiguous();
    const Tensor bias_value = bias.defined() ? bias.value().contiguous() : Tensor();

    const bool graph = needs_graph({&x, &weight, &bias});
    const bool x_needs_grad = graph && x.requires_grad();
    const bool weight_needs_grad = graph && weight.requires_grad();
    const bool bias_needs_grad = graph && bias.requires_grad();
    // dweight needs cols: keep them if small, else rebuild them from x (alive through the graph anyway).
    const bool save_cols = weight_needs_grad && CKK * N * int64_t(sizeof(float)) <= kMaxSavedColsBytes;
    // Saved cols are stored group by group: group g's (CKK, images*OH*OW) block starts at CKK*first(g)*OH*OW.
    Tensor saved_cols = save_cols ? Tensor::empty({CKK * N}) : Tensor();

    Tensor out = Tensor::empty({B, O, OH, OW});
    {
        Scratch cols_scratch(save_cols ? 0 : CKK * group_columns);  // (CKK, group columns)
        Scratch out_scratch(O * group_columns);                      // (O, group columns)
        const float* x_data = x_value.data();
        const float* weight_data = weight_value.data();
        const float* bias_data = bias_value.defined() ? bias_value.data() : nullptr;
        float* out_data = out.data();
        float* saved_data = save_cols ? saved_cols.data() : nullptr;
#pragma omp parallel for schedule(dynamic) if (parallel)
        for (int64_t g = 0; g < groups.count; ++g) {
            const int64_t first = groups.first(g), images = groups.images(g), columns = images * plane_out;
            core::Im2colShape group_shape = shape;
            group_shape.batch = images;
            float* cols = save_cols ? saved_data + CKK * first * plane_out : cols_scratch.mine();
            float* out_mat = out_scratch.mine();
            core::im2col(x_data + first * plane_in, group_shape, cols);
            core::gemm(false, false, O, columns, CKK, 1.0f, weight_data, CKK, cols, columns, 0.0f, out_mat, columns);
            for (int64_t image = 0; image < images; ++image)
                for (int64_t o = 0; o < O; ++o) {
                    const float* src = out_mat + o * columns + image * plane_out;
                    float* dst = out_data + ((first + image) * O + o) * plane_out;
                    const float shift = bias_data ? bias_data[o] : 0.0f;
                    for (int64_t i = 0; i < plane_out; ++i) dst[i] = src[i] + shift;
                }
        }
    }

    std::vector<Variable> inputs{x, weight};
    if (bias.defined()) inputs.push_back(bias);
    if (!graph) return make_result(std::move(out), "conv2d", std::move(inputs), nullptr);

    const Tensor saved_x = weight_needs_grad && !save_cols ? x_value : Tensor();
    const Tensor saved_weight = x_needs_grad ? weight_value : Tensor();
    const bool has_bias = bias.defined();
    auto backward = [shape, groups, B, C, O, CKK, plane_in, plane_out, group_columns, parallel, x_needs_grad,
                     weight_needs_grad, bias_needs_grad, has_bias, saved_cols, saved_x,
                     saved_weight](const Tensor& grad_output) -> std::vector<Tensor> {
        const Tensor dout = grad_output.contiguous();  // (B,O,OH,OW)
        // Slot s sums over groups [s*count/slots, (s+1)*count/slots), in order.
        const int64_t slots = std::min(groups.count, kMaxSlots);
        // dweight partials as (CKK, O) = cols x dout_mat^T once O fills part of core::sgemm's 48-wide
        // register tile: measured 30% faster there (ResNet-20, LeNet conv2), 2x slower for O = 6.
        const bool transposed_dweight = O >= 16;
        Tensor dweight_partials = weight_needs_grad ? Tensor::empty({std::max<int64_t>(slots, 1), O * CKK}) : Tensor();
        std::vector<double> dbias_partials(bias_needs_grad ? static_cast<size_t>(slots * O) : 0, 0.0);
        Tensor dx = x_needs_grad ? Tensor::empty({B, C, shape.height, shape.width}) : Tensor();
        {
            Scratch dout_scratch(weight_needs_grad || x_needs_grad ? O * group_columns : 0);  // (O, group columns)
            Scratch cols_scratch(weight_needs_grad && !saved_cols.defined() ? CKK * group_columns : 0);
            Scratch dcols_scratch(x_needs_grad ? CKK * group_columns : 0);  // (CKK, group columns)
            const float* dout_data = dout.data();
#pragma omp parallel for schedule(dynamic) if (parallel)
            for (int64_t s = 0; s < slots; ++s) {
                const int64_t group_begin = s * groups.count / slots, group_end = (s + 1) * groups.count / slots;
                for (int64_t g = group_begin; g < group_end; ++g) {
                    const int64_t first = groups.first(g), images = groups.images(g);
                    const int64_t columns = images * plane_out;
                    core::Im2colShape group_shape = shape;
                    group_shape.batch = images;
                    if (bias_needs_grad)
                        for (int64_t o = 0; o < O; ++o)
                            for (int64_t image = 0; image < images; ++image)
                                dbias_partials[static_cast<size_t>(s * O + o)] +=
                                    plane_sum(dout_data + ((first + image) * O + o) * plane_out, plane_out);
                    if (!weight_needs_grad && !x_needs_grad) continue;

                    float* dout_mat = dout_scratch.mine();  // (O, columns): this group's dout, permuted
                    for (int64_t o = 0; o < O; ++o)
                        for (int64_t image = 0; image < images; ++image)
                            std::memcpy(dout_mat + o * columns + image * plane_out,
                                        dout_data + ((first + image) * O + o) * plane_out,
                                        sizeof(float) * static_cast<size_t>(plane_out));
                    if (weight_needs_grad) {
                        const float* cols;
                        if (saved_cols.defined()) {
                            cols = saved_cols.data() + CKK * first * plane_out;
                        } else {
                            float* rebuilt = cols_scratch.mine();
                            core::im2col(saved_x.data() + first * plane_in, group_shape, rebuilt);
                            cols = rebuilt;
                        }
                        float* partial = dweight_partials.data() + s * O * CKK;
                        const float beta = g == group_begin ? 0.0f : 1.0f;
                        if (transposed_dweight)  // partial (CKK, O) (+)= cols (CKK, columns) x dout_mat^T
                            core::gemm(false, true, CKK, O, columns, 1.0f, cols, columns, dout_mat, columns, beta,
                                       partial, O);
                        else  // partial (O, CKK) (+)= dout_mat (O, columns) x cols^T (columns, CKK)
                            core::gemm(false, true, O, CKK, columns, 1.0f, dout_mat, columns, cols, columns, beta,
                                       partial, CKK);
                    }
                    if (x_needs_grad) {
                        float* dcols = dcols_scratch.mine();
                        core::gemm(true, false, CKK, columns, O, 1.0f, saved_weight.data(), CKK, dout_mat, columns,
                                   0.0f, dcols, columns);
                        core::col2im(dcols, group_shape, dx.data() + first * plane_in);
                    }
                }
            }
        }

        Tensor dweight;
        if (weight_needs_grad) {
            dweight = Tensor::empty({O, C, shape.kernel_h, shape.kernel_w});
            const float* partials = dweight_partials.data();
            float* dst = dweight.data();
            const int64_t count = O * CKK;
            std::memset(dst, 0, sizeof(float) * static_cast<size_t>(count));
            for (int64_t s = 0; s < slots; ++s) {
                const float* partial = partials + s * count;
                if (transposed_dweight)
                    for (int64_t o = 0; o < O; ++o)
                        for (int64_t r = 0; r < CKK; ++r) dst[o * CKK + r] += partial[r * O + o];
                else
                    for (int64_t i = 0; i < count; ++i) dst[i] += partial[i];
            }
        }
        Tensor dbias;
        if (bias_needs_grad) {
            dbias = Tensor::empty({O});
            for (int64_t o = 0; o < O; ++o) {
                double total = 0.0;
                for (int64_t s = 0; s < slots; ++s) total += dbias_partials[static_cast<size_t>(s * O + o)];
                dbias.data()[o] = static_cast<float>(total);
            }
        }
        std::vector<Tensor> grads{dx, dweight};
        if (has_bias) grads.push_back(dbias);
        return grads;
    };
    return make_result(std::move(out), "conv2d", std::move(inputs), std::move(backward));
}

}  // namespace proact::autograd
