// Blocked, packed SGEMM (see sgemm.hpp for the contract). Loop nest of one thread's block of C,
// outermost first, with what each level keeps where:
//
//   jc: columns of C in blocks of kNc        packed B block (kc x kNc), reused by every ic block
//    pc: K in slices of kc <= kKcMax          first slice applies beta, later ones add (beta = 1)
//     ic: rows of C in blocks of kMc          packed A block (kMc x kc) stays in L2
//      jr: columns in micro-panels of NR      B micro-panel (kc x NR) from L2
//       ir: rows in micro-panels of MR        A micro-panel (kc x MR) from L1/L2
//        microkernel: C tile (MR x NR) in registers += A micro-panel x B micro-panel
//
// Two shape-driven departures, both chosen from (M, N, K) alone:
//   - few rows of C, !trans_b and a B that fits in L3 (conv forward: (6 x 25) x (25 x 50176)): B
//     is not packed, the kernel reads it in place; packing would double the dominant traffic.
//   - A x B^T with a small C and long K (conv dW): dot products along K, in fixed K chunks.
//
// Thread-count invariance: threads own disjoint blocks of whole MR x NR tiles (or whole K chunks),
// and every C element is computed by the same kernel code with one FMA per k in the same order,
// whichever thread computes it.
#include "core/sgemm.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace proact::core {

