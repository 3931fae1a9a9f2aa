// The channel-subset convolution's kernel for the avx2 GEMM kernel set (compiled with -mavx2
// -mfma, without AVX-512; called only on a CPU that has them): the reference loop with FMAs, which
// the compiler vectorises over the output positions.
#include <cstdint>

#include "core/conv_channels_kernels.hpp"

namespace proact::core::conv_channels_detail {

void channel_sums_avx2(const Geometry& g, const float* padded, const float* const* w_rows, int64_t count, float* total,
                       float* partial) {
    reference_channels<FusedMultiplyAdd>(g, padded, w_rows, count, total, partial);
}

}  // namespace proact::core::conv_channels_detail
