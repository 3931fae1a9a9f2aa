// The channel-subset convolution's kernel for the avx2 GEMM kernel set (compiled with -mavx2
// -mfma, without AVX-512; called only on a CPU that has them): stride 1 through a register-blocked
// kernel, other strides through the reference loop with FMAs.
//
// 16 ymm registers: a block is CH output channels x NV vectors of 8 positions, CH*NV accumulators
// + NV input vectors + 1 broadcast weight, as the avx2 GEMM's 4 x 24 sub-tile (12 + 3 + 1).
#include <algorithm>
#include <cstdint>

#include <immintrin.h>

#include "core/conv_channels_kernels.hpp"

namespace proact::core::conv_channels_detail {

namespace {

// Block shape, chosen by bench_conv's direct section (1 thread, forced avx2): see channel_sums_avx2.
constexpr int kBlockChannels = 4;
constexpr int kBlockVectors = 3;

// CH channels x NV vectors at flat positions [i0, i0 + lanes) of total (CH, acc_size), lanes in
// (8*(NV-1), 8*NV]; with MASKED the last vector covers lanes - 8*(NV-1) < 8 of them, read and
// written under `last` (loads of the lanes outside give 0, which no stored lane uses). All taps of
// each K slice: a product for the first, FMAs for the next, the slice added to total, as the
// reference loop (conv_channels_kernels.hpp) does per element.
template <int CH, int NV, bool MASKED>
void block_at(const float* padded, const int64_t* offsets, int64_t K, int64_t slice, const float* const* w_rows,
              int64_t acc_size, float* total, int64_t i0, __m256i last) {
    const auto load = [last](const float* at, int v) {
        return MASKED && v == NV - 1 ? _mm256_maskload_ps(at, last) : _mm256_loadu_ps(at);
    };
    for (int64_t k0 = 0; k0 < K; k0 += slice) {
        const int64_t k1 = std::min(K, k0 + slice);
        __m256 acc[CH][NV];
        {
            const float* src = padded + offsets[k0] + i0;
            __m256 x[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) x[v] = load(src + 8 * v, v);
#pragma GCC unroll 8
            for (int c = 0; c < CH; ++c) {
                const __m256 w = _mm256_broadcast_ss(w_rows[c] + k0);
#pragma GCC unroll 8
                for (int v = 0; v < NV; ++v) acc[c][v] = _mm256_mul_ps(w, x[v]);
            }
        }
        for (int64_t k = k0 + 1; k < k1; ++k) {
            const float* src = padded + offsets[k] + i0;
            __m256 x[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) {
                x[v] = load(src + 8 * v, v);
                // in a register: left to itself GCC may fold the load into each of the CH FMAs
                __asm__("" : "+x"(x[v]));
            }
#pragma GCC unroll 8
            for (int c = 0; c < CH; ++c) {
                const __m256 w = _mm256_broadcast_ss(w_rows[c] + k);
#pragma GCC unroll 8
                for (int v = 0; v < NV; ++v) acc[c][v] = _mm256_fmadd_ps(w, x[v], acc[c][v]);
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < CH; ++c)
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) {
                float* at = total + c * acc_size + i0 + 8 * v;
                const __m256 sum = k0 == 0 ? acc[c][v] : _mm256_add_ps(load(at, v), acc[c][v]);
                if (MASKED && v == NV - 1)
                    _mm256_maskstore_ps(at, last, sum);
                else
                    _mm256_storeu_ps(at, sum);
            }
    }
}

using BlockAt = void (*)(const float*, const int64_t*, int64_t, int64_t, const float* const*, int64_t, float*, int64_t,
                         __m256i);

template <int CH, bool MASKED>
constexpr BlockAt blocks_for_channels[kBlockVectors] = {block_at<CH, 1, MASKED>, block_at<CH, 2, MASKED>,
                                                        block_at<CH, 3, MASKED>};
// blocks[masked][channels-1][vectors-1]
constexpr const BlockAt* blocks[2][kBlockChannels] = {
    {blocks_for_channels<1, false>, blocks_for_channels<2, false>, blocks_for_channels<3, false>,
     blocks_for_channels<4, false>},
    {blocks_for_channels<1, true>, blocks_for_channels<2, true>, blocks_for_channels<3, true>,
     blocks_for_channels<4, true>}};

// `channels` (1..kBlockChannels) output channels over all acc_size positions: whole blocks of
// kBlockVectors vectors, then one block of as many vectors as the rest needs, its last one masked
// if partial.
void direct_conv_block(int channels, const float* padded, const int64_t* offsets, int64_t K, int64_t slice,
                       const float* const* w_rows, int64_t acc_size, float* total) {
    constexpr int64_t width = 8 * kBlockVectors;
    const __m256i all = _mm256_set1_epi32(-1);
    int64_t i0 = 0;
    const BlockAt whole = blocks[0][channels - 1][kBlockVectors - 1];
    for (; i0 + width <= acc_size; i0 += width) whole(padded, offsets, K, slice, w_rows, acc_size, total, i0, all);
    const int64_t lanes = acc_size - i0;
    if (lanes == 0) return;
    const int64_t vectors = (lanes + 7) / 8;
    const int64_t tail = lanes - 8 * (vectors - 1);  // lanes of the last vector, 1..8
    const __m256i last =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(tail)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    blocks[tail < 8][channels - 1][vectors - 1](padded, offsets, K, slice, w_rows, acc_size, total, i0, last);
}

}  // namespace

void channel_sums_avx2(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count, float* total,
                       float* partial) {
    if (!g.flat) {
        reference_channels<FusedMultiplyAdd>(g, padded, w_rows, count, total, partial);
        return;
    }
    for (int64_t j0 = 0; j0 < count; j0 += kBlockChannels) {
        const int channels = static_cast<int>(std::min<int64_t>(kBlockChannels, count - j0));
        direct_conv_block(channels, padded, g.offsets, g.K, g.slice, w_rows + j0, g.acc_size, total + j0 * g.acc_size);
    }
}

}  // namespace proact::core::conv_channels_detail
