// Internal to core/sgemm*.cpp: what the SGEMM driver (sgemm.cpp: threads, K split, dispatch) and
// the per-ISA kernel files (sgemm_avx512.cpp, sgemm_avx2.cpp, sgemm_generic.cpp, each compiled with
// its own target flags) share. Nothing here is for use outside core/sgemm*.
//
// Every kernel set does the same packing and the same loop nest (sgemm_block.hpp); they differ in
// the microkernel, i.e. in which instructions form each C element's chain over k:
//   avx512, avx2: a product for the first k of a slice, one FMA per further k, slices added in order
//                 (alpha, beta: C = alpha * acc, then an FMA with beta * C): the same bits.
//   generic:      the same chain with the multiply and the add rounded separately (no FMA).
//   avx512 also has the dot-product path for small A x B^T with long K (different summation order).
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

// Cache blocking (sgemm.cpp's opening comment has the measurements).
constexpr int64_t kKcMax = kSgemmKcMax;
constexpr int64_t kMc = 128;
constexpr int64_t kNc = 32 * NR;
static_assert(kMc % MR == 0 && kNc % NR == 0, "blocks must be whole micro-panels");

// !trans_b with at most this many rows of C reads op(B) in place (see gemm_block), while all of
// op(B) stays under kDirectBMaxBytes (sgemm.cpp has the measurements).
constexpr int64_t kDirectBMaxRows = 48;
constexpr double kDirectBMaxBytes = 16e6;

// Floats of the pack buffers one gemm_block call needs for a K of `K`.
inline int64_t a_pack_floats(int64_t K) { return kMc * sgemm_k_slice(K); }
inline int64_t b_pack_floats(int64_t K) { return kNc * sgemm_k_slice(K); }

// One thread's product, single-threaded: C (m,n) = alpha * op(A) (m,K) * op(B) (K,n) + beta * C.
// A, B point at op(A)[0,0], op(B)[0,0] of this block; K >= 1, m, n >= 1. b_cacheable: the whole
// call's op(B) is small enough to be read in place. a_pack holds a_pack_floats(K) floats, b_pack
// b_pack_floats(K) (64-byte aligned).
using BlockFn = void (*)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, bool b_cacheable,
                         float* a_pack, float* b_pack);

// out (M,N) dense = A (M,K) x B (N,K)^T, single-threaded, K >= 1; wide holds M*N*16 floats.
using DotFn = void (*)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                       float* out, float* wide);

struct KernelSet {
    BlockFn block;
    DotFn dot_nt;  // null: the set has no dot-product path
};

// Defined in the per-ISA files; call only a set the CPU supports.
extern const KernelSet kAvx512Kernels;
extern const KernelSet kAvx2Kernels;
extern const KernelSet kGenericKernels;

}  // namespace proact::core::sgemm_detail
