// The channel-subset convolution (see conv_channels.hpp): shapes, padding, threads and bias here;
// the per-image sums in the kernel of the GEMM kernel set in use (conv_channels_kernels.hpp). This
// file also holds the generic kernel (rounded products and sums: no file is compiled to contract
// them into FMAs, see CMakeLists.txt).
#include "core/conv_channels.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/conv_channels_kernels.hpp"
#include "core/conv_epilogue.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/sgemm.hpp"
#include "core/threads.hpp"

namespace proact::core {

namespace conv_channels_detail {

void channel_sums_generic(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count,
                          float* total, float* partial) {
    reference_channels<SeparateMultiplyAdd>(g, padded, w_rows, count, total, partial);
}

void input_grad_sums_generic(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                             float* out) {
    reference_input_grad<SeparateMultiplyAdd>(g, dout, w_rows, count, out);
}

}  // namespace conv_channels_detail

namespace {

using namespace conv_channels_detail;

ChannelSums channel_sums_for(GemmKernel kernel) {
    switch (kernel) {
        case GemmKernel::avx512: return channel_sums_avx512;
        case GemmKernel::avx2: return channel_sums_avx2;
        case GemmKernel::generic: break;
    }
    return channel_sums_generic;
}

InputGradSums input_grad_sums_for(GemmKernel kernel) {
    switch (kernel) {
        case GemmKernel::avx512: return input_grad_sums_avx512;
        case GemmKernel::avx2: return input_grad_sums_avx2;
        case GemmKernel::generic: break;
    }
    return input_grad_sums_generic;
}

void validate(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
              const std::vector<int64_t>& channels) {
    if (!x.defined() || !weight.defined()) fail<ValueError>("conv2d_channels: input and weight must be defined");
    if (x.dim() != 4)
        fail<ShapeError>("conv2d_channels: input must be 4-D (B,C,H,W), got shape ", shape_str(x.shape()));
    if (weight.dim() != 4)
        fail<ShapeError>("conv2d_channels: weight must be 4-D (O,C,KH,KW), got shape ", shape_str(weight.shape()));
    if (x.size(1) != weight.size(1))
        fail<ShapeError>("conv2d_channels: input has ", x.size(1), " channels, weight expects ", weight.size(1));
    if (bias.defined() && bias.shape() != Shape{weight.size(0)})
        fail<ShapeError>("conv2d_channels: bias has shape ", shape_str(bias.shape()), ", expected [", weight.size(0),
                         "]");
    if (stride < 1) fail<ValueError>("conv2d_channels: stride must be >= 1, got ", stride);
    if (padding < 0) fail<ValueError>("conv2d_channels: padding must be >= 0, got ", padding);
    if (x.size(2) + 2 * padding < weight.size(2) || x.size(3) + 2 * padding < weight.size(3))
        fail<ShapeError>("conv2d_channels: kernel ", weight.size(2), "x", weight.size(3),
                         " is larger than the padded input (input ", shape_str(x.shape()), ", padding ", padding, ")");
    for (int64_t channel : channels)
        if (channel < 0 || channel >= weight.size(0))
            fail<IndexError>("conv2d_channels: output channel ", channel, " outside 0..", weight.size(0) - 1);
}

}  // namespace

namespace {

ChannelVectorSums channel_vector_sums_for(GemmKernel kernel) {
    switch (kernel) {
        case GemmKernel::avx512: return channel_vector_sums_avx512;
        case GemmKernel::avx2: return channel_vector_sums_avx2;
        case GemmKernel::generic: break;
    }
    return nullptr;
}

// One convolution's geometry for the per-image kernels, with the tap offsets it points at.
struct Plan {
    Geometry g;
    std::vector<int64_t> offsets;  // (K), g.offsets points here
    int64_t C = 0, H = 0, W = 0, padding = 0;
};

void make_plan(int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride, int64_t padding, Plan& p) {
    Geometry& g = p.g;
    p.C = C;
    p.H = H;
    p.W = W;
    p.padding = padding;
    g.KH = KH;
    g.KW = KW;
    g.stride = stride;
    g.OH = (H + 2 * padding - g.KH) / stride + 1;
    g.OW = (W + 2 * padding - g.KW) / stride + 1;
    g.PH = H + 2 * padding;
    g.PW = W + 2 * padding;
    g.K = C * g.KH * g.KW;
    g.slice = sgemm_k_slice(g.K);
    g.flat = stride == 1;
    g.acc_size = g.flat ? (g.OH - 1) * g.PW + g.OW : g.OH * g.OW;
    p.offsets.resize(static_cast<size_t>(g.K));
    for (int64_t k = 0; k < g.K; ++k)
        p.offsets[static_cast<size_t>(k)] = ((k / (g.KH * g.KW)) * g.PH + (k / g.KW) % g.KH) * g.PW + k % g.KW;
    g.offsets = p.offsets.data();
}

// Whether S output channels at this stride on OH*OW positions take channel_vector_sums.
bool channel_vectors_apply(int64_t stride, int64_t positions, int64_t S) {
    return stride == 1 && S >= kConvChannelVectorsMinOutputs && positions <= kConvChannelVectorsMaxPositions &&
           gemm_kernel() != GemmKernel::generic;
}

// out (B, S, OH, OW): channel j of image b is the chain over the taps of w_rows[j], + shifts[j]
// (+0 when shifts is null). Images are handed out one at a time (dynamic: a thread that loses its
// core delays one image, not half the batch); each image's values do not depend on the thread.
// With `epilogue`, each image's (S, OH, OW) then through it (S = O, every channel). With `pool`
// (planes = S) instead: each image's (S, OH, OW) goes to a buffer of the thread's, then through
// relu_value and max_pool2d_forward into out (B, S, pool->out_h, pool->out_w).
void run_images(const Plan& p, ChannelSums channel_sums, const float* x_data, int64_t B, const float* const* w_rows,
                const float* shifts, int64_t S, float* out_data, bool parallel, const PoolShape* pool = nullptr,
                const ConvEpilogue* epilogue = nullptr) {
    const Geometry& g = p.g;
    const int64_t C = p.C, H = p.H, W = p.W, padding = p.padding;
    const bool copy = padding > 0;  // without padding the input planes are read in place
    const int64_t rows = g.OH * g.OW;
    // With the channels in the vector lanes: the weights transposed once, wT (K, S), the flat
    // position oh*PW + ow of each output (oh, ow), and each image's sums as (OH*OW, S).
    const ChannelVectorSums vector_sums =
        channel_vectors_apply(g.stride, rows, S) ? channel_vector_sums_for(gemm_kernel()) : nullptr;
    std::vector<float> wT(vector_sums ? static_cast<size_t>(g.K * S) : 0);
    std::vector<int64_t> positions(vector_sums ? static_cast<size_t>(rows) : 0);
    if (vector_sums) {
        for (int64_t j = 0; j < S; ++j)
            for (int64_t k = 0; k < g.K; ++k) wT[static_cast<size_t>(k * S + j)] = w_rows[j][k];
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) positions[static_cast<size_t>(oh * g.OW + ow)] = oh * g.PW + ow;
    }
    // Each thread's buffers are allocated inside the region: a failure there is carried out of
    // it, and that thread still reaches the `omp for` (every thread must) but does no work.
    ExceptionCarrier carrier;
#pragma omp parallel if (parallel)
    {
        std::vector<float> padded_planes, partial, total, image_out;
        carrier.run([&] {
            padded_planes.assign(copy ? static_cast<size_t>(C * g.PH * g.PW) : 0, 0.0f);  // borders stay +0
            partial.resize(static_cast<size_t>(g.acc_size));
            total.resize(static_cast<size_t>(S * (vector_sums ? rows : g.acc_size)));  // (S, acc_size) or (rows, S)
            if (pool) image_out.resize(static_cast<size_t>(S * g.OH * g.OW));
        });
#pragma omp for schedule(dynamic)
        for (int64_t b = 0; b < B; ++b) carrier.run([&] {
            const float* image = x_data + b * C * H * W;
            if (copy)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t h = 0; h < H; ++h)
                        std::copy(image + (c * H + h) * W, image + (c * H + h + 1) * W,
                                  padded_planes.data() + (c * g.PH + h + padding) * g.PW + padding);
            const float* planes = copy ? padded_planes.data() : image;
            if (vector_sums)
                vector_sums(g, planes, wT.data(), S, positions.data(), rows, total.data());
            else
                channel_sums(g, planes, w_rows, S, total.data(), partial.data());
            // total element of channel j, output (oh, ow): at j * channel_step + oh * row_step + ow * column_step
            const int64_t channel_step = vector_sums ? 1 : g.acc_size;
            const int64_t row_step = vector_sums ? g.OW * S : g.flat ? g.PW : g.OW;
            const int64_t column_step = vector_sums ? S : 1;
            float* image_sums = pool ? image_out.data() : out_data + b * S * rows;
            for (int64_t j = 0; j < S; ++j) {
                const float* channel_total = total.data() + j * channel_step;
                const float shift = shifts ? shifts[j] : 0.0f;
                float* dst = image_sums + j * rows;
                for (int64_t oh = 0; oh < g.OH; ++oh) {
                    const float* __restrict src = channel_total + oh * row_step;
                    float* __restrict dst_row = dst + oh * g.OW;
                    if (column_step == 1) {  // a row of the position sweep's sums: contiguous, vectorised
                        if (pool)
                            for (int64_t ow = 0; ow < g.OW; ++ow) dst_row[ow] = relu_value(src[ow] + shift);
                        else
                            for (int64_t ow = 0; ow < g.OW; ++ow) dst_row[ow] = src[ow] + shift;
                    } else {
                        for (int64_t ow = 0; ow < g.OW; ++ow) {
                            const float value = src[ow * column_step] + shift;
                            dst_row[ow] = pool ? relu_value(value) : value;
                        }
                    }
                }
            }
            if (pool) max_pool2d_forward(image_sums, *pool, out_data + b * S * pool->out_h * pool->out_w, nullptr);
            if (epilogue) apply_conv_epilogue(*epilogue, b, image_sums, S, rows);
        });
    }
    carrier.rethrow();
}

}  // namespace