namespace {

constexpr int64_t MR = kSgemmMR;
constexpr int64_t NR = kSgemmNR;
// Floats per SIMD vector of the kernel's column axis (one zmm); NR is kNV of them.
constexpr int64_t kLanes = 16;
constexpr int64_t kNV = NR / kLanes;
static_assert(NR % kLanes == 0, "NR must be whole vectors");

// Cache blocking for this machine (Xeon, AVX-512, L1d 48 KB, L2 2 MB per core). Measured: from
// KC 256..512 and MC 128..512 the squares 512..2048 stay within ~5% of each other; these are the
// middle of that plateau.
// kKcMax: slice of K per kernel call. An A micro-panel is kKcMax x MR = 12 KB (L1); the B
//   micro-panel (kKcMax x NR = 72 KB) streams from L2. Longer slices amortise the C tile update.
// kMc: the packed A block kMc x kKcMax = 192 KB stays in L2.
// kNc: the packed B block kKcMax x kNc = 2.25 MB (32 panels), reread by every ic block.
constexpr int64_t kKcMax = 384;
constexpr int64_t kMc = 128;
constexpr int64_t kNc = 32 * NR;
static_assert(kMc % MR == 0 && kNc % NR == 0, "blocks must be whole micro-panels");

// !trans_b with at most this many rows of C: the kernel reads op(B) in place instead of a packed
// copy (see gemm_block). Measured: 1.3-2x faster up to 48 rows (conv forward, B from L3), neutral
// at 64, slower from 128 (B then feeds many kernel calls and wants the contiguous packed panel).
constexpr int64_t kDirectBMaxRows = 48;
// ... and only while all of op(B) fits in about this many bytes, i.e. comes from L3. From DRAM
// (ResNet stage 1 forward: 144 x 131072 floats = 75 MB) reading kc rows at once defeats the
// prefetchers: the row-by-row packing pass was 1.2x faster single-threaded, 2-3x with 2 threads.
constexpr double kDirectBMaxBytes = 16e6;

// Dot-product path for A x B^T (both contiguous along K) with a small C: M <= kDotMaxM, N <=
// kDotMaxN, K >= kDotMinK. Measured 1.1-2x faster than packing for conv dW shapes (M = 6, 16);
// slower from M = 32 on, where the packed kernel's 8 x 48 register tile reuses loads better.
constexpr int64_t kDotMaxM = 16;
constexpr int64_t kDotMaxN = 256;
constexpr int64_t kDotMinK = 256;

// K split for a small C with a long K (e.g. conv dW (16 x 144) summed over 131072 pixels): K is cut
// into chunks of about kKChunk (at most kMaxChunks of them) whose products are summed in order.
// Used when C has fewer than kSplitMaxTiles MR x NR tiles, too few to keep the threads busy.
constexpr int64_t kKChunk = 2048;
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kSplitMaxTiles = 8;

// With T threads, C is cut into at least kBlocksPerThread * T blocks scheduled dynamically.
constexpr int64_t kBlocksPerThread = 4;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Length of the K slices for a K-long product: equal slices of at most kKcMax, a multiple of 8 (the
// packing transposes 8 x 8 blocks). A function of K alone, for thread-count invariance.
int64_t slice_length(int64_t K) {
    const int64_t slices = ceil_div(K, kKcMax);
    return std::min(kKcMax, ceil_div(ceil_div(K, slices), 8) * 8);
}

// ---------------------------------------------------------------------------------------------
// Per-thread pack buffers, 64-byte aligned, grown on demand and kept for the thread's lifetime.

struct AlignedBuffer {
    float* data = nullptr;
    size_t capacity = 0;  // floats
    AlignedBuffer() = default;
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    ~AlignedBuffer() { std::free(data); }
    float* get(size_t floats) {
        if (floats > capacity) {
            std::free(data);
            // round up to the alignment, as aligned_alloc requires
            const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
            data = static_cast<float*>(std::aligned_alloc(64, bytes));
            if (!data) throw std::bad_alloc();
            capacity = bytes / sizeof(float);
        }
        return data;
    }
};

struct PackBuffers {
    AlignedBuffer a;  // (kMc/MR) panels of (kKcMax x MR)
    AlignedBuffer b;  // (kNc/NR) panels of (kKcMax x NR)
};

PackBuffers& pack_buffers() {
    thread_local PackBuffers buffers;
    return buffers;
}

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
// Microkernels. a is a packed A micro-panel (kc, MR); b holds the B micro-panel (kc, 16*NV) with
// row stride b_stride: a packed panel (stride NR) or op(B) itself (stride ldb, see gemm_block); c
// is the C tile (ROWS, cols) with row stride ldc, cols in (16*(NV-1), 16*NV]. Columns >= cols of b
// are never read (masked), so b may end at the edge of B.
//   C tile = alpha * (a^T b)[:ROWS, :cols] + beta * C tile     (C not read when beta == 0)
// ROWS x NV instances cover the edge tiles; all do the same FMAs per element in the same order.
// kc >= 1.

using Microkernel = void (*)(int64_t kc, const float* a, const float* b, int64_t b_stride, float* c, int64_t ldc,
                             float alpha, float beta, int64_t cols);

#if defined(__AVX512F__)

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

#else

// Plain C: the compiler vectorises the column loop as far as the target allows.
template <int ROWS, int NV>
void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t b_stride,
                 float* __restrict c, int64_t ldc, float alpha, float beta, int64_t cols) {
    constexpr int W = NV * static_cast<int>(kLanes);
    float acc[ROWS][W] = {};
    for (int64_t k = 0; k < kc; ++k) {
        for (int r = 0; r < ROWS; ++r) {
            const float ar = a[r];
            for (int64_t j = 0; j < cols; ++j) acc[r][j] += ar * b[j];
        }
        a += MR;
        b += b_stride;
    }
    for (int r = 0; r < ROWS; ++r) {
        float* row = c + r * ldc;
        for (int64_t j = 0; j < cols; ++j) row[j] = beta != 0.0f ? alpha * acc[r][j] + beta * row[j] : alpha * acc[r][j];
    }
}

#endif

template <int ROWS>
constexpr Microkernel kernels_for_rows[kNV] = {microkernel<ROWS, 1>, microkernel<ROWS, 2>, microkernel<ROWS, 3>};
static_assert(kNV == 3, "kernels_for_rows lists NV = 1..3");
static_assert(MR == 8, "kernel_table lists ROWS = 1..8");

// kernel_table[rows-1][vectors-1]
constexpr const Microkernel* kernel_table[MR] = {kernels_for_rows<1>, kernels_for_rows<2>, kernels_for_rows<3>,
                                                 kernels_for_rows<4>, kernels_for_rows<5>, kernels_for_rows<6>,
                                                 kernels_for_rows<7>, kernels_for_rows<8>};

// ---------------------------------------------------------------------------------------------
// Dot-product path for A (M,K) x B (N,K)^T with a small C and a long K (conv weight gradients:
// dout (O, B*OH*OW) x cols (C*k*k, B*OH*OW)^T). Rows of both operands are contiguous along K, so
// each C element is a dot product of two rows: no packing, no transposes (which would cost more
// than the FMAs here). Lane-wise partial sums live in `wide` (M, N, 16) and are reduced at the end.

#if defined(__AVX512F__)
constexpr bool kHaveDotPath = true;
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
void dot_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* out) {
    float* wide = pack_buffers().a.get(static_cast<size_t>(M * N * kLanes));
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
#else
constexpr bool kHaveDotPath = false;
void dot_nt(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*) {}
#endif

// ---------------------------------------------------------------------------------------------
// One thread's product, single-threaded: C (m,n) = alpha * op(A) (m,K) * op(B) (K,n) + beta * C.
// A, B point at op(A)[0,0], op(B)[0,0] of this block. K >= 1, m, n >= 1. b_cacheable: the whole
// call's op(B) (not just this block's) is small enough to be read in place (kDirectBMaxBytes).

void gemm_block(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, bool b_cacheable) {
    PackBuffers& buffers = pack_buffers();
    const int64_t kc_len = slice_length(K);
    // With few rows, each element of op(B) feeds at most a couple of kernel calls: packing it would
    // cost a full extra write and read of B, the dominant traffic here. The kernel reads B as is.
    // (m is this thread's share of rows, so this choice can depend on the thread count: harmless,
    // as the kernel sees the same values either way and does the same FMAs.)
    const bool direct_b = !trans_b && m <= kDirectBMaxRows && b_cacheable;
    float* a_pack = buffers.a.get(static_cast<size_t>(kMc * kc_len));
    float* b_pack = direct_b ? nullptr : buffers.b.get(static_cast<size_t>(kNc * kc_len));
    for (int64_t jc = 0; jc < n; jc += kNc) {
        const int64_t nc = std::min(kNc, n - jc);
        for (int64_t pc = 0; pc < K; pc += kc_len) {
            const int64_t kc = std::min(kc_len, K - pc);
            const float beta_slice = pc == 0 ? beta : 1.0f;
            // op(B) rows pc.., columns jc..  and  op(A) columns pc..
            const float* b_block = trans_b ? B + jc * ldb + pc : B + pc * ldb + jc;
            const float* a_slice = trans_a ? A + pc * lda : A + pc;
            // B block packed up front: row by row of B for !trans_b (long sequential reads that the
            // prefetcher follows), panel by panel for trans_b (each panel reads NR rows along k)
            if (!direct_b) {
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
                        kernel_table[rows - 1][vectors - 1](kc, a_pack + ir * kc, b_panel, b_stride,
                                                            c_cols + ir * ldc, ldc, alpha, beta_slice, cols);
                    }
                }
            }
        }
    }
}

