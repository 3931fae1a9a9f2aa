// The AVX-512 kernel set of core::sgemm (compiled with -mavx512f -mavx2 -mfma; called only on a CPU
// that has them, see sgemm.cpp): an 8 x 48 register tile (24 zmm accumulators) and the
// dot-product path for small A x B^T with long K. Per k of the 8 x 48 tile, 3 B vectors and 8
// broadcasts feed 24 FMAs.
#include <algorithm>
#include <cstdint>

#include <immintrin.h>

#include "core/sgemm_block.hpp"
#include "core/sgemm_dot.hpp"
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
// The dot-product path's kernel (sgemm_dot.hpp): the 16 lanes of an element in one zmm.

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

// 6 A rows x 4 B rows = 24 accumulators + 6 A vectors + 1 B.
struct Avx512DotFamily {
    static constexpr int kRowsA = 6, kRowsB = 4;
    template <int RA, int RB>
    static constexpr DotKernel kernel = dot_kernel<RA, RB>;
};

}  // namespace

const KernelSet kAvx512Kernels = {gemm_block<KernelTableOf<Avx512Family>::table>, dot_nt<Avx512DotFamily>};

}  // namespace proact::core::sgemm_detail