Tensor conv2d_channels(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                       const std::vector<int64_t>& channels) {
    validate(x, weight, bias, stride, padding, channels);
    const int64_t B = x.size(0);
    Plan plan;
    make_plan(x.size(1), x.size(2), x.size(3), weight.size(2), weight.size(3), stride, padding, plan);
    const int64_t S = static_cast<int64_t>(channels.size());
    Tensor out = Tensor::empty({B, S, plan.g.OH, plan.g.OW});
    const Tensor input = x.contiguous(), filters = weight.contiguous();
    const Tensor shifts = bias.defined() ? bias.contiguous() : Tensor();
    std::vector<const float*> w_rows(static_cast<size_t>(S));
    std::vector<float> shift_values(static_cast<size_t>(S));
    for (int64_t j = 0; j < S; ++j) {
        const int64_t channel = channels[static_cast<size_t>(j)];
        w_rows[static_cast<size_t>(j)] = filters.data() + channel * plan.g.K;
        if (shifts.defined()) shift_values[static_cast<size_t>(j)] = shifts.data()[channel];
    }
    run_images(plan, channel_sums_for(gemm_kernel()), input.data(), B, w_rows.data(),
               shifts.defined() ? shift_values.data() : nullptr, S, out.data(), /*parallel=*/true);
    return out;
}

