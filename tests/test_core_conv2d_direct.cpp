// core::conv2d_forward's direct path (core::conv2d_forward_direct, no im2col) against the plain
// computation written out here: im2col of the whole batch, one core::gemm, then the bias, bit for
// bit, on every GEMM kernel this CPU supports (the direct path serves the avx512 and avx2 kernels;
// on the generic one conv2d_forward must still give these bits, and so must its direct loop, up to
// which NaN a sum of two NaNs gives: see same_bits_any_nan).
// Shapes: ResNet-20's stages, output channels that are not a multiple of the register blocks (8
// and 4 channels; the avx2 kernel's last positions in blocks of 6), positions that leave a partial
// last vector (masked on avx2) or none, K past one GEMM K slice, no padding, 1x1, 5x5 with padding
// 2, and weights holding Inf and NaN (as a flipped exponent bit makes them): Inf x the +0 of the
// padding is NaN in the GEMM, and must be in the direct path too.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/conv2d.hpp"
#include "core/conv_channels.hpp"
#include "core/gemm.hpp"
#include "core/im2col.hpp"
#include "core/rng.hpp"
#include "core/sgemm.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"
#include "support/tensor_checks.hpp"

using namespace proact;
using core::Tensor;
using test::same_bits;
using test::same_bits_any_nan;

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
        {"Fashion-MNIST 7x7: 61 positions, 11 outputs", 2, 9, 7, 11, 3, 1},
        {"3x3 on 3x3: 13 positions, no whole avx2 block", 2, 4, 3, 7, 3, 1},
        {"4x4 unpadded: 6 positions, 1 masked vector", 3, 5, 4, 14, 3, 0},
        {"1x1 on 8x8: 64 positions, unmasked last vectors", 2, 6, 8, 5, 1, 0},
        {"one output channel", 2, 3, 11, 1, 3, 1},
        {"ResNet-20 stage 3, 8x8, 64 outputs: channels in the vector lanes, two K slices", 2, 64, 8, 64, 3, 1},
        {"7x7, 50 outputs in the lanes: 3 whole vectors and 2 lanes", 2, 20, 7, 50, 3, 1},
        {"1x1 on 8x8, 48 outputs in the lanes", 2, 6, 8, 48, 1, 0},
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
            CHECK(core::conv2d_direct_applies(shape, c.outputs) == (kernel != core::GemmKernel::generic));
            CHECK(core::conv2d_channel_vectors_apply(shape, c.outputs) ==
                  (kernel != core::GemmKernel::generic && c.outputs >= 48));
            for (bool faulty : {false, true}) {
                if (faulty) {  // a corner tap (reads padding at the borders) and a middle one
                    weight.data()[0] = inf;
                    weight.data()[(c.outputs - 1) * CKK + CKK / 2] = nan;
                    if (c.outputs > 1) weight.data()[CKK + 1] = -inf;
                }
                for (bool with_bias : {false, true}) {
                    INFO(std::string(core::gemm_kernel_name(kernel)), " ", std::string(c.name), " faulty=", faulty, " bias=", with_bias);
                    const float* b = with_bias ? bias.data() : nullptr;
                    const Tensor expected = plain_conv(x, weight, b, shape, c.outputs);
                    Tensor out = Tensor::empty(expected.shape());
                    core::conv2d_forward(x.data(), weight.data(), b, shape, c.outputs, out.data(), nullptr);
                    CHECK(same_bits(out, expected));
                    // the direct loop itself, also where conv2d_forward does not take it (generic)
                    Tensor direct = Tensor::empty(expected.shape());
                    core::conv2d_forward_direct(x.data(), weight.data(), b, shape, c.outputs, direct.data());
                    if (kernel == core::GemmKernel::generic) CHECK(same_bits_any_nan(direct, expected));
                    else CHECK(same_bits(direct, expected));
                    if (faulty && c.padding > 0) CHECK(std::isnan(expected.data()[0]));  // Inf x the padding's 0
                }
            }
        }
    }
}

