// Internal to core/sgemm*.cpp: what the SGEMM driver (sgemm.cpp: threads, K split, dispatch) and
// the per-ISA kernel files (sgemm_avx512.cpp, sgemm_avx2.cpp, sgemm_generic.cpp, each compiled with
// its own target flags) share. Nothing here is for use outside core/sgemm*.
//
// Every kernel set does the same packing and the same loop nest (sgemm_block.hpp); they differ in
// the microkernel, i.e. in which instructions form each C element's chain over k:
//   avx512, avx2: a product for the first k of a slice, one FMA per further k, slices added in order
//                 (alpha, beta: C = alpha * acc, then an FMA with beta * C): the same bits.
//   generic:      the same chain with the multiply and the add rounded separately (no FMA).
//   avx512 and avx2 also have the dot-product path for small A x B^T with long K (16 lane-wise
//                 sums per element, sgemm_dot.hpp): the same bits in both.
#pragma once

#include <cstdint>

#include "core/sgemm.hpp"

namespace proact::core::sgemm_detail {

constexpr int64_t MR = kSgemmMR;
constexpr int64_t NR = kSgemmNR;
// Columns per "vector" of the kernel tables: NR is kNV of them (AVX-512: one zmm each; AVX2 works
// on 8-float halves of them).
constexpr int64_t kLanes = 16;
constexpr int64_t kNV = NR / kLanes;
static_assert(NR % kLanes == 0, "NR must be whole vectors");

// Cache blocking, measured with the AVX-512 set on a Xeon (L1d 48 KB, L2 2 MB per core): from
// KC 256..512 and MC 128..512 the squares 512..2048 stay within ~5% of each other; these are the
// middle of that plateau. The AVX2 set uses the same (see sgemm_avx2.cpp).
// kKcMax: slice of K per kernel call. An A micro-panel is kKcMax x MR = 12 KB (L1); the B
//   micro-panel (kKcMax x NR = 72 KB) streams from L2. Longer slices amortise the C tile update.
// kMc: the packed A block kMc x kKcMax = 192 KB stays in L2.
// kNc: the packed B block kKcMax x kNc = 2.25 MB (32 panels), reread by every ic block.
constexpr int64_t kKcMax = kSgemmKcMax;
constexpr int64_t kMc = 128;
constexpr int64_t kNc = 32 * NR;
static_assert(kMc % MR == 0 && kNc % NR == 0, "blocks must be whole micro-panels");

// !trans_b with at most this many rows of C: the kernel reads op(B) in place instead of a packed
// copy (see gemm_block). Measured: 1.3-2x faster up to 48 rows (conv forward, B from L3), neutral
// at 64, slower from 128 (B then feeds many kernel calls and wants the contiguous packed panel).
constexpr int64_t kDirectBMaxRows = kSgemmDirectBMaxRows;
// ... and only while all of op(B) fits in about this many bytes, i.e. comes from L3. From DRAM
// (ResNet stage 1 forward: 144 x 131072 floats = 75 MB) reading kc rows at once defeats the
// prefetchers: the row-by-row packing pass was 1.2x faster single-threaded, 2-3x with 2 threads.
constexpr double kDirectBMaxBytes = 16e6;

// Floats of the pack buffers one gemm_block call needs for a K of `K`.
inline int64_t a_pack_floats(int64_t K) { return kMc * sgemm_k_slice(K); }
inline int64_t b_pack_floats(int64_t K) { return kNc * sgemm_k_slice(K); }

// One thread's product, single-threaded: C (m,n) = alpha * op(A) (m,K) * op(B) (K,n) + beta * C.
// A, B point at op(A)[0,0], op(B)[0,0] of this block; K >= 1, m, n >= 1. b_cacheable: the whole
// call's op(B) is small enough to be read in place. a_pack holds a_pack_floats(K) floats, b_pack
// b_pack_floats(K) (64-byte aligned). With a source (!trans_b only), op(B) comes from it instead
// of B (unused): this block's column 0 is the source's column source_col0.
using BlockFn = void (*)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, bool b_cacheable,
                         float* a_pack, float* b_pack, const GemmBSource* source, int64_t source_col0);

// out (M,N) dense = A (M,K) x B (N,K)^T, single-threaded, K >= 1; wide holds M*N*16 floats.
using DotFn = void (*)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                       float* out, float* wide);

struct KernelSet {
    BlockFn block;
    DotFn dot_nt;  // null: the set has no dot-product path (generic)
};

// Defined in the per-ISA files; call only a set the CPU supports.
extern const KernelSet kAvx512Kernels;
extern const KernelSet kAvx2Kernels;
extern const KernelSet kGenericKernels;

}  // namespace proact::core::sgemm_detail