bool conv2d_channel_vectors_apply(const Im2colShape& shape, int64_t S) {
    return channel_vectors_apply(shape.stride, shape.out_h() * shape.out_w(), S);
}

bool conv2d_direct_applies(const Im2colShape& shape, int64_t O) {
    const GemmKernel kernel = gemm_kernel();
    if (shape.stride != 1 || gemm_uses_blas() || kernel == GemmKernel::generic) return false;
    // Where it measured faster than im2col + GEMM per group, or as fast (bench_conv shapes, 1 thread,
    // batch 64, the direct path over the GEMM path). avx512: ResNet-20's 3x3 stages on 32x32 inputs
    // 1.5x, 1.4x, 1.05x (16, 32, 64 channels); on 14x14 and 7x7 planes 1.6x, 1.5x; LeNet-5's 5x5
    // 6 -> 16 2x; VGG's 3 -> 64 on 32x32 the same. Each 8-channel block sweeps the whole input
    // again, so many output channels favour the GEMM, which packs its columns once: VGG's 64 -> 128
    // on 16x16 ran 1.3x slower direct, 128 -> 256 on 8x8 the same.
    // avx2 (forced on the AVX-512 machine: `PROACT_GEMM_KERNEL=avx2 bench_conv direct`, best of 6
    // interleaved runs, four runs on a loaded machine): ResNet-20's 3 -> 16 on 32x32 1.5-1.65x,
    // its 16, 32, 64-channel stages on 32x32, 16x16, 8x8 1.6-1.7x, 1.1-1.25x, 1.03-1.18x; on
    // Fashion-MNIST's 28x28, 14x14, 7x7 1.3-1.4x, 1.1-1.2x, 1.04-1.2x; LeNet-5's 1 -> 6 and
    // 6 -> 16 1.9x, 1.5-1.6x; VGG's 3 -> 64 and 64 -> 64 on 32x32 1.03-1.1x, 1.1-1.15x. Past 64 outputs
    // the GEMM catches up: VGG's 64 -> 128 on 16x16 1.0x, 128 -> 256 on 8x8 0.8-0.9x.
    // The generic kernel's loop is slower than its GEMM.
    return O <= kConvDirectMaxOutputs && shape.out_h() >= 1 && shape.out_w() >= 1;
}