// C (M,N) = beta * C, BLAS style (beta == 0 writes zeros without reading C).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; ++i) {
        float* row = C + i * ldc;
        if (beta == 0.0f)
            std::fill(row, row + N, 0.0f);
        else
            for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
}

// Cuts C (row_tiles x col_tiles tiles) into a (row_parts x col_parts) grid of at least `units`
// blocks (fewer if C has fewer tiles), minimising the packing it causes: every column part packs
// all of A's rows (cost M per part) and every row part all of B's columns (N per part, or nothing
// when B is read in place).
void plan_grid(int64_t row_tiles, int64_t col_tiles, int64_t M, int64_t N, bool b_packed, int64_t units,
               int64_t& row_parts, int64_t& col_parts) {
    units = std::min(units, row_tiles * col_tiles);
    row_parts = 1;
    col_parts = std::min(col_tiles, units);
    double best = -1;
    for (int64_t rows = 1; rows <= std::min(row_tiles, units); ++rows) {
        const int64_t cols = std::min(col_tiles, ceil_div(units, rows));
        if (rows * cols < units) continue;
        const double cost = double(cols) * double(M) + (b_packed ? double(rows) * double(N) : 0.0);
        if (best < 0 || cost < best) {
            best = cost;
            row_parts = rows;
            col_parts = cols;
        }
    }
}

