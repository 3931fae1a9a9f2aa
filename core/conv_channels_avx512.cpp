// The channel-subset convolution's kernel for the avx512 GEMM kernel set (compiled with -mavx512f
// -mavx2 -mfma; called only on a CPU that has them): stride 1 through a register-blocked kernel,
// other strides through the reference loop with FMAs; and the input gradient's kernel
// (InputGradGeometry) on the same block driver, per tap a chain over the output channels.
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

// CH channels (from j0) x 16*NV positions from i0 (the first `lanes` of them real, the others
// masked): all taps of each K slice, the slice added to total, as the reference loop does per
// element (conv_channels_kernels.hpp). Each loaded input vector feeds CH FMAs.
template <int CH, int NV>
struct ForwardBlock {
    [[gnu::always_inline]] static inline void run(const ForwardSweep& s, int64_t j0, int64_t i0, int64_t lanes) {
        __mmask16 mask[NV];
        block_masks<NV>(lanes, mask);
        float* total = s.total + j0 * s.acc_size + i0;
        for (int64_t k0 = 0; k0 < s.K; k0 += s.slice) {
            __m512 acc[CH][NV];
            chain<CH, NV>(s.padded + i0, s.offsets, k0, std::min(s.K, k0 + s.slice), s.w_rows + j0, mask, acc);
            if (k0 == 0)
                add_block<CH, NV, true>(acc, mask, total, s.acc_size);
            else
                add_block<CH, NV, false>(acc, mask, total, s.acc_size);
        }
    }
};

// The input gradient's block: per tap the chain over o in registers, then added to the block in
// out (L1-resident) in col2im's order, the first tap to +0, as reference_input_grad does per
// element.
template <int CH, int NV>
struct InputGradBlock {
    [[gnu::always_inline]] static inline void run(const InputGradSweep& s, int64_t j0, int64_t i0, int64_t lanes) {
        __mmask16 mask[NV];
        block_masks<NV>(lanes, mask);
        float* out = s.out + j0 * s.g.span + i0;
        for (int64_t t = 0; t < s.g.taps; ++t) {
            __m512 acc[CH][NV];
            chain<CH, NV>(s.dout + s.g.shifts[t] + i0, s.g.offsets, 0, s.g.O, s.w_rows + t * s.count + j0, mask, acc);
            if (t == 0) {
#pragma GCC unroll 8
                for (int c = 0; c < CH; ++c)
#pragma GCC unroll 8
                    for (int v = 0; v < NV; ++v) acc[c][v] = _mm512_add_ps(_mm512_setzero_ps(), acc[c][v]);
                add_block<CH, NV, true>(acc, mask, out, s.g.span);
            } else {
                add_block<CH, NV, false>(acc, mask, out, s.g.span);
            }
        }
    }
};

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

// Block<CH, NV> over all `positions` for the channels from j0, 16*NV at a time, the last under
// masks (the block inlined: as a call per block the sweep measured 3-7% slower).
template <template <int, int> class Block, class Sweep, int CH, int NV>
void sweep_positions(const Sweep& s, int64_t j0, int64_t positions) {
    for (int64_t i0 = 0; i0 < positions; i0 += 16 * NV) Block<CH, NV>::run(s, j0, i0, positions - i0);
}

// ... at the width direct_block_vectors chooses, up to MAX_NV vectors.
template <template <int, int> class Block, class Sweep, int CH, int MAX_NV>
void sweep_channels(const Sweep& s, int64_t j0, int64_t positions) {
    switch (direct_block_vectors(positions, CH, MAX_NV)) {
        case 1: sweep_positions<Block, Sweep, CH, 1>(s, j0, positions); break;
        case 2: sweep_positions<Block, Sweep, CH, 2>(s, j0, positions); break;
        case 3: sweep_positions<Block, Sweep, CH, 3>(s, j0, positions); break;
        default:
            if constexpr (MAX_NV >= 4) sweep_positions<Block, Sweep, CH, 4>(s, j0, positions);
            break;
    }
}

// count channels x `positions` flat positions: blocks of 8 channels up to 3 vectors (24
// accumulators + 3 input vectors + 1 weight: 28 of the 32 zmm, as many FMAs per loaded input vector
// as the GEMM's 8 x 48 tile), the last channels in blocks of 4 or fewer up to 4 vectors (16
// accumulators).
template <template <int, int> class Block, class Sweep>
void sweep_blocks(const Sweep& s, int64_t count, int64_t positions) {
    int64_t j0 = 0;
    for (; j0 + 8 <= count; j0 += 8) sweep_channels<Block, Sweep, 8, 3>(s, j0, positions);
    for (; j0 < count; j0 += 4) {
        switch (std::min<int64_t>(4, count - j0)) {
            case 1: sweep_channels<Block, Sweep, 1, 4>(s, j0, positions); break;
            case 2: sweep_channels<Block, Sweep, 2, 4>(s, j0, positions); break;
            case 3: sweep_channels<Block, Sweep, 3, 4>(s, j0, positions); break;
            default: sweep_channels<Block, Sweep, 4, 4>(s, j0, positions); break;
        }
    }
}

