// The plain-C kernel set of core::sgemm, for any x86-64 (or other) CPU: the compiler vectorises the
// column loop as far as the build's baseline allows. Compiled, as every file is, with
// -ffp-contract=off, so that each step of an element's chain is a rounded product then a rounded
// sum whatever the target flags (the channel-subset convolution's generic path does the same).
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
        for (int64_t j = 0; j < cols; ++j)
            row[j] = beta != 0.0f ? alpha * acc[r][j] + beta * row[j] : alpha * acc[r][j];
    }
}

struct GenericFamily {
    template <int ROWS, int NV>
    static constexpr Microkernel kernel = microkernel<ROWS, NV>;
};

}  // namespace

const KernelSet kGenericKernels = {gemm_block<KernelTableOf<GenericFamily>::table>, nullptr};

}  // namespace proact::core::sgemm_detail
