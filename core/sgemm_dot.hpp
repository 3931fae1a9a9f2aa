// Internal to core/sgemm_avx512.cpp and core/sgemm_avx2.cpp: the dot-product path for
// A (M,K) x B (N,K)^T with a small C and a long K (conv weight gradients: dout (O, B*OH*OW) x cols
// (C*k*k, B*OH*OW)^T). Rows of both operands are contiguous along K, so each C element is a dot
// product of two rows: no packing, no transposes (which would cost more than the FMAs here).
//
// The bits are fixed here, not by the ISA: element (i, j) keeps kLanes = 16 lane-wise sums in
// `wide` (M, N, 16), lane l summing a[k]*b[k] for k = l, l+16, l+32, ... by one FMA each, from +0,
// with zeros (0*0, an FMA all the same) in the lanes past K; then the 16 lanes are added pairwise
// in a fixed order. The avx512 kernel holds 16 lanes in one zmm, the avx2 kernel in two ymm: on a
// machine with both the two give the same bits, so a training run does not depend on which one
// the CPU has.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "core/sgemm_kernels.hpp"

namespace proact::core::sgemm_detail {

// wide (ra, rb, 16) with row stride wide_ld += lane-wise a (ra, klen) . b (rb, klen), klen >= 1,
// for a kernel instantiated for ra rows of A and rb rows of B.
using DotKernel = void (*)(int64_t klen, const float* a, int64_t lda, const float* b, int64_t ldb, float* wide,
                           int64_t wide_ld);

// K block: a kernel's rows of A and B (at most 6 + 4) of 256 floats, 10 KB, stay in L1 across its loop.
constexpr int64_t kDotKBlock = 256;

// Family::kernel<RA, RB> for RA in 1..Family::kRowsA, RB in 1..Family::kRowsB: table[ra-1][rb-1].
template <class Family>
struct DotTableOf {
    template <int RA, size_t... J>
    static constexpr std::array<DotKernel, sizeof...(J)> row(std::index_sequence<J...>) {
        return {Family::template kernel<RA, static_cast<int>(J) + 1>...};
    }
    template <size_t... I>
    static constexpr std::array<std::array<DotKernel, Family::kRowsB>, sizeof...(I)> rows(std::index_sequence<I...>) {
        return {row<static_cast<int>(I) + 1>(std::make_index_sequence<Family::kRowsB>())...};
    }
    static constexpr auto table = rows(std::make_index_sequence<Family::kRowsA>());
};

// out (M,N) dense = A (M,K) x B (N,K)^T, single-threaded; K >= 1; wide holds M*N*16 floats.
template <class Family>
void dot_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* out,
            float* wide) {
    constexpr auto& table = DotTableOf<Family>::table;
    std::fill(wide, wide + M * N * kLanes, 0.0f);
    const int64_t wide_ld = N * kLanes;
    for (int64_t kb = 0; kb < K; kb += kDotKBlock) {
        const int64_t klen = std::min(kDotKBlock, K - kb);
        for (int64_t j0 = 0; j0 < N; j0 += Family::kRowsB) {
            const int64_t rb = std::min<int64_t>(Family::kRowsB, N - j0);
            for (int64_t i0 = 0; i0 < M; i0 += Family::kRowsA) {
                const int64_t ra = std::min<int64_t>(Family::kRowsA, M - i0);
                table[ra - 1][rb - 1](klen, A + i0 * lda + kb, lda, B + j0 * ldb + kb, ldb,
                                      wide + i0 * wide_ld + j0 * kLanes, wide_ld);
            }
        }
    }
    // pairwise over the 16 lanes, in a fixed order
    for (int64_t e = 0; e < M * N; ++e) {
        float lanes[kLanes];
        std::copy(wide + e * kLanes, wide + (e + 1) * kLanes, lanes);
        for (int64_t width = kLanes / 2; width >= 1; width /= 2)
            for (int64_t l = 0; l < width; ++l) lanes[l] += lanes[l + width];
        out[e] = lanes[0];
    }
}

}  // namespace proact::core::sgemm_detail
