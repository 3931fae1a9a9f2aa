// conv2d and its kernels: im2col/col2im, forward values (hand-computed and against a direct
// double-precision convolution), gradients (gradcheck on every input), saved-vs-recomputed columns,
// NoGradGuard, thread-count independence and the error messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "core/im2col.hpp"
#include "core/sgemm.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;

namespace {

Tensor random_tensor(const Shape& shape, uint64_t index) {
    core::Rng rng(7, "test_ops_conv", index);
    return Tensor::normal(shape, 0.0f, 1.0f, rng);
}

// Direct convolution in double: x (B,C,H,W), weight (O,C,KH,KW), bias (O) or undefined.
Tensor reference_conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t O = weight.size(0), KH = weight.size(2), KW = weight.size(3);
    const int64_t OH = (H + 2 * padding - KH) / stride + 1, OW = (W + 2 * padding - KW) / stride + 1;
    Tensor out = Tensor::empty({B, O, OH, OW});
    for (int64_t b = 0; b < B; ++b)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                    double total = bias.defined() ? bias.at({o}) : 0.0;
                    for (int64_t c = 0; c < C; ++c)
                        for (int64_t kh = 0; kh < KH; ++kh)
                            for (int64_t kw = 0; kw < KW; ++kw) {
                                const int64_t ih = oh * stride - padding + kh, iw = ow * stride - padding + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                total += double(x.at({b, c, ih, iw})) * double(weight.at({o, c, kh, kw}));
                            }
                    out.at({b, o, oh, ow}) = static_cast<float>(total);
                }
    return out;
}

struct ConvCase {
    Shape x_shape;
    Shape weight_shape;
    bool with_bias;
    int64_t stride;
    int64_t padding;
};

std::string describe(const ConvCase& c) {
    return "x " + core::shape_str(c.x_shape) + " w " + core::shape_str(c.weight_shape) +
           (c.with_bias ? " bias" : " no bias") + " stride " + std::to_string(c.stride) + " padding " +
           std::to_string(c.padding);
}

// Square-kernel layouts for the im2col / col2im formula tests: output planes of 1 to 64 positions
// (the small-plane loops) and larger, strides 1 and 2, padding past the kernel, a 1x1 kernel.
struct LayoutCase {
    Shape x_shape;
    int64_t kernel, stride, padding;
};
std::vector<LayoutCase> layout_cases() {
    return {
        {{3, 4, 2, 2}, 3, 1, 1}, {{2, 5, 4, 4}, 3, 1, 1}, {{2, 3, 8, 8}, 3, 1, 1},   {{2, 6, 12, 12}, 5, 1, 0},
        {{2, 2, 9, 9}, 3, 1, 1}, {{2, 3, 7, 7}, 3, 2, 1}, {{2, 2, 16, 15}, 3, 2, 2}, {{3, 2, 1, 1}, 3, 1, 1},
        {{1, 2, 5, 5}, 1, 1, 0},
    };
}

core::Im2colShape im2col_shape(const Shape& x_shape, int64_t kernel_h, int64_t kernel_w, int64_t stride,
                               int64_t padding) {
    core::Im2colShape s;
    s.batch = x_shape[0];
    s.channels = x_shape[1];
    s.height = x_shape[2];
    s.width = x_shape[3];
    s.kernel_h = kernel_h;
    s.kernel_w = kernel_w;
    s.stride = stride;
    s.padding = padding;
    return s;
}

// Every entry of the (C*K*K, B*OH*OW) columns of layout c, in (b, channel, kh, kw, oh, ow) order
// (so each pixel's entries come in (kh, kw) order), with the pixel core/im2col.hpp's formula names
// for it: visit(b, channel, ih, iw, inside, row, column); ih, iw are outside the image when
// inside is false (padding).
template <class Visit>
void for_each_column_entry(const LayoutCase& c, const core::Im2colShape& s, Visit visit) {
    const int64_t OH = s.out_h(), OW = s.out_w();
    for (int64_t b = 0; b < s.batch; ++b)
        for (int64_t ch = 0; ch < s.channels; ++ch)
            for (int64_t kh = 0; kh < c.kernel; ++kh)
                for (int64_t kw = 0; kw < c.kernel; ++kw)
                    for (int64_t oh = 0; oh < OH; ++oh)
                        for (int64_t ow = 0; ow < OW; ++ow) {
                            const int64_t ih = oh * c.stride - c.padding + kh, iw = ow * c.stride - c.padding + kw;
                            const bool inside = ih >= 0 && ih < s.height && iw >= 0 && iw < s.width;
                            visit(b, ch, ih, iw, inside, (ch * c.kernel + kh) * c.kernel + kw, b * OH * OW + oh * OW + ow);
                        }
}

}  // namespace

