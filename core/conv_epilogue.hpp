// What follows a convolution in inference, applied to each image's output (O, OH, OW) as soon as
// the convolution has written it, while it is still in cache (core::conv2d_forward with an
// epilogue). The separate ops each write the whole batch's output to memory and read it back:
// ResNet-20's conv -> batch norm -> ReLU and conv -> batch norm -> + shortcut -> ReLU are three and
// four passes over a batch of 4 MB. In the separate ops' order and with their arithmetic, so the
// bits are theirs (tests/test_core_conv_epilogue.cpp):
//
//   batch norm (eval)  y = y * scale[o] + shift[o]    core::ChannelAffine, batch_norm_eval_affine's
//   residual           y = y + residual              core::binary's add, the convolution's side first
//   activation         relu_value(y), or clip_forward with a threshold for one image
//
// Each part is optional; an epilogue with none does nothing.
#pragma once

#include <cstdint>

#include "core/clip.hpp"

namespace proact::core {

enum class EpilogueActivation { none, relu, clip };

struct ConvEpilogue {
    const float* scale = nullptr;     // (O) with shift, or null: no batch norm
    const float* shift = nullptr;     // (O)
    const float* residual = nullptr;  // (B, O, OH, OW) of the whole batch, or null
    EpilogueActivation activation = EpilogueActivation::none;
    // activation == clip: clip_forward's threshold, granularity, mode and slope for one image
    // (threshold: 1, O or O*OH*OW floats, by granularity)
    const float* threshold = nullptr;
    ClipGranularity granularity = ClipGranularity::layer;
    ClipMode mode = ClipMode::hard;
    float slope = 0.0f;
};

// values (O, plane): the convolution output of image `image` (its index into residual), in place.
// Runs on the calling thread.
void apply_conv_epilogue(const ConvEpilogue& epilogue, int64_t image, float* values, int64_t O, int64_t plane);

}  // namespace proact::core