namespace {

// The whole convolution of `shape` on run_images, every output channel; with `pool`, each image's
// output then through ReLU and that max pooling, with `epilogue` through that (run_images).
void run_whole_convolution(const float* x, const float* weight, const float* bias, const Im2colShape& shape,
                           int64_t O, float* out, const PoolShape* pool, const ConvEpilogue* epilogue) {
    Plan plan;
    make_plan(shape.channels, shape.height, shape.width, shape.kernel_h, shape.kernel_w, shape.stride, shape.padding,
              plan);
    if (pool && (pool->planes != O || pool->height != plan.g.OH || pool->width != plan.g.OW))
        fail<ShapeError>("conv2d_relu_max_pool2d_direct: pooling ", pool->planes, " planes of ", pool->height, "x",
                         pool->width, ", the convolution gives ", O, " of ", plan.g.OH, "x", plan.g.OW);
    std::vector<const float*> w_rows(static_cast<size_t>(O));
    for (int64_t o = 0; o < O; ++o) w_rows[static_cast<size_t>(o)] = weight + o * plan.g.K;
    const bool parallel = O * plan.g.K * shape.col_cols() > kConvDirectSerialWork;
    run_images(plan, channel_sums_for(gemm_kernel()), x, shape.batch, w_rows.data(), bias, O, out, parallel, pool,
               epilogue);
}

}  // namespace

void conv2d_forward_direct(const float* x, const float* weight, const float* bias, const Im2colShape& shape, int64_t O,
                           float* out, const ConvEpilogue* epilogue) {
    run_whole_convolution(x, weight, bias, shape, O, out, nullptr, epilogue);
}

void conv2d_relu_max_pool2d_direct(const float* x, const float* weight, const float* bias, const Im2colShape& shape,
                                   int64_t O, const PoolShape& pool, float* out) {
    run_whole_convolution(x, weight, bias, shape, O, out, &pool, nullptr);
}

bool conv2d_backward_input_direct_applies(const Im2colShape& shape, int64_t O, const float* weight) {
    if (shape.stride != 1 || gemm_uses_blas() || gemm_kernel() == GemmKernel::generic) return false;
    if (O < 1 || shape.out_h() < 1 || shape.out_w() < 1) return false;
    // Where it measured faster (`bench_conv dx`, 1 thread, batch 64, best of 15 rounds interleaved
    // with GEMM + col2im per group as conv2d_backward runs it, two runs each on avx512 and on avx2
    // forced on the same machine): few output channels make the GEMM's K short, and its columns
    // cost as much to write and scatter as to compute. Taken (avx512 / avx2): ResNet-20's stem, 16-
    // and 32-channel stages 1.45x / 1.45x, 1.4x / 1.25x, 1.05x / 1.0x; Fashion-MNIST's 16 and 32
    // channels 1.25x / 1.04x, 1.5x / 1.27x. Left: 64 outputs (1.0x / 0.87x on 8x8, 0.82x / 0.91x on
    // 7x7); planes under 14x14, where the sweep's padding columns are a third or more of the work;
    // 1- and 2-channel inputs, whose blocks feed one or two FMAs per load (Fashion-MNIST's stem 0.83x
    // / 0.7x); kernels past 3x3 (LeNet-5's 5x5 conv2 0.89x / 0.78x). The generic kernel keeps the
    // GEMM, as for the forward.
    if (O > 32 || shape.height * shape.width < 196 || shape.channels < 3) return false;
    if (shape.kernel_h * shape.kernel_w > 9) return false;
    const int64_t count = O * shape.col_rows();
    for (int64_t i = 0; i < count; ++i)
        if (!std::isfinite(weight[i])) return false;
    return true;
}

