// The channel-subset convolution's kernel for the avx2 GEMM kernel set (compiled with -mavx2
// -mfma, without AVX-512; called only on a CPU that has them): stride 1 through a register-blocked
// kernel, other strides through the reference loop with FMAs; and the input gradient's kernel
// (InputGradGeometry) on the same blocks, per tap a chain over the output channels.
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

// acc[c][v] = the chain over taps [k0, k1) of w_rows[c][k] * src[offsets[k] + 8v]: a product for
// k0, FMAs for the next taps; with MASKED the last vector loads under `last` (0 elsewhere).
template <int CH, int NV, bool MASKED>
inline void chain(const float* src, const int64_t* offsets, int64_t k0, int64_t k1, const float* const* w_rows,
                  __m256i last, __m256 (&acc)[CH][NV]) {
    {
        __m256 x[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) x[v] = load_vector<NV, MASKED>(src + offsets[k0] + 8 * v, v, last);
#pragma GCC unroll 8
        for (int c = 0; c < CH; ++c) {
            const __m256 w = _mm256_broadcast_ss(w_rows[c] + k0);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[c][v] = _mm256_mul_ps(w, x[v]);
        }
    }
    for (int64_t k = k0 + 1; k < k1; ++k) {
        __m256 x[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            __m256 loaded = load_vector<NV, MASKED>(src + offsets[k] + 8 * v, v, last);
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
}

// out[c][v] = acc[c][v] when first, else out + acc; the last vector under `last` when MASKED.
template <int CH, int NV, bool MASKED>
inline void add_block(const __m256 (&acc)[CH][NV], bool first, float* out, int64_t row_size, __m256i last) {
#pragma GCC unroll 8
    for (int c = 0; c < CH; ++c)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            float* at = out + c * row_size + 8 * v;
            const __m256 sum = first ? acc[c][v] : _mm256_add_ps(load_vector<NV, MASKED>(at, v, last), acc[c][v]);
            if (MASKED && v == NV - 1)
                _mm256_maskstore_ps(at, last, sum);
            else
                _mm256_storeu_ps(at, sum);
        }
}

// CH channels (from j0) x NV vectors at flat positions [i0, i0 + lanes), lanes in (8*(NV-1), 8*NV]:
// all taps of each K slice, the slice added to total, as the reference loop does per element.
template <int CH, int NV, bool MASKED>
struct ForwardBlock {
    static void run(const ForwardSweep& s, int64_t j0, int64_t i0, __m256i last) {
        for (int64_t k0 = 0; k0 < s.K; k0 += s.slice) {
            __m256 acc[CH][NV];
            chain<CH, NV, MASKED>(s.padded + i0, s.offsets, k0, std::min(s.K, k0 + s.slice), s.w_rows + j0, last, acc);
            add_block<CH, NV, MASKED>(acc, k0 == 0, s.total + j0 * s.acc_size + i0, s.acc_size, last);
        }
    }
};

// Per tap the chain over o, added to the block of out in col2im's order, the first to +0, as
// reference_input_grad does per element.
template <int CH, int NV, bool MASKED>
struct InputGradBlock {
    static void run(const InputGradSweep& s, int64_t j0, int64_t i0, __m256i last) {
        for (int64_t t = 0; t < s.g.taps; ++t) {
            __m256 acc[CH][NV];
            chain<CH, NV, MASKED>(s.dout + s.g.shifts[t] + i0, s.g.offsets, 0, s.g.O, s.w_rows + t * s.count + j0, last,
                                  acc);
            if (t == 0)
#pragma GCC unroll 8
                for (int c = 0; c < CH; ++c)
#pragma GCC unroll 8
                    for (int v = 0; v < NV; ++v) acc[c][v] = _mm256_add_ps(_mm256_setzero_ps(), acc[c][v]);
            add_block<CH, NV, MASKED>(acc, t == 0, s.out + j0 * s.g.span + i0, s.g.span, last);
        }
    }
};

// Channels per block of `vectors` vectors: 12 accumulators at most (+ vectors inputs + 1 weight),
// 6 for 1 vector (measured faster than 12, see the top of this file).
constexpr int max_channels(int vectors) { return vectors == 1 ? 6 : 12 / vectors; }

// Block<channels, NV, MASKED>::run, channels in 1..max_channels(NV).
template <template <int, int, bool> class Block, class Sweep, int NV, bool MASKED, int CH = 1>
auto block_for(int channels) -> void (*)(const Sweep&, int64_t, int64_t, __m256i) {
    if constexpr (CH == max_channels(NV))
        return Block<CH, NV, MASKED>::run;
    else
        return channels == CH ? Block<CH, NV, MASKED>::run : block_for<Block, Sweep, NV, MASKED, CH + 1>(channels);
}

// count channels x `positions` flat positions: whole blocks of 4 channels x 3 vectors (24
// positions); the last positions (fewer than 24) in blocks of as many vectors as they need, the
// last one masked if partial, and max_channels(vectors) channels, so that a 1-vector tail still
// feeds 6 FMAs per tap.
constexpr int kWholeVectors = 3;

template <template <int, int, bool> class Block, class Sweep>
void sweep_blocks(const Sweep& s, int64_t count, int64_t positions) {
    constexpr int64_t width = 8 * kWholeVectors;
    constexpr int whole_channels = max_channels(kWholeVectors);
    const int64_t whole = positions / width * width;
    if (whole > 0)
        for (int64_t j0 = 0; j0 < count; j0 += whole_channels) {
            const int channels = static_cast<int>(std::min<int64_t>(whole_channels, count - j0));
            const auto block = block_for<Block, Sweep, kWholeVectors, false>(channels);
            for (int64_t i0 = 0; i0 < whole; i0 += width) block(s, j0, i0, __m256i());
        }
    const int64_t lanes = positions - whole;
    if (lanes == 0) return;
    const int vectors = static_cast<int>((lanes + 7) / 8);
    const int64_t tail = lanes - 8 * (vectors - 1);  // lanes of the last vector, 1..8
    const __m256i last =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(tail)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const bool masked = tail < 8;
    for (int64_t j0 = 0; j0 < count; j0 += max_channels(vectors)) {
        const int channels = static_cast<int>(std::min<int64_t>(max_channels(vectors), count - j0));
        void (*block)(const Sweep&, int64_t, int64_t, __m256i) = nullptr;
        switch (vectors) {
            case 1:
                block = masked ? block_for<Block, Sweep, 1, true>(channels) : block_for<Block, Sweep, 1, false>(channels);
                break;
            case 2:
                block = masked ? block_for<Block, Sweep, 2, true>(channels) : block_for<Block, Sweep, 2, false>(channels);
                break;
            default:
                block = masked ? block_for<Block, Sweep, 3, true>(channels) : block_for<Block, Sweep, 3, false>(channels);
                break;
        }
        block(s, j0, whole, last);
    }
}

// The channel masks of CV vectors of 8 channels of which `lanes` are real.
template <int CV>
inline void channel_masks(int64_t lanes, __m256i (&mask)[CV]) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 8
    for (int v = 0; v < CV; ++v) {
        const int left = static_cast<int>(std::clamp<int64_t>(lanes - 8 * v, 0, 8));
        mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), index);
    }
}