TEST_CASE("the direct convolution gives the same bits on 1 and 2 threads") {
    // 24 outputs on 16x16 (whole blocks), 13 outputs on 9x9 (99 positions: a partial last vector),
    // 64 on 8x8 (the channels in the vector lanes)
    const DirectCase cases[] = {
        {"16x16", 5, 16, 16, 24, 3, 1}, {"9x9", 5, 7, 9, 13, 3, 1}, {"8x8, 64 outputs in the lanes", 5, 16, 8, 64, 3, 1}};
    const int saved = core::num_threads();
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        for (const DirectCase& c : cases) {
            INFO(core::gemm_kernel_name(kernel), " ", c.name);
            const core::Im2colShape shape{c.batch, c.channels, c.size, c.size, c.kernel, c.kernel, 1, c.padding};
            const Tensor x = random_tensor({c.batch, c.channels, c.size, c.size}, 101);
            const Tensor weight = random_tensor({c.outputs, shape.col_rows()}, 102);
            const Tensor bias = random_tensor({c.outputs}, 103);
            const core::Shape out_shape{c.batch, c.outputs, shape.out_h(), shape.out_w()};
            Tensor one = Tensor::empty(out_shape), two = Tensor::empty(out_shape);
            // enough work to fork (kConvDirectSerialWork), so 2 threads really split the images
            CHECK(c.outputs * shape.col_rows() * shape.col_cols() > core::kConvDirectSerialWork);
            core::set_num_threads(1);
            core::conv2d_forward(x.data(), weight.data(), bias.data(), shape, c.outputs, one.data(), nullptr);
            core::set_num_threads(2);
            core::conv2d_forward(x.data(), weight.data(), bias.data(), shape, c.outputs, two.data(), nullptr);
            core::set_num_threads(saved);
            CHECK(same_bits(one, two));
            CHECK(same_bits(one, plain_conv(x, weight, bias.data(), shape, c.outputs)));
        }
    }
}

TEST_CASE("the direct path stays off where it does not apply") {
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        INFO(core::gemm_kernel_name(kernel));
        // the avx512 and avx2 kernels' register-blocked loops beat their GEMM there; the generic one's does not
        const bool fast_kernel = kernel != core::GemmKernel::generic;
        CHECK(core::conv2d_direct_applies({2, 16, 32, 32, 3, 3, 1, 1}, 16) == fast_kernel);
        CHECK_FALSE(core::conv2d_direct_applies({2, 16, 32, 32, 3, 3, 2, 1}, 16));  // stride 2
        CHECK(core::conv2d_direct_applies({2, 64, 8, 8, 3, 3, 1, 1}, 64) == fast_kernel);
        CHECK_FALSE(core::conv2d_direct_applies({2, 64, 16, 16, 3, 3, 1, 1}, 128));  // many outputs
    }
}

namespace {

// dx (B,C,H,W) as conv2d_backward's GEMM path computes it: dout permuted to (O, B*OH*OW), one
// core::gemm dcols = weight^T x dout_mat, then col2im.
Tensor plain_input_grad(const Tensor& dout, const Tensor& weight, const core::Im2colShape& shape, int64_t O) {
    const int64_t CKK = shape.col_rows(), N = shape.col_cols(), plane = shape.out_h() * shape.out_w();
    Tensor dout_mat = Tensor::empty({O, N});
    for (int64_t b = 0; b < shape.batch; ++b)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t i = 0; i < plane; ++i)
                dout_mat.data()[o * N + b * plane + i] = dout.data()[(b * O + o) * plane + i];
    Tensor dcols = Tensor::empty({CKK, N});
    core::gemm(true, false, CKK, N, O, 1.0f, weight.data(), CKK, dout_mat.data(), N, 0.0f, dcols.data(), N);
    Tensor dx = Tensor::empty({shape.batch, shape.channels, shape.height, shape.width});
    core::col2im(dcols.data(), shape, dx.data());
    return dx;
}

}  // namespace

