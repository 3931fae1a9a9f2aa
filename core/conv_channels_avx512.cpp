// The channel-subset convolution's kernel for the avx512 GEMM kernel set (compiled with -mavx512f
// -mavx2 -mfma; called only on a CPU that has them): stride 1 through a register-blocked kernel,
// other strides through the reference loop with FMAs.
#include <algorithm>
#include <cstdint>

#include <immintrin.h>

#include "core/conv_channels_kernels.hpp"

namespace proact::core::conv_channels_detail {

namespace {

// acc[c][v] = the chain over taps [k0, k1) of w_rows[c][k] * src[offsets[k] + 16v] (positions
// under mask[v]; the others load as 0): a product for k0, FMAs for the next taps.
template <int CH, int NV>
inline void chain(const float* src, const int64_t* offsets, int64_t k0, int64_t k1, const float* const* w_rows,
                  const __mmask16 (&mask)[NV], __m512 (&acc)[CH][NV]) {
    {
        __m512 x[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) x[v] = _mm512_maskz_loadu_ps(mask[v], src + offsets[k0] + 16 * v);
#pragma GCC unroll 8
        for (int c = 0; c < CH; ++c) {
            const __m512 w = _mm512_set1_ps(w_rows[c][k0]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[c][v] = _mm512_mul_ps(w, x[v]);
        }
    }
    for (int64_t k = k0 + 1; k < k1; ++k) {
        __m512 x[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) x[v] = _mm512_maskz_loadu_ps(mask[v], src + offsets[k] + 16 * v);
#pragma GCC unroll 8
        for (int c = 0; c < CH; ++c) {
            const __m512 w = _mm512_set1_ps(w_rows[c][k]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[c][v] = _mm512_fmadd_ps(w, x[v], acc[c][v]);
        }
    }
}

// The masks of a block of 16*NV positions of which `lanes` are real.
template <int NV>
inline void block_masks(int64_t lanes, __mmask16 (&mask)[NV]) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
        const int64_t left = std::clamp<int64_t>(lanes - 16 * v, 0, 16);
        mask[v] = left == 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    }
}

// out[c][v] (+)= acc[c][v] under the masks: out = acc when FIRST, else out + acc.
template <int CH, int NV, bool FIRST>
inline void add_block(const __m512 (&acc)[CH][NV], const __mmask16 (&mask)[NV], float* out, int64_t row_size) {
#pragma GCC unroll 8
    for (int c = 0; c < CH; ++c)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            float* at = out + c * row_size + 16 * v;
            const __m512 sum = FIRST ? acc[c][v] : _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], at), acc[c][v]);
            _mm512_mask_storeu_ps(at, mask[v], sum);
        }
}

// CH output channels of one image, stride 1, into total (CH, acc_size) at flat positions
// oh*PW + ow: 16*NV positions x CH channels in NV*CH registers, all taps of a K slice, each loaded
// input vector feeding CH FMAs. Per element the same operations in the same order as the
// reference loop (conv_channels_kernels.hpp).
template <int CH, int NV>
void direct_conv_block(const float* padded, const int64_t* offsets, int64_t K, int64_t slice,
                       const float* const* w_rows, int64_t acc_size, float* total) {
    constexpr int64_t width = 16 * NV;
    for (int64_t i0 = 0; i0 < acc_size; i0 += width) {
        __mmask16 mask[NV];
        block_masks<NV>(acc_size - i0, mask);
        for (int64_t k0 = 0; k0 < K; k0 += slice) {
            __m512 acc[CH][NV];
            chain<CH, NV>(padded + i0, offsets, k0, std::min(K, k0 + slice), w_rows, mask, acc);
            if (k0 == 0)
                add_block<CH, NV, true>(acc, mask, total + i0, acc_size);
            else
                add_block<CH, NV, false>(acc, mask, total + i0, acc_size);
        }
    }
}

// CH input channels of one image's input gradient (InputGradGeometry) into out (CH, span), 16*NV
// positions at a time: per tap the chain over o in registers, then added to the block in out
// (L1-resident) in col2im's order, the first tap to +0. Per element the operations of
// reference_input_grad.
template <int CH, int NV>
void input_grad_block(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                      float* out) {
    constexpr int64_t width = 16 * NV;
    for (int64_t i0 = 0; i0 < g.span; i0 += width) {
        __mmask16 mask[NV];
        block_masks<NV>(g.span - i0, mask);
        for (int64_t t = 0; t < g.taps; ++t) {
            __m512 acc[CH][NV];
            chain<CH, NV>(dout + g.shifts[t] + i0, g.offsets, 0, g.O, w_rows + t * count, mask, acc);
            if (t == 0) {
#pragma GCC unroll 8
                for (int c = 0; c < CH; ++c)
#pragma GCC unroll 8
                    for (int v = 0; v < NV; ++v) acc[c][v] = _mm512_add_ps(_mm512_setzero_ps(), acc[c][v]);
                add_block<CH, NV, true>(acc, mask, out + i0, g.span);
            } else {
                add_block<CH, NV, false>(acc, mask, out + i0, g.span);
            }
        }
    }
}

