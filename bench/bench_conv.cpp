// conv2d forward and backward at the shapes of LeNet-5 (batch 64) and ResNet-20 (batch 128), on 2
// threads. Prints milliseconds per forward and per backward and the GFLOP/s they achieve
// (forward 2*B*O*OH*OW*C*KH*KW flops; backward twice that: dweight and dx, dbias is negligible).
//
//   ./bench_conv [iterations]      (a busy machine shows in the gap between best and mean)
//   ./bench_conv direct [rounds]   forward only, 1 thread, batch 64: the direct convolution
//                                  (core::conv2d_forward_direct) against im2col + GEMM, interleaved,
//                                  on the GEMM kernel in use (PROACT_GEMM_KERNEL=avx2 forces AVX2),
//                                  and what core::conv2d_forward takes (conv2d_direct_applies)
//   ./bench_conv dx [rounds]       the same for conv2d_backward's input gradient: GEMM + col2im
//                                  against core::conv2d_backward_input_direct
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "core/conv2d.hpp"
#include "core/conv_channels.hpp"
#include "core/gemm.hpp"
#include "core/im2col.hpp"
#include "core/tensor.hpp"
#include "core/sgemm.hpp"
#include "core/threads.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;

namespace {

struct ConvShape {
    const char* name;
    Shape x_shape;       // (B,C,H,W)
    Shape weight_shape;  // (O,C,KH,KW)
    int64_t stride;
    int64_t padding;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// core::conv2d_forward's im2col + GEMM path as it runs on one thread: groups of whole images of
// about kConvGroupColumns columns, each im2col'd, multiplied and scattered with the bias.
//   cols (CKK, group columns), out_mat (O, group columns) scratch
// fn(first, images, group_shape, columns) for each group of whole images of about
// kConvGroupColumns columns, as conv2d's loops cut the batch.
template <class Fn>
void for_each_group(const core::Im2colShape& shape, Fn fn) {
    const int64_t plane_out = shape.out_h() * shape.out_w();
    const int64_t per_group = std::max<int64_t>(1, core::kConvGroupColumns / plane_out);
    for (int64_t first = 0; first < shape.batch; first += per_group) {
        core::Im2colShape group_shape = shape;
        group_shape.batch = std::min(per_group, shape.batch - first);
        fn(first, group_shape.batch, group_shape, group_shape.batch * plane_out);
    }
}

void gemm_path(const float* x, const float* weight, const float* bias, const core::Im2colShape& shape, int64_t O,
               float* out, float* cols, float* out_mat) {
    const int64_t CKK = shape.col_rows(), plane_out = shape.out_h() * shape.out_w();
    const int64_t plane_in = shape.channels * shape.height * shape.width;
    for_each_group(shape, [&](int64_t first, int64_t images, const core::Im2colShape& group_shape, int64_t columns) {
        core::im2col(x + first * plane_in, group_shape, cols);
        core::gemm(false, false, O, columns, CKK, 1.0f, weight, CKK, cols, columns, 0.0f, out_mat, columns);
        for (int64_t image = 0; image < images; ++image)
            for (int64_t o = 0; o < O; ++o)
                for (int64_t i = 0; i < plane_out; ++i)
                    out[((first + image) * O + o) * plane_out + i] =
                        out_mat[o * columns + image * plane_out + i] + bias[o];
    });
}

// The stride-1 layers both comparisons time, batch 64.
struct Layer {
    const char* name;
    int64_t C, H, O, kernel, padding;
};
const Layer kLayers[] = {
    {"resnet20 stem", 3, 32, 16, 3, 1},   {"resnet20 16ch", 16, 32, 16, 3, 1}, {"resnet20 32ch", 32, 16, 32, 3, 1},
    {"resnet20 64ch", 64, 8, 64, 3, 1},   {"fmnist stem", 1, 28, 16, 3, 1},    {"fmnist 16ch", 16, 28, 16, 3, 1},
    {"fmnist 32ch", 32, 14, 32, 3, 1},    {"fmnist 64ch", 64, 7, 64, 3, 1},    {"lenet conv1", 1, 28, 6, 5, 2},
    {"lenet conv2", 6, 14, 16, 5, 0},     {"vgg 3->64", 3, 32, 64, 3, 1},      {"vgg 64->64", 64, 32, 64, 3, 1},
    {"vgg 64->128", 64, 16, 128, 3, 1},   {"vgg 128->128", 128, 16, 128, 3, 1}, {"vgg 128->256", 128, 8, 256, 3, 1},
    {"vgg 256->256", 256, 8, 256, 3, 1},  {"vgg 256->512", 256, 4, 512, 3, 1}, {"vgg 512->512", 512, 2, 512, 3, 1},
};

// One thread, the header of a comparison's table; returns the batch (64).
int64_t start_comparison(const char* what, const char* other, const char* takes, int rounds) {
    core::set_num_threads(1);
    std::printf("%s, 1 thread, batch 64, best of %d interleaved rounds, GEMM kernel %s\n", what, rounds,
                core::sgemm_kernel_name());
    std::printf("%-14s %-16s %-14s %10s %10s %8s %s\n", "layer", "x", "weight", other, "direct", "speed-up", takes);
    return 64;
}

// One row of bench_direct / bench_input_grad: the fastest of `rounds` rounds of each path, the
// rounds interleaved so that a busy machine slows both alike (one untimed warm-up round), whether
// the two outputs hold the same bits, and what the library takes. Returns 1 if the bits differ.
template <class PathA, class PathB>
int compare_row(const Layer& l, int rounds, PathA path_a, PathB path_b, const Tensor& out_a, const Tensor& out_b,
                const core::Shape& shown, bool direct_taken, const char* other) {
    double best_a = 1e30, best_b = 1e30;
    for (int round = -1; round < rounds; ++round) {
        auto start = std::chrono::steady_clock::now();
        path_a();
        const double time_a = seconds_since(start);
        start = std::chrono::steady_clock::now();
        path_b();
        const double time_b = seconds_since(start);
        if (round < 0) continue;
        best_a = std::min(best_a, time_a);
        best_b = std::min(best_b, time_b);
    }
    const bool same = std::memcmp(out_a.data(), out_b.data(), sizeof(float) * size_t(out_a.numel())) == 0;
    std::printf("%-14s %-16s %-14s %9.2fms %8.2fms %7.2fx %s%s\n", l.name, core::shape_str(shown).c_str(),
                core::shape_str({l.O, l.C, l.kernel, l.kernel}).c_str(), best_a * 1e3, best_b * 1e3, best_a / best_b,
                direct_taken ? "direct" : other, same ? "" : "  BITS DIFFER");
    return same ? 0 : 1;
}

// The forward: im2col + GEMM against core::conv2d_forward_direct.
int bench_direct(int rounds) {
    const int64_t B = start_comparison("conv2d forward", "im2col+gemm", "conv2d_forward takes", rounds);
    int failures = 0;
    for (const Layer& l : kLayers) {
        const core::Im2colShape shape{B, l.C, l.H, l.H, l.kernel, l.kernel, 1, l.padding};
        const int64_t CKK = shape.col_rows(), plane_out = shape.out_h() * shape.out_w();
        const int64_t group_columns = std::max<int64_t>(1, core::kConvGroupColumns / plane_out) * plane_out;
        core::Rng rng(1, "bench_conv");
        const Tensor x = Tensor::normal({B, l.C, l.H, l.H}, 0, 1, rng);
        const Tensor weight = Tensor::normal({l.O, CKK}, 0, 0.1f, rng);
        const Tensor bias = Tensor::normal({l.O}, 0, 0.1f, rng);
        Tensor cols = Tensor::empty({CKK, group_columns}), out_mat = Tensor::empty({l.O, group_columns});
        const core::Shape out_shape{B, l.O, shape.out_h(), shape.out_w()};
        Tensor gemm_out = Tensor::empty(out_shape), direct_out = Tensor::empty(out_shape);
        failures += compare_row(
            l, rounds,
            [&] { gemm_path(x.data(), weight.data(), bias.data(), shape, l.O, gemm_out.data(), cols.data(), out_mat.data()); },
            [&] { core::conv2d_forward_direct(x.data(), weight.data(), bias.data(), shape, l.O, direct_out.data()); },
            gemm_out, direct_out, x.shape(), core::conv2d_direct_applies(shape, l.O), "im2col+gemm");
    }
    return failures == 0 ? 0 : 1;
}

// conv2d_backward's input gradient on the GEMM path as it runs on one thread: per group of whole
// images, dout permuted to (O, group columns), dcols = weight^T x that, col2im.
void gemm_dx_path(const float* dout, const float* weight, const core::Im2colShape& shape, int64_t O, float* dx,
                  float* dout_mat, float* dcols) {
    const int64_t CKK = shape.col_rows(), plane_out = shape.out_h() * shape.out_w();
    const int64_t plane_in = shape.channels * shape.height * shape.width;
    for_each_group(shape, [&](int64_t first, int64_t images, const core::Im2colShape& group_shape, int64_t columns) {
        for (int64_t o = 0; o < O; ++o)
            for (int64_t image = 0; image < images; ++image)
                std::memcpy(dout_mat + o * columns + image * plane_out, dout + ((first + image) * O + o) * plane_out,
                            sizeof(float) * static_cast<size_t>(plane_out));
        core::gemm(true, false, CKK, columns, O, 1.0f, weight, CKK, dout_mat, columns, 0.0f, dcols, columns);
        core::col2im(dcols, group_shape, dx + first * plane_in);
    });
}

// The input gradient: the GEMM path against core::conv2d_backward_input_direct, as bench_direct.
int bench_input_grad(int rounds) {
    const int64_t B = start_comparison("conv2d input gradient", "gemm+col2im", "conv2d_backward takes", rounds);
    int failures = 0;
    for (const Layer& l : kLayers) {
        if (l.O > core::kSgemmKcMax) continue;  // two GEMM K slices: no direct kernel
        const core::Im2colShape shape{B, l.C, l.H, l.H, l.kernel, l.kernel, 1, l.padding};
        const int64_t CKK = shape.col_rows(), plane_out = shape.out_h() * shape.out_w();
        const int64_t group_columns = std::max<int64_t>(1, core::kConvGroupColumns / plane_out) * plane_out;
        core::Rng rng(2, "bench_conv");
        const Tensor dout = Tensor::normal({B, l.O, shape.out_h(), shape.out_w()}, 0, 1, rng);
        const Tensor weight = Tensor::normal({l.O, CKK}, 0, 0.1f, rng);
        Tensor dout_mat = Tensor::empty({l.O, group_columns}), dcols = Tensor::empty({CKK, group_columns});
        Tensor gemm_dx = Tensor::empty({B, l.C, l.H, l.H}), direct_dx = Tensor::empty({B, l.C, l.H, l.H});
        failures += compare_row(
            l, rounds,
            [&] { gemm_dx_path(dout.data(), weight.data(), shape, l.O, gemm_dx.data(), dout_mat.data(), dcols.data()); },
            [&] { core::conv2d_backward_input_direct(dout.data(), weight.data(), shape, l.O, direct_dx.data()); },
            gemm_dx, direct_dx, gemm_dx.shape(), core::conv2d_backward_input_direct_applies(shape, l.O, weight.data()),
            "gemm+col2im");
    }
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "dx")
        return bench_input_grad(argc > 2 ? std::max(1, std::atoi(argv[2])) : 10);
    if (argc > 1 && std::string(argv[1]) == "direct")
        return bench_direct(argc > 2 ? std::max(1, std::atoi(argv[2])) : 10);
    const int iterations = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
    core::set_num_threads(2);
    const std::vector<ConvShape> shapes = {
        {"lenet conv1", {64, 1, 28, 28}, {6, 1, 5, 5}, 1, 2},
        {"lenet conv2", {64, 6, 14, 14}, {16, 6, 5, 5}, 1, 0},
        {"resnet20 16ch", {128, 16, 32, 32}, {16, 16, 3, 3}, 1, 1},
        {"resnet20 32ch", {128, 32, 16, 16}, {32, 32, 3, 3}, 1, 1},
        {"resnet20 64ch", {128, 64, 8, 8}, {64, 64, 3, 3}, 1, 1},
    };
    const char* gemm_backend = std::getenv("PROACT_GEMM");
    std::printf("conv2d, %d threads, %d timed iterations (best and mean), GEMM %s\n", core::num_threads(),
                iterations,
                gemm_backend && std::string(gemm_backend) == "blas" ? "OpenBLAS (PROACT_GEMM=blas)"
                                                                     : core::sgemm_kernel_name());
    std::printf("%-14s %-18s %-14s %9s %9s %8s %9s %9s %8s\n", "layer", "x", "weight", "fwd best", "fwd mean",
                "GFLOP/s", "bwd best", "bwd mean", "GFLOP/s");
    for (const ConvShape& s : shapes) {
        core::Rng rng(1, "bench_conv");
        Variable x(Tensor::normal(s.x_shape, 0, 1, rng), true);
        Variable weight(Tensor::normal(s.weight_shape, 0, 0.1f, rng), true);
        Variable bias(Tensor::normal({s.weight_shape[0]}, 0, 0.1f, rng), true);
        const int64_t B = s.x_shape[0], C = s.x_shape[1], H = s.x_shape[2], W = s.x_shape[3];
        const int64_t O = s.weight_shape[0], KH = s.weight_shape[2], KW = s.weight_shape[3];
        const int64_t OH = (H + 2 * s.padding - KH) / s.stride + 1, OW = (W + 2 * s.padding - KW) / s.stride + 1;
        const double forward_flops = 2.0 * double(B * O * OH * OW) * double(C * KH * KW);
        const Tensor dout = Tensor::normal({B, O, OH, OW}, 0, 1, rng);

        double forward_best = 1e30, forward_total = 0, backward_best = 1e30, backward_total = 0;
        for (int it = -3; it < iterations; ++it) {  // three untimed warm-up rounds fill the buffer pool
            x.zero_grad();
            weight.zero_grad();
            bias.zero_grad();
            auto start = std::chrono::steady_clock::now();
            Variable y = autograd::conv2d(x, weight, bias, s.stride, s.padding);
            const double forward_time = seconds_since(start);
            start = std::chrono::steady_clock::now();
            y.backward(dout);
            const double backward_time = seconds_since(start);
            if (it < 0) continue;
            forward_best = std::min(forward_best, forward_time);
            backward_best = std::min(backward_best, backward_time);
            forward_total += forward_time;
            backward_total += backward_time;
        }
        const double forward_mean = forward_total / iterations, backward_mean = backward_total / iterations;
        std::printf("%-14s %-18s %-14s %8.2fms %8.2fms %8.1f %8.2fms %8.2fms %8.1f\n", s.name,
                    core::shape_str(s.x_shape).c_str(), core::shape_str(s.weight_shape).c_str(), forward_best * 1e3,
                    forward_mean * 1e3, forward_flops / forward_mean * 1e-9, backward_best * 1e3, backward_mean * 1e3,
                    2.0 * forward_flops / backward_mean * 1e-9);
    }
    return 0;
}