// Rows [r0, r0 + live) of totalT, channels j0 .. j0 + 16*CV (lanes under cmask): P positions at a
// time in registers (the last block repeats its last row and stores only the live ones), per tap
// CV weight vectors loaded and P inputs broadcast, each feeding CV FMAs.
template <int CV, int P>
inline void vector_block(const Geometry& g, const float* padded, const float* wT, int64_t count, int64_t j0,
                         const __mmask16 (&cmask)[CV], const int64_t* positions, int64_t r0, int64_t live,
                         float* totalT) {
    const float* src[P];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) src[p] = padded + positions[r0 + std::min<int64_t>(p, live - 1)];
    for (int64_t k0 = 0; k0 < g.K; k0 += g.slice) {
        const int64_t k1 = std::min(g.K, k0 + g.slice);
        __m512 acc[P][CV];
        {
            __m512 w[CV];
#pragma GCC unroll 8
            for (int v = 0; v < CV; ++v) w[v] = _mm512_maskz_loadu_ps(cmask[v], wT + k0 * count + j0 + 16 * v);
            const int64_t offset = g.offsets[k0];
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
                const __m512 x = _mm512_set1_ps(src[p][offset]);
#pragma GCC unroll 8
                for (int v = 0; v < CV; ++v) acc[p][v] = _mm512_mul_ps(w[v], x);
            }
        }
        for (int64_t k = k0 + 1; k < k1; ++k) {
            __m512 w[CV];
#pragma GCC unroll 8
            for (int v = 0; v < CV; ++v) w[v] = _mm512_maskz_loadu_ps(cmask[v], wT + k * count + j0 + 16 * v);
            const int64_t offset = g.offsets[k];
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
                const __m512 x = _mm512_set1_ps(src[p][offset]);
#pragma GCC unroll 8
                for (int v = 0; v < CV; ++v) acc[p][v] = _mm512_fmadd_ps(w[v], x, acc[p][v]);
            }
        }
        // unrolled with a test inside: an index the compiler cannot see keeps acc on the stack
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
            for (int v = 0; v < CV; ++v) {
                if (p >= live) continue;
                float* at = totalT + (r0 + p) * count + j0 + 16 * v;
                const __m512 sum = k0 == 0 ? acc[p][v] : _mm512_add_ps(_mm512_maskz_loadu_ps(cmask[v], at), acc[p][v]);
                _mm512_mask_storeu_ps(at, cmask[v], sum);
            }
    }
}

// Every row for the channels from j0: CV vectors of channels, P positions per block (CV*P
// accumulators + CV weights + 1 broadcast input within the 32 zmm).
template <int CV, int P>
void vector_rows(const Geometry& g, const float* padded, const float* wT, int64_t count, int64_t j0,
                 const int64_t* positions, int64_t rows, float* totalT) {
    __mmask16 cmask[CV];
    block_masks<CV>(count - j0, cmask);
    for (int64_t r0 = 0; r0 < rows; r0 += P)
        vector_block<CV, P>(g, padded, wT, count, j0, cmask, positions, r0, std::min<int64_t>(P, rows - r0), totalT);
}

}  // namespace

void channel_vector_sums_avx512(const Geometry& g, const float* padded, const float* wT, int64_t count,
                                const int64_t* positions, int64_t rows, float* totalT) {
    for (int64_t j0 = 0; j0 < count; j0 += 64) {
        switch ((std::min<int64_t>(64, count - j0) + 15) / 16) {
            case 1: vector_rows<1, 12>(g, padded, wT, count, j0, positions, rows, totalT); break;
            case 2: vector_rows<2, 12>(g, padded, wT, count, j0, positions, rows, totalT); break;
            case 3: vector_rows<3, 8>(g, padded, wT, count, j0, positions, rows, totalT); break;
            default: vector_rows<4, 6>(g, padded, wT, count, j0, positions, rows, totalT); break;
        }
    }
}

void channel_sums_avx512(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count,
                         float* total, float* partial) {
    if (!g.flat) {
        reference_channels<FusedMultiplyAdd>(g, padded, w_rows, count, total, partial);
        return;
    }
    sweep_blocks<ForwardBlock>(ForwardSweep{padded, g.offsets, g.K, g.slice, w_rows, g.acc_size, total}, count,
                               g.acc_size);
}

void input_grad_sums_avx512(const InputGradGeometry& g, const float* dout, const float* const* w_rows, int64_t count,
                            float* out) {
    sweep_blocks<InputGradBlock>(InputGradSweep{g, dout, w_rows, count, out}, count, g.span);
}

}  // namespace proact::core::conv_channels_detail