TEST_CASE("conv2d_backward's direct input gradient gives GEMM + col2im's bits on every GEMM kernel") {
    const DirectCase cases[] = {
        {"ResNet-20 stage 1, 32x32", 2, 16, 32, 16, 3, 1},
        {"ResNet-20 stage 2, 16x16", 3, 32, 16, 32, 3, 1},
        {"Fashion-MNIST 7x7, 64 channels", 2, 64, 7, 64, 3, 1},
        {"13 input channels: an 8-block, a 4-block, a 1-block", 2, 13, 17, 5, 3, 1},
        {"no padding", 2, 4, 20, 9, 3, 0},
        {"padding 2 around a 3x3 kernel", 2, 6, 9, 7, 3, 2},
        {"5x5, padding 2", 2, 3, 18, 6, 5, 2},
        {"1x1 on 8x8", 2, 6, 8, 5, 1, 0},
        {"one output channel", 2, 3, 11, 1, 3, 1},
        {"400 outputs: two GEMM K slices, not direct", 1, 3, 6, 400, 3, 1},
        {"64 outputs on 16x16: not direct", 1, 5, 16, 64, 3, 1},
        {"3x3 on 3x3", 2, 4, 3, 7, 3, 1},
    };
    uint64_t seed = 1000;
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        for (const DirectCase& c : cases) {
            const core::Im2colShape shape{c.batch, c.channels, c.size, c.size, c.kernel, c.kernel, 1, c.padding};
            const int64_t CKK = shape.col_rows();
            Tensor dout = random_tensor({c.batch, c.outputs, shape.out_h(), shape.out_w()}, seed += 2);
            Tensor weight = random_tensor({c.outputs, CKK}, seed + 1);
            // zeros of both signs in dout and the weights: a sum of +0 and -0 must come out as col2im's
            for (int64_t i = 0; i < dout.numel(); i += 7) dout.data()[i] = i % 2 ? -0.0f : 0.0f;
            for (int64_t i = 0; i < weight.numel(); i += 5) weight.data()[i] = -0.0f;
            const bool direct = kernel != core::GemmKernel::generic && c.outputs <= 32 && c.size * c.size >= 196 &&
                                c.channels >= 3 && c.kernel <= 3;
            for (bool faulty : {false, true}) {
                if (faulty) weight.data()[CKK - 1] = std::numeric_limits<float>::infinity();
                INFO(std::string(core::gemm_kernel_name(kernel)), " ", std::string(c.name), " faulty=", faulty);
                CHECK(core::conv2d_backward_input_direct_applies(shape, c.outputs, weight.data()) == (direct && !faulty));
                const Tensor expected = plain_input_grad(dout, weight, shape, c.outputs);
                Tensor dx = Tensor::empty(expected.shape());
                core::conv2d_backward(dout.data(), nullptr, nullptr, weight.data(), shape, c.outputs, dx.data(), nullptr,
                                      nullptr);
                CHECK(same_bits(dx, expected));
                if (faulty || c.outputs > core::kSgemmKcMax) continue;
                // the per-image kernel itself, also on the kernels conv2d_backward does not take it for
                Tensor direct_dx = Tensor::empty(expected.shape());
                core::conv2d_backward_input_direct(dout.data(), weight.data(), shape, c.outputs, direct_dx.data());
                CHECK(same_bits(direct_dx, expected));
            }
        }
    }
}

TEST_CASE("the direct input gradient of an all-zero dout is +0, as col2im's") {
    // negative weights x a dout of +0 (a dead ReLU's gradient): every tap's sum is -0, and col2im's
    // +0 + -0 + ... is +0
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        INFO(core::gemm_kernel_name(kernel));
        const core::Im2colShape shape{2, 9, 10, 10, 3, 3, 1, 1};
        const int64_t O = 3;
        const Tensor dout = Tensor::zeros({2, O, 10, 10});
        Tensor weight = random_tensor({O, shape.col_rows()}, 2003);
        for (float& w : weight.span()) w = -std::fabs(w) - 0.5f;
        const Tensor expected = plain_input_grad(dout, weight, shape, O);
        CHECK_FALSE(std::signbit(expected.data()[0]));
        Tensor dx = Tensor::empty(expected.shape());
        core::conv2d_backward_input_direct(dout.data(), weight.data(), shape, O, dx.data());
        CHECK(same_bits(dx, expected));
    }
}

TEST_CASE("the direct input gradient gives the same bits on 1 and 2 threads") {
    const core::Im2colShape shape{6, 16, 14, 14, 3, 3, 1, 1};
    const int64_t O = 24;
    const Tensor dout = random_tensor({6, O, 14, 14}, 2001);
    const Tensor weight = random_tensor({O, shape.col_rows()}, 2002);
    CHECK(O * shape.col_rows() * shape.col_cols() > core::kConvDirectSerialWork);
    const int saved = core::num_threads();
    Tensor one = Tensor::empty({6, 16, 14, 14}), two = Tensor::empty({6, 16, 14, 14});
    core::set_num_threads(1);
    core::conv2d_backward_input_direct(dout.data(), weight.data(), shape, O, one.data());
    core::set_num_threads(2);
    core::conv2d_backward_input_direct(dout.data(), weight.data(), shape, O, two.data());
    core::set_num_threads(saved);
    CHECK(same_bits(one, two));
    CHECK(same_bits(one, plain_input_grad(dout, weight, shape, O)));
}
