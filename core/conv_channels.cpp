// The channel-subset convolution (see conv_channels.hpp): shapes, padding, threads and bias here;
// the per-image sums in the kernel of the GEMM kernel set in use (conv_channels_kernels.hpp). This
// file also holds the generic kernel, and is compiled with -ffp-contract=off for it.
#include "core/conv_channels.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/conv_channels_kernels.hpp"
#include "core/error.hpp"
#include "core/sgemm.hpp"
#include "core/threads.hpp"

namespace proact::core {

namespace conv_channels_detail {

void channel_sums_generic(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count,
                          float* total, float* partial) {
    reference_channels<SeparateMultiplyAdd>(g, padded, w_rows, count, total, partial);
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

Tensor conv2d_channels(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                       const std::vector<int64_t>& channels) {
    validate(x, weight, bias, stride, padding, channels);
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    Geometry g;
    g.KH = weight.size(2);
    g.KW = weight.size(3);
    g.stride = stride;
    g.OH = (H + 2 * padding - g.KH) / stride + 1;
    g.OW = (W + 2 * padding - g.KW) / stride + 1;
    g.PH = H + 2 * padding;
    g.PW = W + 2 * padding;
    g.K = C * g.KH * g.KW;
    g.slice = sgemm_k_slice(g.K);
    g.flat = stride == 1;
    g.acc_size = g.flat ? (g.OH - 1) * g.PW + g.OW : g.OH * g.OW;
    const int64_t S = static_cast<int64_t>(channels.size());
    std::vector<int64_t> offsets(static_cast<size_t>(g.K));
    for (int64_t k = 0; k < g.K; ++k)
        offsets[static_cast<size_t>(k)] = ((k / (g.KH * g.KW)) * g.PH + (k / g.KW) % g.KH) * g.PW + k % g.KW;
    g.offsets = offsets.data();
    const ChannelSums channel_sums = channel_sums_for(gemm_kernel());

    const bool copy = padding > 0;  // without padding the input planes are read in place
    Tensor out = Tensor::empty({B, S, g.OH, g.OW});
    const Tensor input = x.contiguous(), filters = weight.contiguous();
    const Tensor shifts = bias.defined() ? bias.contiguous() : Tensor();
    const float* x_data = input.data();
    const float* b_data = shifts.defined() ? shifts.data() : nullptr;
    float* out_data = out.data();
    std::vector<const float*> w_rows(static_cast<size_t>(S));
    for (int64_t j = 0; j < S; ++j)
        w_rows[static_cast<size_t>(j)] = filters.data() + channels[static_cast<size_t>(j)] * g.K;
    // Each thread's buffers are allocated inside the region: a failure there is carried out of
    // it, and that thread still reaches the `omp for` (every thread must) but does no work.
    ExceptionCarrier carrier;
#pragma omp parallel
    {
        std::vector<float> padded_planes, partial, total;
        carrier.run([&] {
            padded_planes.assign(copy ? static_cast<size_t>(C * g.PH * g.PW) : 0, 0.0f);  // borders stay +0
            partial.resize(static_cast<size_t>(g.acc_size));
            total.resize(static_cast<size_t>(S * g.acc_size));  // (S, acc_size)
        });
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; ++b) carrier.run([&] {
            const float* image = x_data + b * C * H * W;
            if (copy)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t h = 0; h < H; ++h)
                        std::copy(image + (c * H + h) * W, image + (c * H + h + 1) * W,
                                  padded_planes.data() + (c * g.PH + h + padding) * g.PW + padding);
            channel_sums(g, copy ? padded_planes.data() : image, w_rows.data(), S, total.data(), partial.data());
            const int64_t row_step = g.flat ? g.PW : g.OW;
            for (int64_t j = 0; j < S; ++j) {
                const float* channel_total = total.data() + j * g.acc_size;
                const float shift = b_data ? b_data[channels[static_cast<size_t>(j)]] : 0.0f;
                float* dst = out_data + (b * S + j) * g.OH * g.OW;
                for (int64_t oh = 0; oh < g.OH; ++oh)
                    for (int64_t ow = 0; ow < g.OW; ++ow)
                        dst[oh * g.OW + ow] = channel_total[oh * row_step + ow] + shift;
            }
        });
    }
    carrier.rethrow();
    return out;
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
