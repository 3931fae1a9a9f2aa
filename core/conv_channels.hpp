// The channel-subset convolution: a few output channels of a conv2d, computed without im2col and
// bit-identical to what autograd::conv2d (im2col + core::sgemm + bias) gives for those channels,
// on whichever GEMM kernel is in use (core::gemm_kernel()). Fault campaigns use it to recompute
// only the channels a flipped weight touches:
//
//   core::Tensor y = core::conv2d_channels(x, weight, bias, stride, padding, {3, 7});  // (B, 2, OH, OW)
//
// It reproduces the GEMM's chain per output element: the taps k = (c*KH + kh)*KW + kw in the
// GEMM's K slices (core::sgemm_k_slice), a product for the first tap of a slice and a multiply-add
// for each next one (an FMA on the avx512 / avx2 kernels, a rounded product and a rounded sum on
// the generic one), slices added in order, then the bias (+0 without). Padding reads as +0, as
// im2col writes it. If the GEMM ever sums otherwise (PROACT_GEMM=blas, its K split for long K,
// or a future kernel), the bits differ: callers that rely on equality check it once on real data
// (faults/campaign.cpp's start-up probe) and tests/test_core_conv_channels.cpp checks it on every
// kernel this CPU supports.
#pragma once

#include <cstdint>
#include <vector>

#include "core/conv_epilogue.hpp"
#include "core/im2col.hpp"
#include "core/pool.hpp"
#include "core/tensor.hpp"

namespace proact::core {

// Output channels `channels` (each in [0, O), any order, repeats allowed) of the convolution.
//   x (B, C, H, W), weight (O, C, KH, KW), bias (O) or undefined -> (B, channels.size(), OH, OW)
//   OH = (H + 2*padding - KH) / stride + 1, likewise OW.
// Throws ShapeError / ValueError / IndexError for inputs that do not fit.
Tensor conv2d_channels(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                       const std::vector<int64_t>& channels);

// The whole convolution on the same per-image kernels, as conv2d_forward's direct path: no im2col
// (its columns are 9x the input for a 3x3 kernel, written and read again), and register blocks of
// output channels x positions (avx512: 8 x 48, avx2: 4 x 24), each loaded input vector feeding as
// many FMAs as in the GEMM. Same bits as im2col + core::sgemm + bias
// (tests/test_core_conv2d_direct.cpp), so conv2d_forward takes it where conv2d_direct_applies
// says: stride 1, the avx512 or avx2 GEMM kernel in use (their register-blocked kernels; the
// generic kernel's loop is slower than its GEMM), not PROACT_GEMM=blas, and at most
// kConvDirectMaxOutputs output channels (measured on both kernels, conv_channels.cpp).
//   x (B,C,H,W), weight (O, C*KH*KW), bias (O) or null -> out (B,O,OH,OW), all contiguous; with
//   an epilogue (core/conv_epilogue.hpp), each image's output then goes through it.
inline constexpr int64_t kConvDirectMaxOutputs = 64;
// Below this many multiply-adds (O*CKK*B*OH*OW) the images stay on the calling thread.
inline constexpr int64_t kConvDirectSerialWork = 65536;
bool conv2d_direct_applies(const Im2colShape& shape, int64_t O);
void conv2d_forward_direct(const float* x, const float* weight, const float* bias, const Im2colShape& shape, int64_t O,
                           float* out, const ConvEpilogue* epilogue = nullptr);

// Many output channels on a small plane run with the channels in the vector lanes instead (per tap
// one load of the weights of 16 channels (avx512; 8 on avx2) and one broadcast input per
// position, and no padding columns computed and dropped): the same chain per element, so the same
// bits (tests/test_core_conv2d_direct.cpp). Measured (`bench_conv direct`, 1 thread, batch 64,
// interleaved, AMD EPYC): avx512 ResNet-20's 64-channel stage on 8x8 1.5x, Fashion-MNIST's on 7x7
// 1.1x, 32 channels on 16x16 and 14x14 the same, 16 channels 0.7-0.95x (their position blocks are
// long already); avx2 1.08x on 8x8, the same on 7x7. Used for S >= 48 channels on at most 64
// output positions at stride 1, by conv2d_forward_direct and conv2d_channels alike.
inline constexpr int64_t kConvChannelVectorsMinOutputs = 48;
inline constexpr int64_t kConvChannelVectorsMaxPositions = 64;
bool conv2d_channel_vectors_apply(const Im2colShape& shape, int64_t S);

// conv2d_forward_direct, then ReLU (relu_value), then max pooling, one image at a time: an image's
// convolution output stays in cache, where the three ops one after the other write the whole
// batch's to memory and read it back twice (inference on LeNet-5: a third of a pass). The same
// bits as the three (tests/test_fused_conv_relu_pool.cpp). Where conv2d_direct_applies.
//   x (B,C,H,W), weight (O, C*KH*KW), bias (O) or null; pool: the pooling of one image's
//   convolution output (planes = O, height x width = OH x OW) -> out (B, O, pool.out_h, pool.out_w).
void conv2d_relu_max_pool2d_direct(const float* x, const float* weight, const float* bias, const Im2colShape& shape,
                                   int64_t O, const PoolShape& pool, float* out);

// The input gradient of a stride-1 convolution on per-image kernels of the same kind, without the
// columns conv2d_backward's GEMM path writes (9x dx for a 3x3 kernel) and col2im reads back: per
// input channel and position, the taps in col2im's order, each the GEMM's chain over the output
// channels (weight^T x dout, one K slice). Same bits as that path (tests/test_core_conv2d_direct.cpp).
// Applies at stride 1 on the avx512 and avx2 GEMM kernels (not PROACT_GEMM=blas) where it measured
// faster (O <= 32 outputs, at least 3 input channels, planes of at least 14x14, kernels up to 3x3),
// when every weight is finite: an Inf or NaN weight times the +0 of dout's padding would reach input
// positions col2im leaves alone.
//   dout (B,O,OH,OW), weight (O, C*KH*KW) -> dx (B,C,H,W), all contiguous. ValueError for
//   O > kSgemmKcMax (the GEMM sums two K slices there).
bool conv2d_backward_input_direct_applies(const Im2colShape& shape, int64_t O, const float* weight);
void conv2d_backward_input_direct(const float* dout, const float* weight, const Im2colShape& shape, int64_t O,
                                  float* dx);

// Rows `rows` of `weight` (O, ...) as a new contiguous tensor (rows.size(), ...): the weight (or
// bias) of the output channels `rows` of a linear layer. Throws IndexError for a row outside [0, O).
Tensor gather_rows(const Tensor& weight, const std::vector<int64_t>& rows);

}  // namespace proact::core
