// The AVX2 + FMA kernel set of core::sgemm (compiled with -mavx2 -mfma; called only on a CPU that
// has them, see sgemm.cpp). Same packing, blocking and K slices as the AVX-512 set, and the same
// chain per C element (a product, then one FMA per k, slices added in order, the same alpha / beta
// epilogue), and the same dot-product path (sgemm_dot.hpp): on a machine with both, both give the
// same bits.
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
#include <algorithm>
#include <cstdint>

#include <immintrin.h>

#include "core/sgemm_block.hpp"
#include "core/sgemm_dot.hpp"
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

// ---------------------------------------------------------------------------------------------
// The dot-product path's kernel (sgemm_dot.hpp): the 16 lanes of an element in two ymm halves,
// each lane's chain the avx512 kernel's.

// The half h (8 lanes) of the 16 floats at a row's k, lanes past `left` (< 16 when masked) as zeros.
template <bool MASKED>
inline __m256 load_half(const float* row, int h, int64_t left) {
    if (!MASKED) return _mm256_loadu_ps(row + 8 * h);
    const int real = static_cast<int>(std::clamp<int64_t>(left - 8 * h, 0, 8));
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(real), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps(row + 8 * h, mask);
}

// acc[i][j] += a (RA rows) . b (RB rows) lane-wise over half h of the 16 floats at k, even where a
// masked half is all zeros (the avx512 kernel adds those 0*0 too).
template <int RA, int RB, bool MASKED>
inline void dot_step(const float* a, int64_t lda, const float* b, int64_t ldb, int h, int64_t left,
                     __m256 (&acc)[RA][RB]) {
    __m256 av[RA];
#pragma GCC unroll 8
    for (int i = 0; i < RA; ++i) {
        __m256 loaded = load_half<MASKED>(a + i * lda, h, left);
        __asm__("" : "+x"(loaded));  // in a register, not folded into each of its RB FMAs
        av[i] = loaded;
    }
#pragma GCC unroll 8
    for (int j = 0; j < RB; ++j) {
        __m256 bv = load_half<MASKED>(b + j * ldb, h, left);
        __asm__("" : "+x"(bv));
#pragma GCC unroll 8
        for (int i = 0; i < RA; ++i) acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);
    }
}

// wide (RA, RB, 16) with row stride wide_ld += lane-wise a (RA, klen) . b (RB, klen), klen >= 1:
// the low 8 lanes over the whole K block, then the high 8 (the rows stay in L1 between the two).
template <int RA, int RB>
void dot_kernel(int64_t klen, const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb,
                float* __restrict wide, int64_t wide_ld) {
    for (int h = 0; h < 2; ++h) {
        __m256 acc[RA][RB];
#pragma GCC unroll 8
        for (int i = 0; i < RA; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < RB; ++j) acc[i][j] = _mm256_loadu_ps(wide + i * wide_ld + j * kLanes + 8 * h);
        int64_t k = 0;
        for (; k + kLanes <= klen; k += kLanes) dot_step<RA, RB, false>(a + k, lda, b + k, ldb, h, kLanes, acc);
        if (k < klen) dot_step<RA, RB, true>(a + k, lda, b + k, ldb, h, klen - k, acc);
#pragma GCC unroll 8
        for (int i = 0; i < RA; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < RB; ++j) _mm256_storeu_ps(wide + i * wide_ld + j * kLanes + 8 * h, acc[i][j]);
    }
}

// 3 A rows x 4 B rows = 12 accumulators + 3 A halves + 1 B half: 16 ymm, 12 FMAs per 7 loads,
// and enough independent chains to cover the FMA latency. Measured (bench_gemm, 1 thread, forced
// avx2) against 2x3 with both halves at once, and 2x3, 3x3, 4x3, 2x4 a half at a time: 3x4 ahead
// on every dW shape, at 55-57 GFLOP/s on LeNet-5's conv1 and conv2 (the packed kernel: 33 and 74;
// the avx512 dot kernel 89 and 99); the loads pinned in registers as in the microkernel (folded
// into the FMAs, 2x3 ran at 29-38).
struct Avx2DotFamily {
    static constexpr int kRowsA = 3, kRowsB = 4;
    template <int RA, int RB>
    static constexpr DotKernel kernel = dot_kernel<RA, RB>;
};

}  // namespace

const KernelSet kAvx2Kernels = {gemm_block<KernelTableOf<Avx2Family>::table>, dot_nt<Avx2DotFamily>};

}  // namespace proact::core::sgemm_detail
