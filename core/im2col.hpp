// im2col / col2im: the data movement that turns a 2-D convolution into one GEMM.
//
// A convolution of an image batch (B,C,H,W) with a (KH,KW) kernel, zero padding `padding` on all
// four sides and step `stride`, has OH x OW output positions per image:
//
//   OH = (H + 2*padding - KH) / stride + 1        OW = (W + 2*padding - KW) / stride + 1
//
// im2col lays every receptive field out as one column of a matrix with the batch folded into the
// columns, so that out (O, B*OH*OW) = weight (O, C*KH*KW) x cols (C*KH*KW, B*OH*OW):
//
//   cols[(c*KH + kh)*KW + kw][b*OH*OW + oh*OW + ow] = image[b][c][oh*stride - padding + kh][ow*stride - padding + kw]
//
// (zero where that pixel lies in the padding). col2im is its adjoint: every image pixel receives the
// sum of all column entries that were read from it.
//
// Both run in parallel over the B*C (image, channel) planes: each plane owns disjoint rows/columns of
// `cols` and a disjoint part of the image, and within a plane the order of work is fixed, so the
// results do not depend on the thread count. Called from inside a parallel region (conv2d hands
// each thread a group of images), they run on the calling thread alone.
#pragma once

#include <cstdint>
#include <vector>

#include "core/sgemm.hpp"

namespace proact::core {

// The sizes of one convolution's im2col; named once and used by both directions.
struct Im2colShape {
    int64_t batch = 0;     // B
    int64_t channels = 0;  // C
    int64_t height = 0;    // H
    int64_t width = 0;     // W
    int64_t kernel_h = 0;  // KH
    int64_t kernel_w = 0;  // KW
    int64_t stride = 1;    // >= 1, the same along H and W
    int64_t padding = 0;   // >= 0 zero rows/columns on every side

    int64_t out_h() const { return (height + 2 * padding - kernel_h) / stride + 1; }
    int64_t out_w() const { return (width + 2 * padding - kernel_w) / stride + 1; }
    int64_t col_rows() const { return channels * kernel_h * kernel_w; }   // C*KH*KW
    int64_t col_cols() const { return batch * out_h() * out_w(); }        // B*OH*OW
};

// image is (B,C,H,W) contiguous; cols is (C*KH*KW, B*OH*OW) contiguous and is fully overwritten.
// The caller guarantees OH >= 1 and OW >= 1.
void im2col(const float* image, const Im2colShape& shape, float* cols);

// The same columns as a GEMM operand made on demand (core/sgemm.hpp's GemmBSource): each block of
// rows and columns the GEMM asks for is read from the image straight into its packed panels, so
// the (C*KH*KW, B*OH*OW) matrix is never written out and read back. The values are im2col's, so
// sgemm_from_source(O, columns, CKK, weight, CKK, source.operand(), ...) gives the bits of im2col
// followed by sgemm. Holds a table of C-independent offsets, (KH*KW, OH*OW) entries: for planes
// whose output fits kIm2colSourceMaxPlane positions. image must outlive the source.
inline constexpr int64_t kIm2colSourceMaxPlane = 4096;
class Im2colSource {
public:
    Im2colSource(const float* image, const Im2colShape& shape);  // ValueError if the plane is too large
    // The columns from column first_column on (the first image of a group times OH*OW).
    GemmBSource operand(int64_t first_column = 0) const { return {&pack, this, first_column}; }

private:
    static void pack(const void* self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* dst);
    const float* image_;
    Im2colShape shape_;
    std::vector<int64_t> sources_;  // (KH*KW, OH*OW): input offset in the plane, or -1 (padding)
};

// cols is (C*KH*KW, B*OH*OW) contiguous; image is (B,C,H,W) contiguous and is overwritten with the
// adjoint of im2col: image[b][c][h][w] = sum of the column entries that im2col reads from it.
void col2im(const float* cols, const Im2colShape& shape, float* image);

}  // namespace proact::core
