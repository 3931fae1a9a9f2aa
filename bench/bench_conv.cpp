// conv2d forward and backward at the shapes of LeNet-5 (batch 64) and ResNet-20 (batch 128), on 2
// threads. Prints milliseconds per forward and per backward and the GFLOP/s they achieve
// (forward 2*B*O*OH*OW*C*KH*KW flops; backward twice that: dweight and dx, dbias is negligible).
//
//   ./bench_conv [iterations]      (a busy machine shows in the gap between best and mean)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
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

}  // namespace

int main(int argc, char** argv) {
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
