// core::conv2d_forward's direct path (core::conv2d_forward_direct, no im2col) against the plain
// computation written out here: im2col of the whole batch, one core::gemm, then the bias, bit for
// bit, on every GEMM kernel this CPU supports (the direct path serves the avx512 kernel; on the
// others conv2d_forward must still give these bits). Shapes: ResNet-20's stages, output channels
// that are not a multiple of the 8-channel register block, K past one GEMM K slice, no padding,
// 5x5 with padding 2, and weights holding Inf and NaN (as a flipped exponent bit makes them):
// Inf x the +0 of the padding is NaN in the GEMM, and must be in the direct path too.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/conv2d.hpp"
#include "core/conv_channels.hpp"
#include "core/gemm.hpp"
#include "core/im2col.hpp"
#include "core/rng.hpp"
#include "core/sgemm.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"

using namespace proact;
using core::Tensor;

namespace {

Tensor random_tensor(const core::Shape& shape, uint64_t index) {
    core::Rng rng(23, "test-conv2d-direct", index);
    return Tensor::uniform(shape, -1.0f, 1.0f, rng);
}

// out (B,O,OH,OW) = im2col(x) then weight (O, CKK) x cols (CKK, B*OH*OW), then + bias[o].
Tensor plain_conv(const Tensor& x, const Tensor& weight, const float* bias, const core::Im2colShape& shape, int64_t O) {
    const int64_t CKK = shape.col_rows(), N = shape.col_cols(), plane = shape.out_h() * shape.out_w();
    Tensor cols = Tensor::empty({CKK, N});
    core::im2col(x.data(), shape, cols.data());
    Tensor product = Tensor::empty({O, N});
    core::gemm(false, false, O, N, CKK, 1.0f, weight.data(), CKK, cols.data(), N, 0.0f, product.data(), N);
    Tensor out = Tensor::empty({shape.batch, O, shape.out_h(), shape.out_w()});
    for (int64_t b = 0; b < shape.batch; ++b)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t i = 0; i < plane; ++i)
                out.data()[(b * O + o) * plane + i] = product.data()[o * N + b * plane + i] + (bias ? bias[o] : 0.0f);
    return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.numel() == b.numel() &&
           std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

struct DirectCase {
    const char* name;
    int64_t batch, channels, size, outputs, kernel, padding;
};

}  // namespace

TEST_CASE("conv2d_forward's direct path gives im2col + GEMM + bias's bits on every GEMM kernel") {
    const DirectCase cases[] = {
        {"ResNet-20 stem 3 -> 16, 32x32", 3, 3, 32, 16, 3, 1},
        {"ResNet-20 stage 1, 32x32", 2, 16, 32, 16, 3, 1},
        {"ResNet-20 stage 2, 16x16", 3, 32, 16, 32, 3, 1},
        {"13 outputs: an 8-block, a 4-block, a 1-block", 2, 5, 17, 13, 3, 1},
        {"K = 432, two GEMM slices", 2, 48, 16, 10, 3, 1},
        {"no padding", 2, 4, 20, 9, 3, 0},
        {"5x5, padding 2", 2, 3, 18, 6, 5, 2},
    };
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    uint64_t seed = 0;
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        for (const DirectCase& c : cases) {
            const core::Im2colShape shape{c.batch, c.channels, c.size, c.size, c.kernel, c.kernel, 1, c.padding};
            const int64_t CKK = shape.col_rows();
            const Tensor x = random_tensor({c.batch, c.channels, c.size, c.size}, seed += 3);
            Tensor weight = random_tensor({c.outputs, CKK}, seed + 1);
            const Tensor bias = random_tensor({c.outputs}, seed + 2);
            // these cases all have few enough output channels for the direct path
            CHECK(core::conv2d_direct_applies(shape, c.outputs) == (kernel == core::GemmKernel::avx512));
            for (bool faulty : {false, true}) {
                if (faulty) {  // a corner tap (reads padding at the borders) and a middle one
                    weight.data()[0] = inf;
                    weight.data()[(c.outputs - 1) * CKK + CKK / 2] = nan;
                    weight.data()[CKK + 1] = -inf;
                }
                for (bool with_bias : {false, true}) {
                    INFO(core::gemm_kernel_name(kernel), " ", c.name, " faulty=", faulty, " bias=", with_bias);
                    const float* b = with_bias ? bias.data() : nullptr;
                    const Tensor expected = plain_conv(x, weight, b, shape, c.outputs);
                    Tensor out = Tensor::empty(expected.shape());
                    core::conv2d_forward(x.data(), weight.data(), b, shape, c.outputs, out.data(), nullptr);
                    CHECK(same_bits(out, expected));
                    if (faulty && c.padding > 0) CHECK(std::isnan(expected.data()[0]));  // Inf x the padding's 0
                }
            }
        }
    }
}

TEST_CASE("the direct convolution gives the same bits on 1 and 2 threads") {
    const core::Im2colShape shape{5, 16, 16, 16, 3, 3, 1, 1};
    const Tensor x = random_tensor({5, 16, 16, 16}, 101);
    const Tensor weight = random_tensor({24, shape.col_rows()}, 102);
    const Tensor bias = random_tensor({24}, 103);
    Tensor one = Tensor::empty({5, 24, 16, 16}), two = Tensor::empty({5, 24, 16, 16});
    const int saved = core::num_threads();
    core::set_num_threads(1);
    core::conv2d_forward(x.data(), weight.data(), bias.data(), shape, 24, one.data(), nullptr);
    core::set_num_threads(2);
    core::conv2d_forward(x.data(), weight.data(), bias.data(), shape, 24, two.data(), nullptr);
    core::set_num_threads(saved);
    CHECK(same_bits(one, two));
    CHECK(same_bits(one, plain_conv(x, weight, bias.data(), shape, 24)));
}

TEST_CASE("the direct path stays off where it does not apply") {
    if (!core::gemm_kernel_supported(core::GemmKernel::avx512)) return;
    const core::GemmKernelScope scope(core::GemmKernel::avx512);
    CHECK(core::conv2d_direct_applies({2, 16, 32, 32, 3, 3, 1, 1}, 16));
    CHECK_FALSE(core::conv2d_direct_applies({2, 16, 32, 32, 3, 3, 2, 1}, 16));  // stride 2
    CHECK(core::conv2d_direct_applies({2, 64, 8, 8, 3, 3, 1, 1}, 64));
    CHECK_FALSE(core::conv2d_direct_applies({2, 64, 16, 16, 3, 3, 1, 1}, 128));  // many outputs
}