// [begin, end) of part `index` of `parts` near-equal parts of `tiles` tiles, in elements (tile
// boundaries are multiples of `tile`, the last one clipped to `size`).
void part_range(int64_t tiles, int64_t parts, int64_t index, int64_t tile, int64_t size, int64_t& begin, int64_t& end) {
    begin = std::min(size, tiles * index / parts * tile);
    end = std::min(size, tiles * (index + 1) / parts * tile);
}

std::vector<float>& split_k_partials() {
    thread_local std::vector<float> partials;
    return partials;
}

}  // namespace

const char* sgemm_kernel_name() {
#if defined(__AVX512F__)
    return "avx512";
#else
    return "generic";
#endif
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const double flops = 2.0 * double(M) * double(N) * double(K);
    const int threads = (flops > kSgemmParallelFlops && !omp_in_parallel()) ? omp_get_max_threads() : 1;
    const int64_t row_tiles = ceil_div(M, MR), col_tiles = ceil_div(N, NR);
    const bool b_cacheable = double(K) * double(N) * sizeof(float) <= kDirectBMaxBytes;

    // Both depend on (M, N, K) only, never on the thread count.
    const bool dot = kHaveDotPath && !trans_a && trans_b && M <= kDotMaxM && N <= kDotMaxN && K >= kDotMinK;
    const bool split_k = row_tiles * col_tiles < kSplitMaxTiles && K >= 2 * kKChunk;
    if (dot || split_k) {
        // Fixed chunks of K, each a product of its own, then summed in chunk order.
        const int64_t chunks = K >= 2 * kKChunk ? std::min(kMaxChunks, ceil_div(K, kKChunk)) : 1;
        const int64_t chunk = ceil_div(K, chunks);
        std::vector<float>& partials = split_k_partials();
        partials.resize(static_cast<size_t>(chunks * M * N));
        float* partial = partials.data();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1 && chunks > 1)
        for (int64_t p = 0; p < chunks; ++p) {
            const int64_t k0 = p * chunk, k1 = std::min(K, k0 + chunk);
            if (k0 >= k1) continue;
            if (dot)
                dot_nt(M, N, k1 - k0, A + k0, lda, B + k0, ldb, partial + p * M * N);
            else
                gemm_block(trans_a, trans_b, M, N, k1 - k0, 1.0f, trans_a ? A + k0 * lda : A + k0, lda,
                           trans_b ? B + k0 : B + k0 * ldb, ldb, 0.0f, partial + p * M * N, N, b_cacheable);
        }
        for (int64_t i = 0; i < M; ++i) {
            float* row = C + i * ldc;
            for (int64_t j = 0; j < N; ++j) {
                float sum = 0.0f;
                for (int64_t p = 0; p < chunks; ++p)
                    if (p * chunk < K) sum += partial[(p * M + i) * N + j];
                row[j] = beta == 0.0f ? alpha * sum : alpha * sum + beta * row[j];
            }
        }
        return;
    }

    if (threads <= 1) {
        gemm_block(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, b_cacheable);
        return;
    }
    // Several blocks per thread, handed out dynamically: on a shared machine a thread that loses its
    // core for a while then delays the call by one block, not by half the product.
    int64_t row_parts = 1, col_parts = 1;
    const bool b_packed = trans_b || M > kDirectBMaxRows || !b_cacheable;
    plan_grid(row_tiles, col_tiles, M, N, b_packed, kBlocksPerThread * threads, row_parts, col_parts);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t block = 0; block < row_parts * col_parts; ++block) {
        int64_t i0, i1, j0, j1;
        part_range(row_tiles, row_parts, block / col_parts, MR, M, i0, i1);
        part_range(col_tiles, col_parts, block % col_parts, NR, N, j0, j1);
        if (i0 < i1 && j0 < j1)
            gemm_block(trans_a, trans_b, i1 - i0, j1 - j0, K, alpha, trans_a ? A + i0 : A + i0 * lda, lda,
                       trans_b ? B + j0 * ldb : B + j0, ldb, beta, C + i0 * ldc + j0, ldc, b_cacheable);
    }
}

}  // namespace proact::core
