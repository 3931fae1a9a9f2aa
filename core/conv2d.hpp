// conv2d forward and backward loops as im2col + GEMM, with the batch folded into the GEMM's N
// dimension (autograd::conv2d holds the graph code and calls these).
//
//   forward:   cols (CKK, B*OH*OW) = im2col(x)                       CKK = C*KH*KW
//              out_mat (O, B*OH*OW) = weight (O, CKK) x cols
//              out (B,O,OH,OW) = out_mat scattered per image, + bias[o]
//   backward:  dout_mat (O, B*OH*OW) = dout (B,O,OH,OW) permuted
//              dweight (O, CKK) = dout_mat x cols^T
//              dcols (CKK, B*OH*OW) = weight^T x dout_mat,  dx = col2im(dcols)
//              dbias (O) = sum of dout over B, OH, OW
//
// The N dimension is cut into groups of whole images of about kConvGroupColumns columns each, and
// the threads take whole groups: im2col, GEMM and scatter of one group run back to back on one
// thread while its columns are still in cache, instead of streaming the whole batch's cols through
// memory twice (75 MB for a ResNet-20 stage at batch 128). Measured on this 2-core machine against
// im2col of the whole batch followed by one two-thread GEMM (bench_conv): the forward of
// ResNet-20's 32- and 16-channel stages runs about 2x and 3x faster, their backward 1.6-1.9x. Each
// GEMM runs on the calling thread (core::gemm stays single-threaded inside a parallel region). The
// cut depends on the shapes alone, so every output element is computed by the same operations in
// the same order whatever the thread count: results are bit-identical on 1 or 2 threads. dweight
// and dbias, sums over N, add per-slot partial sums in a fixed order.
#pragma once

#include <cstdint>

#include "core/conv_epilogue.hpp"
#include "core/im2col.hpp"

namespace proact::core {

// About this many GEMM columns (output positions) per group: the group's cols (CKK x 512 floats,
// 1.2 MB for CKK = 576) stay in a core's L2, and ResNet-20's smallest stage still gets 16 groups.
inline constexpr int64_t kConvGroupColumns = 512;

// x (B,C,H,W), weight (O, CKK), bias (O) or null -> out (B,O,OH,OW), all contiguous; shape gives
// B, C, H, W, KH, KW, stride, padding. saved_cols: null, or CKK*B*OH*OW floats that receive the
// columns for conv2d_backward (stored group by group). Without saved_cols, a shape that
// conv2d_direct_applies to (core/conv_channels.hpp) runs the direct convolution instead: the same
// bits, no im2col. With an epilogue (inference: core/conv_epilogue.hpp), each image's output goes
// through it as soon as it is written; ValueError with saved_cols too.
void conv2d_forward(const float* x, const float* weight, const float* bias, const Im2colShape& shape, int64_t O,
                    float* out, float* saved_cols, const ConvEpilogue* epilogue = nullptr);

// dout (B,O,OH,OW) -> dx (B,C,H,W), dweight (O, CKK), dbias (O), each null when not wanted (all
// overwritten). dweight reads cols (conv2d_forward's saved_cols) or, when cols is null, rebuilds
// them from x; dx reads weight (O, CKK).
void conv2d_backward(const float* dout, const float* x, const float* cols, const float* weight,
                     const Im2colShape& shape, int64_t O, float* dx, float* dweight, float* dbias);

}  // namespace proact::core
