// The plain-C kernel set of core::sgemm, for any x86-64 (or other) CPU: the compiler vectorises the
// column loop as far as the build's baseline allows. Compiled with -ffp-contract=off, so that each
// step of an element's chain is a rounded product then a rounded sum whatever the target flags
// (the channel-subset convolution's generic path, core/conv_channels.cpp, does the same).
#include <cstdint>

#include "core/sgemm_block.hpp"
#include "core/sgemm_kernels.hpp"

namespace proact::core::sgemm_detail {

namespace {

// k = 0 peeled as a product, as in the SIMD kernels (a product into zero would give +0 for -0).
template <int ROWS, int NV>
void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t b_stride,
                 float* __restrict c, int64_t ldc, float alpha, float beta, int64_t cols) {
    constexpr int W = NV * static_cast<int>(kLanes);
    float acc[ROWS][W];
    for (int r = 0; r < ROWS; ++r)
        for (int64_t j = 0; j < cols; ++j) acc[r][j] = a[r] * b[j];
    for (int64_t k = 1; k < kc; ++k) {
        a += MR;
        b += b_stride;
        for (int r = 0; r < ROWS; ++r) {
            const float ar = a[r];
            for (int64_t j = 0; j < cols; ++j) acc[r][j] += ar * b[j];
        }
    }
    for (int r = 0; r < ROWS; ++r) {
        float* row = c + r * ldc;
        for (int64_t j = 0; j < cols; ++j) row[j] = beta != 0.0f ? alpha * acc[r][j] + beta * row[j] : alpha * acc[r][j];
    }
}

template <int ROWS>
constexpr Microkernel kernels_for_rows[kNV] = {microkernel<ROWS, 1>, microkernel<ROWS, 2>, microkernel<ROWS, 3>};
static_assert(kNV == 3, "kernels_for_rows lists NV = 1..3");
static_assert(MR == 8, "kernel_table lists ROWS = 1..8");

constexpr const Microkernel* kernel_table[MR] = {kernels_for_rows<1>, kernels_for_rows<2>, kernels_for_rows<3>,
                                                 kernels_for_rows<4>, kernels_for_rows<5>, kernels_for_rows<6>,
                                                 kernels_for_rows<7>, kernels_for_rows<8>};

}  // namespace

const KernelSet kGenericKernels = {gemm_block<kernel_table>, nullptr};

}  // namespace proact::core::sgemm_detail
