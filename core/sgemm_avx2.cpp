// The AVX2 + FMA kernel set of core::sgemm (compiled with -mavx2 -mfma; called only on a CPU that
// has them, see sgemm.cpp). Same packing, blocking and K slices as the AVX-512 set, and the same
// chain per C element (a product, then one FMA per k, slices added in order, the same alpha / beta
// epilogue): on a machine with both, both give the same bits (except where the AVX-512 set takes
// its dot-product path, which this set does not have).
//
// 16 ymm registers cannot hold the 8 x 48 tile of the packed format (48 accumulators), so the
// microkernel walks it as sub-tiles of 4 rows x 24 columns (12 accumulators + 3 B vectors + 1
// broadcast = 16 registers), column group by column group, the two row halves back to back so the
// second finds the same B columns in L1 or L2:
//
//   c0: columns of the tile in groups of 24     B sub-panel (kc x 24 of the kc x 48 panel, L1/L2)
//    r0: rows 0-3, then rows 4-7                A: 4 of the 8 floats per k of the A micro-panel (L1)
//     k: kc steps                               per k: 3 B loads + 4 broadcasts -> 12 FMAs
//
// Per k a sub-tile issues 12 FMAs against 7 loads, which keeps both FMA pipes of a core busy.
// The B vectors must stay in registers: left to itself GCC 12 folded each B load into the four
// FMAs that use it (16 loads per k instead of 7), and the kernel ran at 0.70x OpenBLAS's Haswell
// kernel; with them pinned (the empty asm below), 0.89-0.96x. Measured with bench_gemm on this
// 2-core AVX-512 machine, ours forced to avx2 against OPENBLAS_CORETYPE=Haswell, squares 256 and
// 512 (1024 and 2048 were memory-bound under load from other processes: 0.77-0.86x at ~30 GFLOP/s
// for both). Blocking (kc <= 384, kMc, kNc) is the AVX-512 set's, not retuned for AVX2.
#include <cstdint>

#include <immintrin.h>

#include "core/sgemm_block.hpp"
#include "core/sgemm_kernels.hpp"

namespace proact::core::sgemm_detail {

namespace {

constexpr int kSubRows = 4;     // rows of a sub-tile
constexpr int kSubVectors = 3;  // 8-float vectors of a sub-tile
constexpr int64_t kSubCols = 8 * kSubVectors;

// One R x (8*V) sub-tile: c (R, cols) = alpha * a^T b + beta * c, cols in (8*(V-1), 8*V]; with
// MASKED the last vector covers cols - 8*(V-1) < 8 lanes, read and written under `last`.
template <int R, int V, bool MASKED>
void subtile(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t b_stride, float* __restrict c,
             int64_t ldc, float alpha, float beta, __m256i last) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 3
        for (int v = 0; v < V; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 8 * v), _MM_HINT_T0);
    __m256 acc[R][V];
    {
        __m256 bv[V];
#pragma GCC unroll 3
        for (int v = 0; v < V; ++v)
            bv[v] = MASKED && v == V - 1 ? _mm256_maskload_ps(b + 8 * v, last) : _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 3
            for (int v = 0; v < V; ++v) acc[r][v] = _mm256_mul_ps(av, bv[v]);
        }
    }
    for (int64_t k = 1; k < kc; ++k) {
        a += MR;
        b += b_stride;
        __m256 bv[V];
#pragma GCC unroll 3
        for (int v = 0; v < V; ++v) {
            bv[v] = MASKED && v == V - 1 ? _mm256_maskload_ps(b + 8 * v, last) : _mm256_loadu_ps(b + 8 * v);
            // in a register: left to itself GCC folds the load into each of the R FMAs (4x the loads)
            __asm__("" : "+x"(bv[v]));
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 3
            for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    const bool scale = alpha != 1.0f;
    const __m256 alpha_v = _mm256_set1_ps(alpha), beta_v = _mm256_set1_ps(beta);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
        float* row = c + r * ldc;
#pragma GCC unroll 3
        for (int v = 0; v < V; ++v) {
            const bool masked = MASKED && v == V - 1;
            __m256 out = scale ? _mm256_mul_ps(alpha_v, acc[r][v]) : acc[r][v];
            if (beta != 0.0f) {
                const __m256 old = masked ? _mm256_maskload_ps(row + 8 * v, last) : _mm256_loadu_ps(row + 8 * v);
                out = _mm256_fmadd_ps(beta_v, old, out);
            }
            if (masked)
                _mm256_maskstore_ps(row + 8 * v, last, out);
            else
                _mm256_storeu_ps(row + 8 * v, out);
        }
    }
}

using Subtile = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, float, float, __m256i);

template <int R, bool MASKED>
constexpr Subtile subtiles_for_rows[kSubVectors] = {subtile<R, 1, MASKED>, subtile<R, 2, MASKED>,
                                                    subtile<R, 3, MASKED>};
// subtile_table[masked][rows-1][vectors-1]
constexpr const Subtile* subtile_table[2][kSubRows] = {
    {subtiles_for_rows<1, false>, subtiles_for_rows<2, false>, subtiles_for_rows<3, false>,
     subtiles_for_rows<4, false>},
    {subtiles_for_rows<1, true>, subtiles_for_rows<2, true>, subtiles_for_rows<3, true>, subtiles_for_rows<4, true>}};

// The microkernel contract of sgemm_block.hpp (ROWS x cols tile, cols <= 16*NV), as sub-tiles.
template <int ROWS, int NV>
void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t b_stride,
                 float* __restrict c, int64_t ldc, float alpha, float beta, int64_t cols) {
    for (int64_t c0 = 0; c0 < cols; c0 += kSubCols) {
        const int64_t width = std::min(kSubCols, cols - c0);
        const int64_t vectors = (width + 7) / 8;
        const int64_t tail = width - 8 * (vectors - 1);  // lanes of the last vector, 1..8
        const bool masked = tail < 8;
        const __m256i last =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(tail)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int r0 = 0; r0 < ROWS; r0 += kSubRows) {
            const int rows = std::min(kSubRows, ROWS - r0);
            subtile_table[masked][rows - 1][vectors - 1](kc, a + r0, b + c0, b_stride, c + r0 * ldc + c0, ldc, alpha,
                                                         beta, last);
        }
    }
}

struct Avx2Family {
    template <int ROWS, int NV>
    static constexpr Microkernel kernel = microkernel<ROWS, NV>;
};

}  // namespace

const KernelSet kAvx2Kernels = {gemm_block<KernelTableOf<Avx2Family>::table>, nullptr};

}  // namespace proact::core::sgemm_detail