// Rows [r0, r0 + live) of totalT, channels j0 .. j0 + 8*CV (lanes under cmask): P positions at a
// time in registers (the last block repeats its last row and stores only the live ones), per tap
// CV weight vectors loaded and P inputs broadcast, each feeding CV FMAs.
template <int CV, int P>
inline void vector_block(const Geometry& g, const float* padded, const float* wT, int64_t count, int64_t j0,
                         const __m256i (&cmask)[CV], const int64_t* positions, int64_t r0, int64_t live,
                         float* totalT) {
    const float* src[P];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) src[p] = padded + positions[r0 + std::min<int64_t>(p, live - 1)];
    for (int64_t k0 = 0; k0 < g.K; k0 += g.slice) {
        const int64_t k1 = std::min(g.K, k0 + g.slice);
        __m256 acc[P][CV];
        {
            __m256 w[CV];
#pragma GCC unroll 8
            for (int v = 0; v < CV; ++v) w[v] = _mm256_maskload_ps(wT + k0 * count + j0 + 8 * v, cmask[v]);
            const int64_t offset = g.offsets[k0];
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
                const __m256 x = _mm256_broadcast_ss(src[p] + offset);
#pragma GCC unroll 8
                for (int v = 0; v < CV; ++v) acc[p][v] = _mm256_mul_ps(w[v], x);
            }
        }
        for (int64_t k = k0 + 1; k < k1; ++k) {
            __m256 w[CV];
#pragma GCC unroll 8
            for (int v = 0; v < CV; ++v) w[v] = _mm256_maskload_ps(wT + k * count + j0 + 8 * v, cmask[v]);
            const int64_t offset = g.offsets[k];
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
                const __m256 x = _mm256_broadcast_ss(src[p] + offset);
#pragma GCC unroll 8
                for (int v = 0; v < CV; ++v) acc[p][v] = _mm256_fmadd_ps(w[v], x, acc[p][v]);
            }
        }
        // unrolled with a test inside: an index the compiler cannot see keeps acc on the stack
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
            for (int v = 0; v < CV; ++v) {
                if (p >= live) continue;
                float* at = totalT + (r0 + p) * count + j0 + 8 * v;
                const __m256 sum = k0 == 0 ? acc[p][v] : _mm256_add_ps(_mm256_maskload_ps(at, cmask[v]), acc[p][v]);
                _mm256_maskstore_ps(at, cmask[v], sum);
            }
    }
}

// Every row for the channels from j0: CV vectors of channels, P positions per block (CV*P
// accumulators + CV weights + 1 broadcast input within the 16 ymm).
template <int CV, int P>
void vector_rows(const Geometry& g, const float* padded, const float* wT, int64_t count, int64_t j0,
                 const int64_t* positions, int64_t rows, float* totalT) {
    __m256i cmask[CV];
    channel_masks<CV>(count - j0, cmask);
    for (int64_t r0 = 0; r0 < rows; r0 += P)
        vector_block<CV, P>(g, padded, wT, count, j0, cmask, positions, r0, std::min<int64_t>(P, rows - r0), totalT);
}

}  // namespace

void channel_vector_sums_avx2(const Geometry& g, const float* padded, const float* wT, int64_t count,
                              const int64_t* positions, int64_t rows, float* totalT) {
    for (int64_t j0 = 0; j0 < count; j0 += 16) {
        if (count - j0 > 8)
            vector_rows<2, 6>(g, padded, wT, count, j0, positions, rows, totalT);
        else
            vector_rows<1, 12>(g, padded, wT, count, j0, positions, rows, totalT);
    }
}

void channel_sums_avx2(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count, float* total,
                       float* partial) {
    if (!g.flat) {
        reference_channels<FusedMultiplyAdd>(g, padded, w_rows, count, total, partial);
        return;
    }
    sweep_blocks<ForwardBlock>(ForwardSweep{padded, g.offsets, g.K, g.slice, w_rows, g.acc_size, total}, count,
                               g.acc_size);
}

void input_grad_sums_avx2(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                          float* out) {
    sweep_blocks<InputGradBlock>(InputGradSweep{g, dout, w_rows, count, out}, count, g.span);
}

}  // namespace proact::core::conv_channels_detail
