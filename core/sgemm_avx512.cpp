// The AVX-512 kernel set of core::sgemm (compiled with -mavx512f -mavx2 -mfma; called only on a CPU
// that has them, see sgemm.cpp): an 8 x 48 register tile (24 zmm accumulators) and the
// dot-product path for small A x B^T with long K. Per k of the 8 x 48 tile, 3 B vectors and 8
// broadcasts feed 24 FMAs.
#include <algorithm>
#include <cstdint>

#include <immintrin.h>

#include "core/sgemm_block.hpp"
#include "core/sgemm_kernels.hpp"

namespace proact::core::sgemm_detail {

namespace {

template <int ROWS, int NV>
void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t b_stride,
                 float* __restrict c, int64_t ldc, float alpha, float beta, int64_t cols) {
    // The C tile is read after the k loop: start fetching it now, so that a tile evicted from L1
    // (large C, or a C row stride that aliases in L1) does not stall the stores.
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + v * kLanes), _MM_HINT_T0);
    const int64_t last_lanes = cols - (NV - 1) * kLanes;  // in [1, 16]
    const __mmask16 last = last_lanes >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << last_lanes) - 1u);
    // k = 0 peeled (products, not FMAs into zero): the accumulators then never need a memory home
    __m512 acc[ROWS][NV];
    {
        __m512 bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
            bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, b + v * kLanes) : _mm512_loadu_ps(b + v * kLanes);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; ++r) {
            const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_mul_ps(av, bv[v]);
        }
    }
    for (int64_t k = 1; k < kc; ++k) {
        a += MR;
        b += b_stride;
        __m512 bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
            bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, b + v * kLanes) : _mm512_loadu_ps(b + v * kLanes);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; ++r) {
            const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    // alpha * x == x for alpha == 1: skipping the product changes no bit. (acc is only read from
    // here on: writing it back under a condition would make GCC keep it in memory.)
    const bool scale = alpha != 1.0f;
    const __m512 alpha_v = _mm512_set1_ps(alpha), beta_v = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
        float* row = c + r * ldc;
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            const __mmask16 mask = v == NV - 1 ? last : __mmask16(0xFFFF);
            __m512 out = scale ? _mm512_mul_ps(alpha_v, acc[r][v]) : acc[r][v];
            if (beta != 0.0f) out = _mm512_fmadd_ps(beta_v, _mm512_maskz_loadu_ps(mask, row + v * kLanes), out);
            _mm512_mask_storeu_ps(row + v * kLanes, mask, out);
        }
    }
}

struct Avx512Family {
    template <int ROWS, int NV>
    static constexpr Microkernel kernel = microkernel<ROWS, NV>;
};

// ---------------------------------------------------------------------------------------------
// Dot-product path for A (M,K) x B (N,K)^T with a small C and a long K (conv weight gradients:
// dout (O, B*OH*OW) x cols (C*k*k, B*OH*OW)^T). Rows of both operands are contiguous along K, so
// each C element is a dot product of two rows: no packing, no transposes (which would cost more
// than the FMAs here). Lane-wise partial sums live in `wide` (M, N, 16) and are reduced at the end.

constexpr int64_t kDotRowsA = 6;  // 6 A rows x 4 B rows = 24 accumulators + 6 A vectors + 1 B
constexpr int64_t kDotRowsB = 4;
// K block: 16 A rows and 4 B rows of 256 floats = 20 KB stay in L1 across the inner loop.
constexpr int64_t kDotKBlock = 256;

// wide (RA, RB, 16) with row stride wide_ld += lane-wise a (RA, klen) . b (RB, klen), klen >= 1.
template <int RA, int RB>
void dot_kernel(int64_t klen, const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb,
                float* __restrict wide, int64_t wide_ld) {
    __m512 acc[RA][RB];
#pragma GCC unroll 8
    for (int i = 0; i < RA; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < RB; ++j) acc[i][j] = _mm512_loadu_ps(wide + i * wide_ld + j * kLanes);
    for (int64_t k = 0; k < klen; k += kLanes) {
        // the tail reads zeros past klen (masked: no read beyond the rows)
        const int64_t left = klen - k;
        const __mmask16 mask = left >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
        __m512 av[RA];
#pragma GCC unroll 8
        for (int i = 0; i < RA; ++i) av[i] = _mm512_maskz_loadu_ps(mask, a + i * lda + k);
#pragma GCC unroll 8
        for (int j = 0; j < RB; ++j) {
            const __m512 bv = _mm512_maskz_loadu_ps(mask, b + j * ldb + k);
#pragma GCC unroll 8
            for (int i = 0; i < RA; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < RA; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < RB; ++j) _mm512_storeu_ps(wide + i * wide_ld + j * kLanes, acc[i][j]);
}

using DotKernel = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t);
template <int RA>
constexpr DotKernel dot_kernels_for_rows[kDotRowsB] = {dot_kernel<RA, 1>, dot_kernel<RA, 2>, dot_kernel<RA, 3>,
                                                       dot_kernel<RA, 4>};
// dot_kernel_table[ra-1][rb-1]
constexpr const DotKernel* dot_kernel_table[kDotRowsA] = {dot_kernels_for_rows<1>, dot_kernels_for_rows<2>,
                                                          dot_kernels_for_rows<3>, dot_kernels_for_rows<4>,
                                                          dot_kernels_for_rows<5>, dot_kernels_for_rows<6>};

// out (M,N) dense = A (M,K) x B (N,K)^T, single-threaded; K >= 1.
void dot_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* out,
            float* wide) {
    std::fill(wide, wide + M * N * kLanes, 0.0f);
    const int64_t wide_ld = N * kLanes;
    for (int64_t kb = 0; kb < K; kb += kDotKBlock) {
        const int64_t klen = std::min(kDotKBlock, K - kb);
        for (int64_t j0 = 0; j0 < N; j0 += kDotRowsB) {
            const int64_t rb = std::min(kDotRowsB, N - j0);
            for (int64_t i0 = 0; i0 < M; i0 += kDotRowsA) {
                const int64_t ra = std::min(kDotRowsA, M - i0);
                dot_kernel_table[ra - 1][rb - 1](klen, A + i0 * lda + kb, lda, B + j0 * ldb + kb, ldb,
                                                 wide + i0 * wide_ld + j0 * kLanes, wide_ld);
            }
        }
    }
    // pairwise over the 16 lanes, in a fixed order (GCC 12's _mm512_reduce_add_ps trips
    // -Wmaybe-uninitialized in its own header)
    for (int64_t e = 0; e < M * N; ++e) {
        float lanes[kLanes];
        std::copy(wide + e * kLanes, wide + (e + 1) * kLanes, lanes);
        for (int64_t width = kLanes / 2; width >= 1; width /= 2)
            for (int64_t l = 0; l < width; ++l) lanes[l] += lanes[l + width];
        out[e] = lanes[0];
    }
}

}  // namespace

const KernelSet kAvx512Kernels = {gemm_block<KernelTableOf<Avx512Family>::table>, dot_nt};

}  // namespace proact::core::sgemm_detail
