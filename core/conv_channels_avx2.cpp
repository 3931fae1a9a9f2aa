// The channel-subset convolution's kernel for the avx2 GEMM kernel set (compiled with -mavx2
// -mfma, without AVX-512; called only on a CPU that has them): stride 1 through a register-blocked
// kernel, other strides through the reference loop with FMAs.
//
// 16 ymm registers: a block is CH output channels x NV vectors of 8 positions, CH*NV accumulators
// + NV input vectors + 1 broadcast weight; whole blocks are 4 channels x 3 vectors, as the avx2
// GEMM's 4 x 24 sub-tile (12 + 3 + 1: per tap 3 loads + 4 broadcasts feed 12 FMAs). Measured
// (bench_conv direct, 1 thread, forced avx2, best of 5 interleaved runs) against 6 x 2, 8 x 1,
// 5 x 2, 2 x 5 and 3 x 4 blocks: 4 x 3 and 6 x 2 within 5% of each other everywhere and ahead of
// the rest (8 x 1 0.7-0.9x, 3 x 4 spills and runs at 0.4-0.9x); 6-channel 1-vector blocks for
// the last positions took ResNet-20's 64-channel 8x8 stage from 0.99x to 1.03x of im2col + GEMM
// (12-channel ones to 0.84x).
#include <algorithm>
#include <cstdint>

#include <immintrin.h>

#include "core/conv_channels_kernels.hpp"

namespace proact::core::conv_channels_detail {

namespace {

// Vector v (of NV) of a block at `at`: the last one under `last` when MASKED.
template <int NV, bool MASKED>
inline __m256 load_vector(const float* at, int v, __m256i last) {
    return MASKED && v == NV - 1 ? _mm256_maskload_ps(at, last) : _mm256_loadu_ps(at);
}

// CH channels x NV vectors at flat positions [i0, i0 + lanes) of total (CH, acc_size), lanes in
// (8*(NV-1), 8*NV]; with MASKED the last vector covers lanes - 8*(NV-1) < 8 of them, read and
// written under `last` (loads of the lanes outside give 0, which no stored lane uses). All taps of
// each K slice: a product for the first, FMAs for the next, the slice added to total, as the
// reference loop (conv_channels_kernels.hpp) does per element.
template <int CH, int NV, bool MASKED>
void block_at(const float* padded, const int64_t* offsets, int64_t K, int64_t slice, const float* const* w_rows,
              int64_t acc_size, float* total, int64_t i0, __m256i last) {
    for (int64_t k0 = 0; k0 < K; k0 += slice) {
        const int64_t k1 = std::min(K, k0 + slice);
        __m256 acc[CH][NV];
        {
            const float* src = padded + offsets[k0] + i0;
            __m256 x[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) x[v] = load_vector<NV, MASKED>(src + 8 * v, v, last);
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
                __m256 loaded = load_vector<NV, MASKED>(src + 8 * v, v, last);
                // in a register: left to itself GCC may fold the load into each of the CH FMAs (and
                // pinning x[v] itself kept a dead copy of it on the stack)
                __asm__("" : "+x"(loaded));
                x[v] = loaded;
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
                const __m256 sum = k0 == 0 ? acc[c][v] : _mm256_add_ps(load_vector<NV, MASKED>(at, v, last), acc[c][v]);
                if (MASKED && v == NV - 1)
                    _mm256_maskstore_ps(at, last, sum);
                else
                    _mm256_storeu_ps(at, sum);
            }
    }
}

using BlockAt = void (*)(const float*, const int64_t*, int64_t, int64_t, const float* const*, int64_t, float*, int64_t,
                         __m256i);

// Channels per block of `vectors` vectors: 12 accumulators at most (+ vectors inputs + 1 weight),
// 6 for 1 vector (measured faster than 12, see the top of this file).
constexpr int max_channels(int vectors) { return vectors == 1 ? 6 : 12 / vectors; }

// block_at<channels, NV, MASKED>, channels in 1..max_channels(NV).
template <int NV, bool MASKED, int CH = 1>
BlockAt block_for(int channels) {
    if constexpr (CH == max_channels(NV))
        return block_at<CH, NV, MASKED>;
    else
        return channels == CH ? block_at<CH, NV, MASKED> : block_for<NV, MASKED, CH + 1>(channels);
}

// total (count, acc_size): whole blocks of 4 channels x 3 vectors (24 positions); the last
// positions (fewer than 24) in blocks of as many vectors as they need, the last one masked if
// partial, and max_channels(vectors) channels, so that a 1-vector tail still feeds 6 FMAs per tap.
constexpr int kWholeVectors = 3;

void direct_conv(const float* padded, const int64_t* offsets, int64_t K, int64_t slice, const float* const* w_rows,
                 int64_t count, int64_t acc_size, float* total) {
    constexpr int64_t width = 8 * kWholeVectors;
    constexpr int whole_channels = max_channels(kWholeVectors);
    const int64_t whole = acc_size / width * width;
    if (whole > 0)
        for (int64_t j0 = 0; j0 < count; j0 += whole_channels) {
            const int channels = static_cast<int>(std::min<int64_t>(whole_channels, count - j0));
            const BlockAt block = block_for<kWholeVectors, false>(channels);
            for (int64_t i0 = 0; i0 < whole; i0 += width)
                block(padded, offsets, K, slice, w_rows + j0, acc_size, total + j0 * acc_size, i0, __m256i());
        }
    const int64_t lanes = acc_size - whole;
    if (lanes == 0) return;
    const int vectors = static_cast<int>((lanes + 7) / 8);
    const int64_t tail = lanes - 8 * (vectors - 1);  // lanes of the last vector, 1..8
    const __m256i last =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(tail)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const bool masked = tail < 8;
    for (int64_t j0 = 0; j0 < count; j0 += max_channels(vectors)) {
        const int channels = static_cast<int>(std::min<int64_t>(max_channels(vectors), count - j0));
        BlockAt block = nullptr;
        switch (vectors) {
            case 1: block = masked ? block_for<1, true>(channels) : block_for<1, false>(channels); break;
            case 2: block = masked ? block_for<2, true>(channels) : block_for<2, false>(channels); break;
            default: block = masked ? block_for<3, true>(channels) : block_for<3, false>(channels); break;
        }
        block(padded, offsets, K, slice, w_rows + j0, acc_size, total + j0 * acc_size, whole, last);
    }
}

}  // namespace

void channel_sums_avx2(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count, float* total,
                       float* partial) {
    if (!g.flat) {
        reference_channels<FusedMultiplyAdd>(g, padded, w_rows, count, total, partial);
        return;
    }
    direct_conv(padded, g.offsets, g.K, g.slice, w_rows, count, g.acc_size, total);
}

void input_grad_sums_avx2(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                          float* out) {
    reference_input_grad<FusedMultiplyAdd>(g, dout, w_rows, count, out);
}

}  // namespace proact::core::conv_channels_detail
