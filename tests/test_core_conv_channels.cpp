// core::conv2d_channels (the channel-subset convolution of fault campaigns) against autograd::conv2d
// (whose bits test_core_conv2d_direct.cpp ties to im2col + core::sgemm + bias, also where conv2d
// itself runs the direct kernel) bit for bit, on every GEMM kernel this CPU supports: 1x1, 3x3
// stride 2, 5x5 padded, K below, at and above one GEMM K slice (core::sgemm_k_slice), with and
// without bias, channel subsets of every register-block width. If this fails, campaigns still give
// the right numbers (their start-up probe turns the fast path off) but silently run slower.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "core/conv_channels.hpp"
#include "core/core.hpp"
#include "core/rng.hpp"
#include "core/sgemm.hpp"

using namespace proact;
using core::Tensor;

namespace {

Tensor random_tensor(const core::Shape& shape, uint64_t index) {
    core::Rng rng(17, "test-conv-channels", index);
    return Tensor::uniform(shape, -1.0f, 1.0f, rng);
}

struct ConvCase {
    const char* name;
    int64_t batch, channels, size, outputs, kernel, stride, padding;
};

// Whether channels `subset` of conv2d's output equal conv2d_channels' output bit for bit.
bool same_as_conv2d(const ConvCase& c, bool with_bias, const std::vector<int64_t>& subset, uint64_t seed) {
    const Tensor x = random_tensor({c.batch, c.channels, c.size, c.size}, seed);
    const Tensor weight = random_tensor({c.outputs, c.channels, c.kernel, c.kernel}, seed + 1);
    const Tensor bias = with_bias ? random_tensor({c.outputs}, seed + 2) : Tensor();
    const Tensor full =
        autograd::conv2d(autograd::Variable(x), autograd::Variable(weight),
                         with_bias ? autograd::Variable(bias) : autograd::Variable(), c.stride, c.padding)
            .value()
            .contiguous();
    const Tensor part = core::conv2d_channels(x, weight, bias, c.stride, c.padding, subset);
    const int64_t S = static_cast<int64_t>(subset.size());
    if (part.shape() != core::Shape{c.batch, S, full.size(2), full.size(3)}) return false;
    const int64_t plane = full.size(2) * full.size(3);
    for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t j = 0; j < S; ++j)
            if (std::memcmp(part.data() + (b * S + j) * plane,
                            full.data() + (b * c.outputs + subset[static_cast<size_t>(j)]) * plane,
                            static_cast<size_t>(plane) * sizeof(float)) != 0)
                return false;
    return true;
}

}  // namespace

TEST_CASE("conv2d_channels gives conv2d's bits on every GEMM kernel") {
    // K = channels * kernel^2 against one slice of core::sgemm_k_slice (384)
    const ConvCase cases[] = {
        {"1x1", 3, 16, 9, 12, 1, 1, 0},                   // K = 16
        {"3x3 stride 2", 2, 8, 15, 10, 3, 2, 1},          // K = 72, row-by-row path
        {"5x5 padded", 2, 6, 12, 9, 5, 1, 2},             // K = 150, LeNet-like
        {"3x3 K above a slice", 2, 48, 8, 7, 3, 1, 1},    // K = 432: two slices of 216
        {"1x1 K = one slice", 1, 384, 5, 5, 1, 1, 0},     // K = 384 exactly
        {"3x3 K above, stride 2", 2, 64, 9, 6, 3, 2, 0},  // K = 576: two slices of 288
        {"5x5 K far above", 1, 40, 9, 4, 5, 1, 2},        // K = 1000: three slices
        {"3x3 8x8, 56 outputs", 2, 32, 8, 56, 3, 1, 1},   // all 56: the channels in the vector lanes
    };
    for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
        const core::GemmKernelScope scope(kernel);
        uint64_t seed = 0;
        for (const ConvCase& c : cases) {
            std::vector<int64_t> all, strided;
            for (int64_t o = 0; o < c.outputs; ++o) all.push_back(o);
            for (int64_t o = 1; o < c.outputs; o += 2) strided.push_back(o);
            // one channel, the last, a strided run, five (a block of 4 and 1), all, a repeat out of order
            const std::vector<std::vector<int64_t>> subsets = {
                {0}, {c.outputs - 1}, strided, {0, 1, 2, 3, c.outputs - 1}, all, {c.outputs - 1, 0, 0}};
            for (bool with_bias : {false, true})
                for (const std::vector<int64_t>& subset : subsets) {
                    INFO(core::gemm_kernel_name(kernel), " ", c.name, " bias=", with_bias, " channels=", subset.size());
                    CHECK(same_as_conv2d(c, with_bias, subset, seed += 3));
                }
        }
    }
}

TEST_CASE("conv2d_channels and gather_rows refuse inputs that do not fit") {
    const Tensor x = Tensor::zeros({1, 3, 6, 6}), weight = Tensor::zeros({4, 3, 3, 3});
    CHECK(core::conv2d_channels(x, weight, Tensor(), 1, 0, {1, 2}).shape() == core::Shape{1, 2, 4, 4});
    CHECK_THROWS_AS(core::conv2d_channels(x, Tensor::zeros({4, 2, 3, 3}), Tensor(), 1, 0, {0}), core::ShapeError);
    CHECK_THROWS_AS(core::conv2d_channels(x, weight, Tensor::zeros({3}), 1, 0, {0}), core::ShapeError);
    CHECK_THROWS_AS(core::conv2d_channels(x, weight, Tensor(), 1, 0, {4}), core::IndexError);
    CHECK_THROWS_AS(core::conv2d_channels(x, weight, Tensor(), 0, 0, {0}), core::ValueError);
    CHECK_THROWS_AS(core::conv2d_channels(x, Tensor::zeros({4, 3, 9, 9}), Tensor(), 1, 0, {0}), core::ShapeError);

    const Tensor rows = Tensor::from_vector({3, 2}, {1, 2, 3, 4, 5, 6});
    CHECK(core::gather_rows(rows, {2, 0}).to_vector() == std::vector<float>{5, 6, 1, 2});
    CHECK(core::gather_rows(Tensor::from_vector({3}, {7, 8, 9}), {1}).to_vector() == std::vector<float>{8});
    CHECK_THROWS_AS(core::gather_rows(rows, {3}), core::IndexError);
}
