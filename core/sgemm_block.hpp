// Internal to the per-ISA SGEMM files: packing and one thread's loop nest (gemm_block), included
// by each of core/sgemm_avx512.cpp, sgemm_avx2.cpp, sgemm_generic.cpp. Everything is in an
// anonymous namespace, so every file gets its own copy compiled with its own target flags (the
// __AVX2__ / __AVX512F__ branches below follow the including file's flags) and no symbol built for
// one ISA can be linked in place of another's. A file instantiates gemm_block with its own table
// of microkernels. Packing only moves data: it changes no bit of the result, whichever branch runs.
//
// Loop nest of one thread's block of C (sgemm.cpp has the whole picture):
//   jc (kNc columns) > pc (K slices of sgemm_k_slice(K)) > ic (kMc rows) > jr (NR) > ir (MR) > microkernel
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/sgemm_kernels.hpp"

// Microkernels. a is a packed A micro-panel (kc, MR); b holds the B micro-panel (kc, 16*NV) with
// row stride b_stride: a packed panel (stride NR) or op(B) itself (stride ldb, see gemm_block); c
// is the C tile (ROWS, cols) with row stride ldc, cols in (16*(NV-1), 16*NV]. Columns >= cols of b
// are never read (masked), so b may end at the edge of B.
//   C tile = alpha * (a^T b)[:ROWS, :cols] + beta * C tile     (C not read when beta == 0)
// ROWS x NV instances cover the edge tiles; all do the same operations per element in the same
// order. kc >= 1.