using DirectConvBlock = void (*)(const float*, const int64_t*, int64_t, int64_t, const float* const*, int64_t, float*);

// Blocks of up to 4 channels take up to 4 vectors (16 accumulators); blocks of 8 channels up to 3
// (24 accumulators + 3 input vectors + 1 weight: 28 of the 32 zmm), as many FMAs per loaded input
// vector as the GEMM's 8 x 48 tile. A whole convolution (conv2d_forward_direct) runs mostly on those.
template <int CH>
constexpr DirectConvBlock direct_blocks_for_channels[4] = {direct_conv_block<CH, 1>, direct_conv_block<CH, 2>,
                                                           direct_conv_block<CH, 3>, direct_conv_block<CH, 4>};
constexpr const DirectConvBlock* direct_blocks[4] = {direct_blocks_for_channels<1>, direct_blocks_for_channels<2>,
                                                     direct_blocks_for_channels<3>, direct_blocks_for_channels<4>};
constexpr DirectConvBlock direct_blocks_8[3] = {direct_conv_block<8, 1>, direct_conv_block<8, 2>,
                                                direct_conv_block<8, 3>};

// Vectors per block (1..max_vectors) for `channels`-channel blocks over `positions`: the fewest
// cycles by a model of a tap's work per block, max(channels*NV FMAs, NV + channels loads) on two
// FMA and two load ports, times the blocks; ties go to the wider block. Padding alone would pick
// 1-vector blocks for a 28x28 plane (53 vectors against 54), each load feeding 8 FMAs instead of
// 24 at 3 vectors: measured 1.1x slower on Fashion-MNIST's 16-channel layers.
int direct_block_vectors(int64_t positions, int channels, int max_vectors) {
    const auto cost = [&](int vectors) {
        const int64_t blocks = (positions + 16 * vectors - 1) / (16 * vectors);
        return blocks * std::max<int64_t>(int64_t(channels) * vectors, vectors + channels);
    };
    int best = max_vectors;
    for (int vectors = max_vectors - 1; vectors >= 1; --vectors)
        if (cost(vectors) < cost(best)) best = vectors;
    return best;
}

}  // namespace

void channel_sums_avx512(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count,
                         float* total, float* partial) {
    if (!g.flat) {
        reference_channels<FusedMultiplyAdd>(g, padded, w_rows, count, total, partial);
        return;
    }
    int64_t j0 = 0;
    const int vectors8 = direct_block_vectors(g.acc_size, 8, 3);
    for (; j0 + 8 <= count; j0 += 8)
        direct_blocks_8[vectors8 - 1](padded, g.offsets, g.K, g.slice, w_rows + j0, g.acc_size, total + j0 * g.acc_size);
    for (; j0 < count; j0 += 4) {
        const int64_t group = std::min<int64_t>(4, count - j0);
        const int vectors = direct_block_vectors(g.acc_size, static_cast<int>(group), 4);
        direct_blocks[group - 1][vectors - 1](padded, g.offsets, g.K, g.slice, w_rows + j0, g.acc_size,
                                              total + j0 * g.acc_size);
    }
}

// Blocks of 8 channels x 48 positions (24 accumulators), the last channels in blocks of 4 x 64 or
// fewer (as the forward's).
void input_grad_sums_avx512(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                            float* out) {
    using Block = void (*)(const InputGradGeometry&, const float*, const float* const*, int64_t, float*);
    static constexpr Block blocks_8[3] = {input_grad_block<8, 1>, input_grad_block<8, 2>, input_grad_block<8, 3>};
    static constexpr Block blocks[4][4] = {
        {input_grad_block<1, 1>, input_grad_block<1, 2>, input_grad_block<1, 3>, input_grad_block<1, 4>},
        {input_grad_block<2, 1>, input_grad_block<2, 2>, input_grad_block<2, 3>, input_grad_block<2, 4>},
        {input_grad_block<3, 1>, input_grad_block<3, 2>, input_grad_block<3, 3>, input_grad_block<3, 4>},
        {input_grad_block<4, 1>, input_grad_block<4, 2>, input_grad_block<4, 3>, input_grad_block<4, 4>}};
    int64_t j0 = 0;
    const int vectors8 = direct_block_vectors(g.span, 8, 3);
    for (; j0 + 8 <= count; j0 += 8) blocks_8[vectors8 - 1](g, dout, w_rows + j0, count, out + j0 * g.span);
    for (; j0 < count; j0 += 4) {
        const int64_t group = std::min<int64_t>(4, count - j0);
        const int vectors = direct_block_vectors(g.span, static_cast<int>(group), 4);
        blocks[group - 1][vectors - 1](g, dout, w_rows + j0, count, out + j0 * g.span);
    }
}

}  // namespace proact::core::conv_channels_detail