TEST_CASE("conv2d: hand-computed 1-channel 3x3 input, 2x2 kernel, stride 2, padding 1") {
    // padded input            windows (top-left at rows/cols 0 and 2)
    //   0 0 0 0 0             [0 0; 0 1] . [1 2; 3 4] = 4      [0 0; 2 3] . k = 6 + 12 = 18
    //   0 1 2 3 0             [0 4; 0 7] . k = 8 + 28 = 36     [5 6; 8 9] . k = 5+12+24+36 = 77
    //   0 4 5 6 0
    //   0 7 8 9 0
    //   0 0 0 0 0
    Variable x(Tensor::from_vector({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
    Variable weight(Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}));
    Variable bias(Tensor::from_vector({1}, {0.5f}));
    const Variable y = autograd::conv2d(x, weight, bias, 2, 1);
    CHECK(y.shape() == Shape{1, 1, 2, 2});
    CHECK(y.value().to_vector() == std::vector<float>{4.5f, 18.5f, 36.5f, 77.5f});

    const Variable no_bias = autograd::conv2d(x, weight, Variable(), 2, 1);
    CHECK(no_bias.value().to_vector() == std::vector<float>{4, 18, 36, 77});
}

TEST_CASE("conv2d: matches a direct convolution, including edge cases") {
    const std::vector<ConvCase> cases = {
        {{2, 3, 5, 5}, {4, 3, 3, 3}, true, 1, 1},     // the common 3x3 "same" conv
        {{2, 3, 7, 6}, {2, 3, 3, 2}, false, 2, 0},    // non-square kernel and input, stride 2
        {{2, 4, 5, 5}, {3, 4, 1, 1}, true, 1, 0},     // 1x1 conv
        {{1, 2, 4, 4}, {2, 2, 2, 2}, true, 1, 3},     // padding larger than the kernel: all-padding windows
        {{2, 2, 9, 9}, {3, 2, 2, 2}, true, 3, 1},     // stride larger than the kernel: skipped pixels
        {{3, 1, 12, 12}, {2, 1, 5, 5}, true, 1, 2},   // LeNet conv1-like
        {{1, 1, 1, 1}, {1, 1, 3, 3}, false, 1, 1},    // one pixel, kernel all around it
    };
    uint64_t seed = 0;
    for (const ConvCase& c : cases) {
        CAPTURE(describe(c));
        const Tensor x = random_tensor(c.x_shape, seed++);
        const Tensor weight = random_tensor(c.weight_shape, seed++);
        const Tensor bias = c.with_bias ? random_tensor({c.weight_shape[0]}, seed++) : Tensor();
        const Variable y = autograd::conv2d(Variable(x), Variable(weight), c.with_bias ? Variable(bias) : Variable(),
                                            c.stride, c.padding);
        const Tensor expected = reference_conv2d(x, weight, bias, c.stride, c.padding);
        REQUIRE(y.shape() == expected.shape());
        CHECK(core::max_abs_diff(y.value(), expected) < 1e-5f);
    }
}

TEST_CASE("conv2d: non-contiguous input and weight views give the same result") {
    const Tensor x = random_tensor({2, 3, 5, 4}, 100);
    const Tensor weight = random_tensor({4, 3, 3, 3}, 101);
    const Tensor x_view = x.transpose(2, 3).contiguous().transpose(2, 3);  // same values, strided
    REQUIRE_FALSE(x_view.is_contiguous());
    const Variable a = autograd::conv2d(Variable(x), Variable(weight), Variable(), 1, 1);
    const Variable b = autograd::conv2d(Variable(x_view), Variable(weight), Variable(), 1, 1);
    CHECK(core::equal(a.value(), b.value()));
}

TEST_CASE("im2col and col2im are adjoint: <im2col(x), y> == <x, col2im(y)>") {
    struct Case {
        Shape x_shape;
        int64_t kernel_h, kernel_w, stride, padding;
    };
    const std::vector<Case> cases = {
        {{2, 3, 5, 5}, 3, 3, 1, 1}, {{2, 2, 7, 6}, 3, 2, 2, 0}, {{1, 2, 4, 4}, 2, 2, 1, 3},
        {{2, 2, 9, 9}, 2, 2, 3, 1}, {{3, 1, 6, 5}, 5, 5, 2, 2},
    };
    uint64_t seed = 200;
    for (const Case& c : cases) {
        const core::Im2colShape s = im2col_shape(c.x_shape, c.kernel_h, c.kernel_w, c.stride, c.padding);
        CAPTURE(core::shape_str(c.x_shape));
        CAPTURE(c.stride);
        CAPTURE(c.padding);
        const Tensor x = random_tensor(c.x_shape, seed++);
        const Tensor y = random_tensor({s.col_rows(), s.col_cols()}, seed++);
        Tensor cols = Tensor::empty({s.col_rows(), s.col_cols()});
        core::im2col(x.data(), s, cols.data());
        Tensor image = Tensor::empty(c.x_shape);
        core::col2im(y.data(), s, image.data());
        double lhs = 0.0, rhs = 0.0;
        for (int64_t i = 0; i < cols.numel(); ++i) lhs += double(cols.data()[i]) * double(y.data()[i]);
        for (int64_t i = 0; i < x.numel(); ++i) rhs += double(x.data()[i]) * double(image.data()[i]);
        CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
    }
}

TEST_CASE("im2col: every entry is the pixel the layout formula names, on small and large planes") {
    // Output planes of up to 64 positions are written a row of cols at a time, larger ones a plane
    // at a time (core/im2col.cpp); both must give exactly the formula of core/im2col.hpp.
    uint64_t seed = 900;
    for (const LayoutCase& c : layout_cases()) {
        const core::Im2colShape s = im2col_shape(c.x_shape, c.kernel, c.kernel, c.stride, c.padding);
        CAPTURE(core::shape_str(c.x_shape));
        CAPTURE(c.kernel);
        const Tensor x = random_tensor(c.x_shape, seed++);
        Tensor cols = Tensor::full({s.col_rows(), s.col_cols()}, 12345.0f);
        core::im2col(x.data(), s, cols.data());
        int64_t wrong = 0;
        for_each_column_entry(c, s, [&](int64_t b, int64_t ch, int64_t ih, int64_t iw, bool inside, int64_t row,
                                        int64_t column) {
            wrong += cols.at({row, column}) != (inside ? x.at({b, ch, ih, iw}) : 0.0f);
        });
        CHECK(wrong == 0);
    }
}

TEST_CASE("col2im: every pixel is its column entries summed tap by tap from +0, on small and large planes") {
    // The order the backward pass's bits depend on: planes of up to 64 output positions take a
    // table-driven loop, larger ones a padded plane (core/im2col.cpp); both must sum each pixel's
    // entries in (kh, kw) order starting from +0. NaN, Inf and -0 among the entries.
    uint64_t seed = 990;
    for (const LayoutCase& c : layout_cases()) {
        const core::Im2colShape s = im2col_shape(c.x_shape, c.kernel, c.kernel, c.stride, c.padding);
        CAPTURE(core::shape_str(c.x_shape));
        CAPTURE(c.kernel);
        Tensor cols = random_tensor({s.col_rows(), s.col_cols()}, seed++);
        cols.data()[1] = -0.0f;
        cols.data()[cols.numel() / 3] = INFINITY;
        cols.data()[cols.numel() / 2] = NAN;
        Tensor image = Tensor::full(c.x_shape, 123.0f), expected = Tensor::zeros(c.x_shape);
        core::col2im(cols.data(), s, image.data());
        for_each_column_entry(c, s, [&](int64_t b, int64_t ch, int64_t ih, int64_t iw, bool inside, int64_t row,
                                        int64_t column) {
            if (inside) expected.at({b, ch, ih, iw}) += cols.at({row, column});
        });
        CHECK(std::memcmp(image.data(), expected.data(), sizeof(float) * size_t(image.numel())) == 0);
    }
}

TEST_CASE("Im2colSource: the GEMM on columns gathered into its panels has the bits of im2col then sgemm") {
    // Planes of 1 to 4,096 output positions, strides 1 and 2, 1x1 to 5x5 kernels; K slices of one
    // and several panels; groups that start inside an image (first_column); columns that end
    // inside a panel and inside a vector. Inf, NaN and -0 in the image. Each kernel, 1 and 2 threads.
    struct Case {
        Shape x_shape;
        int64_t kernel, stride, padding, outputs, first_image, images;
    };
    const std::vector<Case> cases = {
        {{6, 40, 2, 2}, 3, 1, 1, 56, 0, 6},   {{5, 30, 4, 4}, 3, 1, 1, 64, 1, 3},  {{3, 20, 8, 8}, 3, 1, 1, 70, 1, 2},
        {{4, 9, 7, 7}, 3, 2, 1, 50, 2, 2},    {{2, 3, 9, 9}, 5, 1, 2, 49, 0, 2},   {{7, 24, 3, 3}, 1, 1, 0, 65, 3, 4},
        {{1, 2, 64, 64}, 3, 1, 1, 60, 0, 1},  {{3, 5, 1, 1}, 3, 1, 1, 57, 0, 3},
    };
    uint64_t seed = 950;
    for (const Case& c : cases) {
        const core::Im2colShape s = im2col_shape(c.x_shape, c.kernel, c.kernel, c.stride, c.padding);
        CAPTURE(core::shape_str(c.x_shape));
        CAPTURE(c.kernel);
        Tensor x = random_tensor(c.x_shape, seed++);
        x.data()[0] = INFINITY;
        x.data()[x.numel() / 2] = NAN;
        x.data()[x.numel() - 1] = -0.0f;
        const Tensor weight = random_tensor({c.outputs, s.col_rows()}, seed++);
        const int64_t plane = s.out_h() * s.out_w(), columns = c.images * plane;
        core::Im2colShape group = s;
        group.batch = c.images;
        Tensor cols = Tensor::empty({s.col_rows(), columns});
        core::im2col(x.data() + c.first_image * s.channels * s.height * s.width, group, cols.data());
        const core::Im2colSource source(x.data(), s);
        for (core::GemmKernel kernel : core::supported_gemm_kernels()) {
            const core::GemmKernelScope scope(kernel);
            CAPTURE(core::gemm_kernel_name(kernel));
            for (int threads : {1, 2}) {
                CAPTURE(threads);
                const int threads_before = core::num_threads();
                core::set_num_threads(threads);
                Tensor stored = Tensor::full({c.outputs, columns}, 7.0f), gathered = Tensor::full({c.outputs, columns}, 9.0f);
                core::sgemm(false, false, c.outputs, columns, s.col_rows(), 1.0f, weight.data(), s.col_rows(), cols.data(),
                            columns, 0.0f, stored.data(), columns);
                core::sgemm_from_source(c.outputs, columns, s.col_rows(), weight.data(), s.col_rows(),
                                        source.operand(c.first_image * plane), gathered.data(), columns);
                core::set_num_threads(threads_before);
                CHECK(std::memcmp(stored.data(), gathered.data(), sizeof(float) * size_t(stored.numel())) == 0);
            }
        }
    }
    const core::Im2colShape too_large = im2col_shape({1, 1, 65, 64}, 1, 1, 1, 0);
    CHECK_THROWS_WITH_AS(core::Im2colSource(nullptr, too_large), doctest::Contains("65x64"), core::ValueError);
}

TEST_CASE("im2col: column layout with the batch folded into columns") {
    // x (2,1,2,2) = images [1 2; 3 4] and [5 6; 7 8]; 1x1 kernel, padding 1, stride 2 -> OH = OW = 2,
    // reading padded positions (0,0), (0,2), (2,0), (2,2) = original (-1,-1), (-1,1), (1,-1), (1,1).
    const Tensor x = Tensor::from_vector({2, 1, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    const core::Im2colShape s = im2col_shape(x.shape(), 1, 1, 2, 1);
    Tensor cols = Tensor::empty({s.col_rows(), s.col_cols()});
    core::im2col(x.data(), s, cols.data());
    CHECK(cols.shape() == Shape{1, 8});
    CHECK(cols.to_vector() == std::vector<float>{0, 0, 0, 4, 0, 0, 0, 8});
}

TEST_CASE("conv2d: gradcheck on x, weight and bias") {
    const std::vector<ConvCase> cases = {
        {{2, 3, 5, 5}, {4, 3, 3, 3}, true, 1, 1},
        {{2, 3, 6, 6}, {4, 3, 3, 3}, false, 2, 0},
        {{1, 2, 5, 5}, {3, 2, 2, 2}, true, 3, 2},   // stride and padding both larger than the kernel
        {{2, 2, 4, 3}, {3, 2, 1, 1}, true, 1, 0},   // 1x1
    };
    uint64_t seed = 300;
    for (const ConvCase& c : cases) {
        CAPTURE(describe(c));
        std::vector<Tensor> inputs{random_tensor(c.x_shape, seed++), random_tensor(c.weight_shape, seed++)};
        if (c.with_bias) inputs.push_back(random_tensor({c.weight_shape[0]}, seed++));
        const auto result = autograd::gradcheck(
            [&c](const std::vector<Variable>& in) {
                return autograd::conv2d(in[0], in[1], c.with_bias ? in[2] : Variable(), c.stride, c.padding);
            },
            inputs);
        CHECK_MESSAGE(result.ok, result.message);
    }
}

TEST_CASE("conv2d: gradients only for the inputs that require them") {
    const Tensor x = random_tensor({2, 3, 6, 5}, 400);
    const Tensor weight = random_tensor({4, 3, 3, 3}, 401);
    const Tensor bias = random_tensor({4}, 402);
    const Tensor dout = random_tensor({2, 4, 3, 3}, 403);

    Variable x_all(x, true), weight_all(weight, true), bias_all(bias, true);
    autograd::conv2d(x_all, weight_all, bias_all, 2, 1).backward(dout);

    Variable x_only(x, true), weight_fixed(weight, false), bias_fixed(bias, false);
    autograd::conv2d(x_only, weight_fixed, bias_fixed, 2, 1).backward(dout);
    CHECK_FALSE(weight_fixed.has_grad());
    CHECK_FALSE(bias_fixed.has_grad());
    REQUIRE(x_only.has_grad());
    CHECK(core::equal(x_only.grad(), x_all.grad()));

    Variable x_fixed(x, false), weight_only(weight, true);
    autograd::conv2d(x_fixed, weight_only, Variable(), 2, 1).backward(dout);
    CHECK_FALSE(x_fixed.has_grad());
    REQUIRE(weight_only.has_grad());
    CHECK(core::equal(weight_only.grad(), weight_all.grad()));

    // dbias is the sum of dout over B, OH, OW
    for (int64_t o = 0; o < 4; ++o) {
        double expected = 0.0;
        for (int64_t b = 0; b < 2; ++b)
            for (int64_t i = 0; i < 3; ++i)
                for (int64_t j = 0; j < 3; ++j) expected += dout.at({b, o, i, j});
        CHECK(bias_all.grad().at({o}) == doctest::Approx(expected).epsilon(1e-6));
    }
}

TEST_CASE("conv2d: large inputs rebuild the columns in backward and get the same gradients") {
    // cols (16*3*3, 64*32*32) floats = 37.7 MB > 32 MiB: backward recomputes them from x. The same
    // batch in four chunks of 16 keeps its columns; dweight is the sum over chunks.
    const Tensor x = random_tensor({64, 16, 32, 32}, 500);
    const Tensor weight = random_tensor({4, 16, 3, 3}, 501);
    const Tensor dout = random_tensor({64, 4, 32, 32}, 502);
    Variable x_var(x, true), weight_var(weight, true);
    autograd::conv2d(x_var, weight_var, Variable(), 1, 1).backward(dout);

    Tensor dweight_chunks = Tensor::zeros(weight.shape());
    for (int64_t start = 0; start < 64; start += 16) {
        Variable x_chunk(x.slice(start, start + 16).contiguous(), true);
        Variable weight_chunk(weight, true);
        autograd::conv2d(x_chunk, weight_chunk, Variable(), 1, 1).backward(dout.slice(start, start + 16).contiguous());
        for (int64_t i = 0; i < weight.numel(); ++i) dweight_chunks.data()[i] += weight_chunk.grad().data()[i];
        // dx of a chunk is exactly the matching slice of dx: it does not depend on the columns
        CHECK(core::equal(x_chunk.grad(), x_var.grad().slice(start, start + 16).contiguous()));
    }
    // |dweight| ~ sqrt(65536) ~ 256: a relative float tolerance
    CHECK(core::max_abs_diff(weight_var.grad(), dweight_chunks) < 2e-2f);
}

TEST_CASE("conv2d: no graph under NoGradGuard or when nothing requires a gradient") {
    Variable x(random_tensor({1, 2, 4, 4}, 600), true);
    Variable weight(random_tensor({3, 2, 3, 3}, 601), true);
    Variable bias(random_tensor({3}, 602), true);
    {
        autograd::NoGradGuard guard;
        const Variable y = autograd::conv2d(x, weight, bias, 1, 1);
        CHECK(y.node() == nullptr);
        CHECK_FALSE(y.requires_grad());
    }
    const Variable y = autograd::conv2d(x.detach(), weight.detach(), bias.detach(), 1, 1);
    CHECK(y.node() == nullptr);
    const Variable z = autograd::conv2d(x, weight, bias, 1, 1);
    CHECK(z.node() != nullptr);
    CHECK(z.requires_grad());
}

TEST_CASE("conv2d: results do not depend on the thread count") {
    struct Case {
        Shape x_shape, weight_shape;
        int64_t padding;
    };
    // several image groups per call; saved and rebuilt columns (the second case's cols are 37.7 MB)
    // ... and a weight gradient of 2 x 2 reduction tiles over 3 slots (40 outputs, 45 taps); and
    // one group of images for the whole batch (2x2 planes), where each GEMM threads on its own
    const std::vector<Case> cases = {{{8, 6, 14, 14}, {16, 6, 5, 5}, 0},
                                     {{64, 16, 32, 32}, {8, 16, 3, 3}, 1},
                                     {{16, 5, 9, 9}, {40, 5, 3, 3}, 1},
                                     {{32, 64, 2, 2}, {96, 64, 3, 3}, 1}};
    uint64_t seed = 700;
    for (const Case& c : cases) {
        CAPTURE(core::shape_str(c.x_shape));
        const Tensor x = random_tensor(c.x_shape, seed++);
        const Tensor weight = random_tensor(c.weight_shape, seed++);
        const Tensor bias = random_tensor({c.weight_shape[0]}, seed++);
        const int64_t out_size = c.x_shape[2] + 2 * c.padding - c.weight_shape[2] + 1;
        const Tensor dout = random_tensor({c.x_shape[0], c.weight_shape[0], out_size, out_size}, seed++);
        const int threads_before = core::num_threads();
        std::vector<Tensor> results[2];
        for (int run = 0; run < 2; ++run) {
            core::set_num_threads(run + 1);
            Variable xv(x, true), wv(weight, true), bv(bias, true);
            Variable y = autograd::conv2d(xv, wv, bv, 1, c.padding);
            results[run] = {y.value()};
            y.backward(dout);
            results[run].push_back(xv.grad());
            results[run].push_back(wv.grad());
            results[run].push_back(bv.grad());
            autograd::NoGradGuard no_grad;  // inference: no saved columns, the direct path where it applies
            results[run].push_back(autograd::conv2d(Variable(x), Variable(weight), Variable(bias), 1, c.padding).value());
        }
        core::set_num_threads(threads_before);
        CHECK(core::equal(results[0][0], results[0][4]));  // training and inference forward agree
        for (size_t i = 0; i < results[0].size(); ++i) {
            CAPTURE(i);
            CHECK(core::equal(results[0][i], results[1][i]));
        }
    }
}

TEST_CASE("conv2d: the weight gradient of many outputs and slots matches a double-precision sum") {
    // 40 outputs x 45 taps: the per-slot partials are (taps, outputs) and reduced in 32 x 32 tiles,
    // ragged at both edges; 16 images of 9x9 make 3 groups, so 3 slots are summed
    const Tensor x = random_tensor({16, 5, 9, 9}, 800);
    const Tensor weight = random_tensor({40, 5, 3, 3}, 801);
    const Tensor dout = random_tensor({16, 40, 9, 9}, 802);
    Variable xv(x, true), wv(weight, true);
    autograd::conv2d(xv, wv, Variable(), 1, 1).backward(dout);
    double worst = 0.0;
    for (int64_t o = 0; o < 40; ++o)
        for (int64_t c = 0; c < 5; ++c)
            for (int64_t kh = 0; kh < 3; ++kh)
                for (int64_t kw = 0; kw < 3; ++kw) {
                    double total = 0.0;
                    for (int64_t b = 0; b < 16; ++b)
                        for (int64_t oh = 0; oh < 9; ++oh)
                            for (int64_t ow = 0; ow < 9; ++ow) {
                                const int64_t ih = oh - 1 + kh, iw = ow - 1 + kw;
                                if (ih < 0 || ih >= 9 || iw < 0 || iw >= 9) continue;
                                total += double(dout.at({b, o, oh, ow})) * double(x.at({b, c, ih, iw}));
                            }
                    worst = std::max(worst, std::fabs(total - double(wv.grad().at({o, c, kh, kw}))));
                }
    CHECK(worst < 1e-3);  // sums of ~1,300 products of N(0,1) values, |dweight| ~ 36
}

TEST_CASE("conv2d: invalid arguments throw typed errors naming the problem") {
    Variable x(Tensor::zeros({2, 3, 8, 8}));
    Variable weight(Tensor::zeros({4, 3, 3, 3}));
    Variable bias(Tensor::zeros({4}));
    auto message_of = [](auto&& call) -> std::string {
        try {
            call();
        } catch (const core::Error& error) {
            return error.what();
        }
        return "no error";
    };

    CHECK_THROWS_AS(autograd::conv2d(x, Variable(Tensor::zeros({4, 1, 3, 3})), bias), core::ShapeError);
    CHECK(message_of([&] { autograd::conv2d(x, Variable(Tensor::zeros({4, 1, 3, 3})), bias); }) ==
          "conv2d: input has 3 channels, weight expects 1");
    CHECK_THROWS_AS(autograd::conv2d(Variable(Tensor::zeros({3, 8, 8})), weight, bias), core::ShapeError);
    CHECK(message_of([&] { autograd::conv2d(Variable(Tensor::zeros({3, 8, 8})), weight, bias); })
              .find("input must be 4-D") != std::string::npos);
    CHECK_THROWS_AS(autograd::conv2d(x, Variable(Tensor::zeros({4, 3, 9})), bias), core::ShapeError);
    CHECK_THROWS_AS(autograd::conv2d(x, weight, Variable(Tensor::zeros({5}))), core::ShapeError);
    CHECK(message_of([&] { autograd::conv2d(x, weight, Variable(Tensor::zeros({5}))); }) ==
          "conv2d: bias has shape [5], expected [4] (one per output channel)");
    CHECK_THROWS_AS(autograd::conv2d(x, weight, bias, 0, 1), core::ValueError);
    CHECK_THROWS_AS(autograd::conv2d(x, weight, bias, 1, -1), core::ValueError);
    CHECK_THROWS_AS(autograd::conv2d(Variable(Tensor::zeros({1, 3, 2, 2})), weight, bias, 1, 0), core::ShapeError);
    CHECK(message_of([&] { autograd::conv2d(Variable(Tensor::zeros({1, 3, 2, 2})), weight, bias, 1, 0); })
              .find("kernel 3x3 is larger than the padded input 2x2") != std::string::npos);
    // padding makes it fit
    CHECK(autograd::conv2d(Variable(Tensor::zeros({1, 3, 2, 2})), weight, bias, 1, 1).shape() == Shape{1, 4, 2, 2});
}
