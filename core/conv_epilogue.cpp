#include "core/conv_epilogue.hpp"

#include "core/batch_norm.hpp"
#include "core/elementwise.hpp"

namespace proact::core {

namespace {

// One channel's row: batch norm, residual, ReLU as compiled in (each a loop the compiler
// vectorises; no multiply-add is contracted into an FMA, see CMakeLists.txt).
template <bool kNorm, bool kResidual, bool kRelu>
void channel_row(float* row, const float* residual, ChannelAffine affine, int64_t plane) {
    for (int64_t i = 0; i < plane; ++i) {
        float v = row[i];
        if constexpr (kNorm) v = affine(v);
        if constexpr (kResidual) v = v + residual[i];
        if constexpr (kRelu) v = relu_value(v);
        row[i] = v;
    }
}

using ChannelRow = void (*)(float*, const float*, ChannelAffine, int64_t);

template <bool kNorm, bool kResidual>
ChannelRow row_with(bool relu) {
    return relu ? channel_row<kNorm, kResidual, true> : channel_row<kNorm, kResidual, false>;
}

ChannelRow row_for(bool norm, bool residual, bool relu) {
    if (norm) return residual ? row_with<true, true>(relu) : row_with<true, false>(relu);
    return residual ? row_with<false, true>(relu) : row_with<false, false>(relu);
}

}  // namespace

void apply_conv_epilogue(const ConvEpilogue& e, int64_t image, float* values, int64_t O, int64_t plane) {
    const bool norm = e.scale != nullptr, relu = e.activation == EpilogueActivation::relu;
    if (norm || e.residual || relu) {
        const ChannelRow row = row_for(norm, e.residual != nullptr, relu);
        const float* residual = e.residual ? e.residual + image * O * plane : nullptr;
        for (int64_t o = 0; o < O; ++o)
            row(values + o * plane, residual ? residual + o * plane : nullptr,
                norm ? ChannelAffine{e.scale[o], e.shift[o]} : ChannelAffine{}, plane);
    }
    if (e.activation == EpilogueActivation::clip)
        clip_forward_serial(values, e.threshold, values, {1, O, plane, e.granularity}, e.mode, e.slope);
}

}  // namespace proact::core