void conv2d_backward_input_direct(const float* dout, const float* weight, const Im2colShape& shape, int64_t O,
                                  float* dx) {
    if (O > kSgemmKcMax)
        fail<ValueError>("conv2d_backward_input_direct: ", O, " output channels, more than one GEMM K slice (",
                         kSgemmKcMax, ")");
    const int64_t B = shape.batch, C = shape.channels, H = shape.height, W = shape.width;
    const int64_t KH = shape.kernel_h, KW = shape.kernel_w, padding = shape.padding;
    const int64_t OH = shape.out_h(), OW = shape.out_w(), taps = KH * KW;
    const int64_t QH = OH + 2 * (KH - 1), QW = OW + 2 * (KW - 1), plane = QH * QW;
    std::vector<int64_t> shifts(static_cast<size_t>(taps)), offsets(static_cast<size_t>(O));
    for (int64_t t = 0; t < taps; ++t)
        shifts[static_cast<size_t>(t)] = (KH - 1 - t / KW) * QW + (KW - 1 - t % KW);
    for (int64_t o = 0; o < O; ++o) offsets[static_cast<size_t>(o)] = o * plane;
    InputGradGeometry g;
    g.O = O;
    g.taps = taps;
    g.shifts = shifts.data();
    g.offsets = offsets.data();
    g.span = (H - 1) * QW + W;
    // w_taps (taps, C, O): row t*C + c holds weight[o][c][kh][kw] over o.
    std::vector<float> w_taps(static_cast<size_t>(taps * C * O));
    for (int64_t o = 0; o < O; ++o)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t t = 0; t < taps; ++t)
                w_taps[static_cast<size_t>((t * C + c) * O + o)] = weight[(o * C + c) * taps + t];
    std::vector<const float*> w_rows(static_cast<size_t>(taps * C));
    for (int64_t r = 0; r < taps * C; ++r) w_rows[static_cast<size_t>(r)] = w_taps.data() + r * O;
    const InputGradSums sums = input_grad_sums_for(gemm_kernel());
    const bool parallel = O * shape.col_rows() * shape.col_cols() > kConvDirectSerialWork;
    ExceptionCarrier carrier;  // each thread's buffers allocate inside the region
#pragma omp parallel if (parallel)
    {
        std::vector<float> padded, out;
        carrier.run([&] {
            padded.assign(static_cast<size_t>(O * plane), 0.0f);  // borders stay +0
            out.resize(static_cast<size_t>(C * g.span));
        });
#pragma omp for schedule(dynamic)
        for (int64_t b = 0; b < B; ++b) carrier.run([&] {
            for (int64_t o = 0; o < O; ++o)
                for (int64_t oh = 0; oh < OH; ++oh) {
                    const float* src = dout + ((b * O + o) * OH + oh) * OW;
                    std::copy(src, src + OW, padded.data() + o * plane + (oh + KH - 1) * QW + KW - 1);
                }
            sums(g, padded.data() + padding * QW + padding, w_rows.data(), C, out.data());
            for (int64_t c = 0; c < C; ++c)
                for (int64_t h = 0; h < H; ++h)
                    std::copy(out.data() + c * g.span + h * QW, out.data() + c * g.span + h * QW + W,
                              dx + ((b * C + c) * H + h) * W);
        });
    }
    carrier.rethrow();
}

Tensor gather_rows(const Tensor& weight, const std::vector<int64_t>& rows) {
    if (!weight.defined() || weight.dim() < 1) fail<ValueError>("gather_rows: weight must be defined, at least 1-D");
    Shape shape = weight.shape();
    const int64_t row_size = shape[0] > 0 ? weight.numel() / shape[0] : 0;
    for (int64_t row : rows)
        if (row < 0 || row >= shape[0]) fail<IndexError>("gather_rows: row ", row, " outside 0..", shape[0] - 1);
    shape[0] = static_cast<int64_t>(rows.size());
    const Tensor source_tensor = weight.contiguous();
    Tensor gathered = Tensor::empty(shape);
    const float* source = source_tensor.data();
    float* destination = gathered.data();
    for (size_t i = 0; i < rows.size(); ++i)
        std::copy(source + rows[i] * row_size, source + (rows[i] + 1) * row_size,
                  destination + static_cast<int64_t>(i) * row_size);
    return gathered;
}

}  // namespace proact::core
