// Internal to core/conv_channels*.cpp: the per-image kernels of the channel-subset convolution,
// one per GEMM kernel set, each in a file compiled for its ISA (see CMakeLists.txt), and the
// reference loop they share. Nothing here is for use outside core/conv_channels*.
#pragma once

#include <cmath>
#include <cstdint>

namespace proact::core::conv_channels_detail {

// One image's geometry. The input planes are padded (C, PH, PW). Stride 1 ("flat"): output
// (oh, ow) accumulates at oh*PW + ow, so tap k is one contiguous sweep of the planes shifted by
// offsets[k]; columns ow >= OW are computed and dropped, and the sweep ends at the last real
// output, acc_size = (OH-1)*PW + OW, so it never reads past the planes. Other strides: row by row
// into acc_size = OH*OW.
struct Geometry {
    int64_t K = 0;                     // taps, C*KH*KW
    int64_t slice = 0;                 // core::sgemm_k_slice(K)
    const int64_t* offsets = nullptr;  // (K): tap k = (c, kh, kw) at (c*PH + kh)*PW + kw
    bool flat = false;
    int64_t acc_size = 0;
    int64_t KH = 0, KW = 0, PH = 0, PW = 0, OH = 0, OW = 0, stride = 1;
};

// total (count, acc_size) = for each j the GEMM's chain over the taps of w_rows[j] (K floats),
// slices added in order; partial holds acc_size floats of scratch.
using ChannelSums = void (*)(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count,
                             float* total, float* partial);

void channel_sums_generic(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count,
                          float* total, float* partial);
void channel_sums_avx2(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count, float* total,
                       float* partial);
void channel_sums_avx512(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count,
                         float* total, float* partial);

// The same sums with the output channels in the vector lanes, for many channels on small planes
// (where channel_sums' blocks of positions are short and its padding columns a fifth of the work):
// totalT (rows, count), row r for the real output position positions[r] (a flat position
// oh*PW + ow: stride 1 only; the columns channel_sums computes and drops are skipped), lane j the
// chain over the taps of channel j with its weights read from wT (K, count) (the weights
// transposed: one tap's weights of 16 channels are one load), slices added in order. Per element
// the operations of channel_sums (FMA(w, x, acc) in the same order), so the same bits.
using ChannelVectorSums = void (*)(const Geometry& g, const float* padded, const float* wT, int64_t count,
                                   const int64_t* positions, int64_t rows, float* totalT);

void channel_vector_sums_avx2(const Geometry& g, const float* padded, const float* wT, int64_t count,
                              const int64_t* positions, int64_t rows, float* totalT);
void channel_vector_sums_avx512(const Geometry& g, const float* padded, const float* wT, int64_t count,
                                const int64_t* positions, int64_t rows, float* totalT);

// One image's input gradient at stride 1 (conv2d_backward_input_direct), in the bits of the GEMM
// dcols = weight^T x dout (K = O, one K slice) followed by col2im. The image's dout planes are
// padded by KH-1 rows and KW-1 columns of +0 on each side, (O, QH, QW); output position i of a
// sweep is input position (h, w) at i = h*QW + w, and tap t = (kh, kw) reads dout at
// i + shifts[t] + offsets[o]. Per position and input channel j: dx = +0, then for each tap in
// col2im's order dx += (the GEMM's chain over o of w_rows[t*count + j][o] * dout value). A tap
// whose dout position falls in the padding sums +0s and -0s: adding those leaves dx as it is (dx
// starts at +0 and a sum is never -0 unless both terms are), which is what col2im's skipping it
// gives, as long as no weight is Inf or NaN (Inf x 0 is NaN; the caller checks).
struct InputGradGeometry {
    int64_t O = 0;                     // chain length, at most one GEMM K slice (kSgemmKcMax)
    int64_t taps = 0;                  // KH*KW, in col2im's order (kh, then kw)
    const int64_t* shifts = nullptr;   // (taps): (KH-1-kh)*QW + (KW-1-kw)
    const int64_t* offsets = nullptr;  // (O): o*QH*QW
    int64_t span = 0;                  // positions swept: (H-1)*QW + W
};

// out (count, span): input channels [0, count) of one image; w_rows (taps*count) rows of O floats,
// row t*count + j for tap t and channel j; dout points at the padded planes' position of input
// (0, 0) (padding*QW + padding floats in).
using InputGradSums = void (*)(const InputGradGeometry& g, const float* dout, const float* const* w_rows,
                               int64_t count, float* out);

// The arguments of a whole sweep, as the ISA files' block drivers pass them to a block. The
// forward: total (count, acc_size) = for each channel the taps' chains, per K slice.
struct ForwardSweep {
    const float* padded;
    const int64_t* offsets;
    int64_t K, slice;
    const float* const* w_rows;
    int64_t acc_size;
    float* total;
};

// The input gradient (InputGradGeometry): out (count, span).
struct InputGradSweep {
    const InputGradGeometry& g;
    const float* dout;
    const float* const* w_rows;
    int64_t count;
    float* out;
};

void input_grad_sums_generic(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                             float* out);
void input_grad_sums_avx2(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                          float* out);
void input_grad_sums_avx512(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                            float* out);

namespace {

// One step of an element's chain on the avx512 / avx2 GEMM kernels: an FMA (an instruction in
// files compiled with -mfma).
struct FusedMultiplyAdd {
    static float apply(float w, float x, float acc) { return std::fma(w, x, acc); }
};
// ... and on the generic kernel: a rounded product, then a rounded sum (every file is compiled with
// -ffp-contract=off, see CMakeLists.txt).
struct SeparateMultiplyAdd {
    static float apply(float w, float x, float acc) { return acc + w * x; }
};

// The reference loop, one output channel: a product for the first tap of a slice, MultiplyAdd
// (w, x, acc) for each next one, slices added in order. Instantiated once per ISA file, under
// that file's flags (anonymous namespace: no copy built for one ISA links in place of another).
template <class MultiplyAdd>
void reference_channel(const Geometry& g, const float* padded, const float* w_row, float* channel_total,
                       float* partial) {
    float* __restrict acc = partial;
    for (int64_t k0 = 0; k0 < g.K; k0 += g.slice) {
        const int64_t k1 = k0 + g.slice < g.K ? k0 + g.slice : g.K;
        for (int64_t k = k0; k < k1; ++k) {
            const float w = w_row[k];
            if (g.flat) {
                const float* __restrict src = padded + g.offsets[k];
                if (k == k0) {
                    for (int64_t i = 0; i < g.acc_size; ++i) acc[i] = w * src[i];
                } else {
                    for (int64_t i = 0; i < g.acc_size; ++i) acc[i] = MultiplyAdd::apply(w, src[i], acc[i]);
                }
                continue;
            }
            const int64_t c = k / (g.KH * g.KW), kh = (k / g.KW) % g.KH, kw = k % g.KW;
            for (int64_t oh = 0; oh < g.OH; ++oh) {
                const float* src = padded + (c * g.PH + oh * g.stride + kh) * g.PW + kw;
                float* dst = acc + oh * g.OW;
                for (int64_t ow = 0; ow < g.OW; ++ow)
                    dst[ow] = k == k0 ? w * src[ow * g.stride] : MultiplyAdd::apply(w, src[ow * g.stride], dst[ow]);
            }
        }
        if (k0 == 0)
            for (int64_t i = 0; i < g.acc_size; ++i) channel_total[i] = acc[i];
        else
            for (int64_t i = 0; i < g.acc_size; ++i) channel_total[i] += acc[i];
    }
}

template <class MultiplyAdd>
void reference_channels(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count, float* total,
                        float* partial) {
    for (int64_t j = 0; j < count; ++j)
        reference_channel<MultiplyAdd>(g, padded, w_rows[j], total + j * g.acc_size, partial);
}

// The reference loop of the input gradient (InputGradGeometry), one position at a time.
template <class MultiplyAdd>
void reference_input_grad(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                          float* out) {
    for (int64_t j = 0; j < count; ++j)
        for (int64_t i = 0; i < g.span; ++i) {
            float dx = 0.0f;
            for (int64_t t = 0; t < g.taps; ++t) {
                const float* w = w_rows[t * count + j];
                const float* src = dout + i + g.shifts[t];
                float v = w[0] * src[g.offsets[0]];
                for (int64_t o = 1; o < g.O; ++o) v = MultiplyAdd::apply(w[o], src[g.offsets[o]], v);
                dx += v;
            }
            out[j * g.span + i] = dx;
        }
}

}  // namespace

}  // namespace proact::core::conv_channels_detail