namespace proact::core::sgemm_detail {
namespace {

using Microkernel = void (*)(int64_t kc, const float* a, const float* b, int64_t b_stride, float* c, int64_t ldc,
                             float alpha, float beta, int64_t cols);
// kernel_table[rows-1][vectors-1]: the microkernel for a tile of `rows` rows and `vectors` * 16 columns.
using KernelTable = const Microkernel* const*;

// The table of a microkernel family: Family::kernel<ROWS, NV> for ROWS 1..MR, NV 1..kNV.
template <class Family>
struct KernelTableOf {
    template <int ROWS>
    static constexpr Microkernel for_rows[kNV] = {Family::template kernel<ROWS, 1>, Family::template kernel<ROWS, 2>,
                                                  Family::template kernel<ROWS, 3>};
    static constexpr const Microkernel* table[MR] = {for_rows<1>, for_rows<2>, for_rows<3>, for_rows<4>,
                                                     for_rows<5>, for_rows<6>, for_rows<7>, for_rows<8>};
    static_assert(kNV == 3 && MR == 8, "the table lists NV = 1..3, ROWS = 1..8");
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------------------------
// Packing. A packed panel of op(A) is (kc, MR): out[k*MR + r] = op(A)[r, k]; a packed panel of
// op(B) is (kc, NR): out[k*NR + j] = op(B)[k, j]. Slots past the last row / column are zeroed where
// that is free and never read by the kernels (which take `rows` and mask columns past `cols`).

#if defined(__AVX2__)
// dst[c*dst_ld + r] = src[r*ld + c] for an 8 x 8 block; rows >= rows read as zero.
inline void transpose_8x8(const float* src, int64_t ld, int64_t rows, float* dst, int64_t dst_ld) {
    __m256 r[8];
    for (int64_t i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * ld) : _mm256_setzero_ps();
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst + 0 * dst_ld, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * dst_ld, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * dst_ld, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * dst_ld, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * dst_ld, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * dst_ld, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * dst_ld, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * dst_ld, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#endif

// dst (kc, dst_ld) gets dst[k*dst_ld + r] = src[r*ld + k] for r < rows (rows <= 8 per group of 8,
// any rows overall): rows of src are contiguous along k. This is op(A) for !trans_a and op(B) for
// trans_b. Row slots in [rows, round_up(rows, 8)) are zeroed.
void pack_transposed(const float* src, int64_t ld, int64_t rows, int64_t kc, float* dst, int64_t dst_ld) {
    for (int64_t r0 = 0; r0 < rows; r0 += 8) {
        const int64_t group = std::min<int64_t>(8, rows - r0);
        const float* s = src + r0 * ld;
        float* d = dst + r0;
        int64_t k = 0;
#if defined(__AVX2__)
        for (; k + 8 <= kc; k += 8) transpose_8x8(s + k, ld, group, d + k * dst_ld, dst_ld);
#endif
        for (; k < kc; ++k)
            for (int64_t r = 0; r < 8; ++r) d[k * dst_ld + r] = r < group ? s[r * ld + k] : 0.0f;
    }
}

// dst (kc, dst_ld) gets dst[k*dst_ld + j] = src[k*ld + j] for j < cols, zero for j in
// [cols, width): rows of src are contiguous along the packed axis. op(A) for trans_a, op(B) for
// !trans_b.
void pack_direct(const float* src, int64_t ld, int64_t cols, int64_t width, int64_t kc, float* dst, int64_t dst_ld) {
#if defined(__AVX2__)
    if (width == 8 && cols == 8) {  // a full A panel for trans_a: one 8-float row per k
        for (int64_t k = 0; k < kc; ++k) _mm256_storeu_ps(dst + k * dst_ld, _mm256_loadu_ps(src + k * ld));
        return;
    }
#endif
#if defined(__AVX512F__)
    if (width % kLanes == 0) {
        const int64_t vectors = width / kLanes;
        for (int64_t k = 0; k < kc; ++k) {
            const float* s = src + k * ld;
            float* d = dst + k * dst_ld;
            for (int64_t v = 0; v < vectors; ++v) {
                const int64_t left = cols - v * kLanes;
                const __mmask16 mask = left >= kLanes ? __mmask16(0xFFFF)
                                       : left <= 0    ? __mmask16(0)
                                                      : __mmask16((1u << left) - 1u);
                _mm512_storeu_ps(d + v * kLanes, _mm512_maskz_loadu_ps(mask, s + v * kLanes));
            }
        }
        return;
    }
#endif
    for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * ld;
        float* d = dst + k * dst_ld;
        int64_t j = 0;
        for (; j < cols; ++j) d[j] = s[j];
        for (; j < width; ++j) d[j] = 0.0f;
    }
}

// One MR-row panel of op(A): rows [0, rows) of op(A) starting at `a`, K slice of length kc.
void pack_a_panel(bool trans_a, const float* a, int64_t lda, int64_t rows, int64_t kc, float* dst) {
    if (trans_a)
        pack_direct(a, lda, rows, MR, kc, dst, MR);  // A stored (K, M): a row of A is a k
    else
        pack_transposed(a, lda, rows, kc, dst, MR);
}

// One NR-column panel of op(B): columns [0, cols) of op(B) starting at `b`, K slice of length kc.
void pack_b_panel(bool trans_b, const float* b, int64_t ldb, int64_t cols, int64_t kc, float* dst) {
    const int64_t width = ceil_div(cols, kLanes) * kLanes;
    if (trans_b) {
        pack_transposed(b, ldb, cols, kc, dst, NR);  // B stored (N, K): a row of B is a column of op(B)
    } else {
        pack_direct(b, ldb, cols, width, kc, dst, NR);
    }
}

// The whole (kc, nc) block of op(B) for !trans_b, into nc/NR panels: row by row of B, so that
// memory is read in long sequential runs the hardware prefetcher follows (a panel at a time would
// read kc short runs from kc different rows).
void pack_b_block(const float* b, int64_t ldb, int64_t nc, int64_t kc, float* dst) {
    for (int64_t k = 0; k < kc; ++k) {
        const float* src = b + k * ldb;
        for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t cols = std::min(NR, nc - jr);
            pack_direct(src + jr, ldb, cols, ceil_div(cols, kLanes) * kLanes, 1, dst + jr * kc + k * NR, NR);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One thread's product (see BlockFn in sgemm_kernels.hpp for the contract).
template <KernelTable kernel_table>
void gemm_block(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc, bool b_cacheable, float* a_pack,
                float* b_pack, const GemmBSource* source, int64_t source_col0) {
    const int64_t kc_len = sgemm_k_slice(K);
    // With few rows, each element of op(B) feeds at most a couple of kernel calls: packing it would
    // cost a full extra write and read of B, the dominant traffic here. The kernel reads B as is.
    // (m is this thread's share of rows, so this choice can depend on the thread count: harmless,
    // as the kernel sees the same values either way and does the same FMAs.)
    const bool direct_b = !source && !trans_b && m <= kDirectBMaxRows && b_cacheable;
    for (int64_t jc = 0; jc < n; jc += kNc) {
        const int64_t nc = std::min(kNc, n - jc);
        for (int64_t pc = 0; pc < K; pc += kc_len) {
            const int64_t kc = std::min(kc_len, K - pc);
            const float beta_slice = pc == 0 ? beta : 1.0f;
            // op(B) rows pc.., columns jc..  and  op(A) columns pc..
            const float* b_block = source ? nullptr : trans_b ? B + jc * ldb + pc : B + pc * ldb + jc;
            const float* a_slice = trans_a ? A + pc * lda : A + pc;
            // B block packed up front: row by row of B for !trans_b (long sequential reads that the
            // prefetcher follows), panel by panel for trans_b (each panel reads NR rows along k)
            if (source) {
                source->pack(source->context, pc, kc, source_col0 + jc, nc, b_pack);
            } else if (!direct_b) {
                if (trans_b) {
                    for (int64_t jr = 0; jr < nc; jr += NR)
                        pack_b_panel(true, b_block + jr * ldb, ldb, std::min(NR, nc - jr), kc, b_pack + jr * kc);
                } else {
                    pack_b_block(b_block, ldb, nc, kc, b_pack);
                }
            }
            for (int64_t ic = 0; ic < m; ic += kMc) {
                const int64_t mc = std::min(kMc, m - ic);
                for (int64_t ir = 0; ir < mc; ir += MR) {
                    const float* a_rows = trans_a ? a_slice + (ic + ir) : a_slice + (ic + ir) * lda;
                    pack_a_panel(trans_a, a_rows, lda, std::min(MR, mc - ir), kc, a_pack + ir * kc);
                }
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int64_t cols = std::min(NR, nc - jr);
                    const float* b_panel = direct_b ? b_block + jr : b_pack + jr * kc;
                    const int64_t b_stride = direct_b ? ldb : NR;
                    const int64_t vectors = ceil_div(cols, kLanes);
                    float* c_cols = C + ic * ldc + jc + jr;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int64_t rows = std::min(MR, mc - ir);
                        kernel_table[rows - 1][vectors - 1](kc, a_pack + ir * kc, b_panel, b_stride, c_cols + ir * ldc,
                                                            ldc, alpha, beta_slice, cols);
                    }
                }
            }
        }
    }
}

}  // namespace
}  // namespace proact::core::sgemm_detail
