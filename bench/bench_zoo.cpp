// Training and inference speed of one zoo model on synthetic data, the same job as
// bench/torch_zoo.py (compare_zoo.py sets the two side by side):
//
//   - data: POOL batches of seeded random images in [0, 1) of the given shape and random labels
//     of 10 classes (POOL = min(warm-up + steps, 4) batches, cycled), held in memory;
//   - training: the model in train mode, SGD lr 0.01 momentum 0.9, cross-entropy; `warmup` steps,
//     then `steps` timed steps (forward, loss, zero_grad, backward, step);
//   - inference: eval mode, no graph; one warm-up batch, then `infer_batches` timed batches of the
//     same batch size, one call each; then the same images as one set through layers::evaluate at
//     that batch size (how `proact eval` runs a set: batches in parallel, one thread each);
//   - FLOPs: multiply-adds x 2 of every Conv2d and Linear in one forward pass of one image (counted
//     with forward hooks from the layers' output shapes); a training step is taken as 3 forward
//     passes (forward, input gradient, weight gradient).
//
// Prints "key value" lines: model, input, batch, threads, gemm_kernel, parameters,
// forward_flops_per_image, train_flops_per_image, train_steps, train_seconds,
// train_images_per_second, train_gflops, final_loss, infer_batches, infer_seconds,
// infer_images_per_second, infer_gflops, eval_seconds, eval_images_per_second, eval_gflops,
// eval_accuracy, peak_rss_mb.
// Our GEMM's own rate (the share's denominator) comes from `bench_gemm size=1024 THREADS`.
// Runs with OMP_WAIT_POLICY=passive unless the environment sets a policy, as `proact` does.
//
// Usage: bench_zoo MODEL [C,H,W] [batch] [steps] [infer_batches] [threads] [warmup]
//   defaults: 3,32,32  64  10  10  2  2        e.g. bench_zoo lenet5 1,28,28 64 50 20 2
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "core/core.hpp"
#include "core/sgemm.hpp"
#include "layers/conv.hpp"
#include "layers/evaluate.hpp"
#include "layers/linear.hpp"
#include "bench/zoo_common.hpp"
#include "layers/zoo.hpp"
#include "optim/sgd.hpp"

using namespace proact;
using bench::forward_flops_per_image;
using bench::seconds_since;

namespace {

int run(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_zoo MODEL [C,H,W] [batch] [steps] [infer_batches] [threads] [warmup]\n");
        return 2;
    }
    const std::string name = argv[1];
    const core::Shape shape = layers::parse_shape(argc > 2 ? argv[2] : "3,32,32");
    const int64_t batch = argc > 3 ? std::atoll(argv[3]) : 64;
    const int64_t steps = argc > 4 ? std::atoll(argv[4]) : 10;
    const int64_t infer_batches = argc > 5 ? std::atoll(argv[5]) : 10;
    const int threads = argc > 6 ? std::atoi(argv[6]) : 2;
    const int64_t warmup = argc > 7 ? std::atoll(argv[7]) : 2;
    if (shape.size() != 3 || batch < 1 || steps < 1 || infer_batches < 1 || threads < 1 || warmup < 0) {
        std::fprintf(stderr, "bench_zoo: need C,H,W, batch, steps, infer_batches, threads >= 1 and warmup >= 0\n");
        return 2;
    }
    core::set_num_threads(threads);
    constexpr int kClasses = 10;
    layers::ModulePtr model = layers::make_model(name, shape, kClasses, 0);
    const double forward_flops = forward_flops_per_image(*model, shape);
    const double train_flops = 3.0 * forward_flops;

    // The data: `pool` batches of random images and labels, cycled.
    const int64_t pool = std::min<int64_t>(warmup + steps, 4);
    core::Rng rng(0, "bench-zoo-data");
    core::Shape images_shape = {pool * batch};
    images_shape.insert(images_shape.end(), shape.begin(), shape.end());
    const core::Tensor images = core::Tensor::uniform(images_shape, 0.0f, 1.0f, rng);
    std::vector<int32_t> labels(static_cast<size_t>(pool * batch));
    for (int32_t& label : labels) label = static_cast<int32_t>(rng.below(kClasses));
    auto batch_images = [&](int64_t i) { return images.slice((i % pool) * batch, (i % pool + 1) * batch); };
    auto batch_labels = [&](int64_t i) {
        const auto first = labels.begin() + (i % pool) * batch;
        return std::vector<int32_t>(first, first + batch);
    };

    std::printf("model %s\ninput %s\nbatch %lld\nthreads %d\ngemm_kernel %s\nparameters %lld\n", name.c_str(),
                layers::format_shape(shape).c_str(), static_cast<long long>(batch), threads, core::sgemm_kernel_name(),
                static_cast<long long>(model->parameter_count()));
    std::printf("forward_flops_per_image %.0f\ntrain_flops_per_image %.0f\n", forward_flops, train_flops);
    std::fflush(stdout);

    // Training.
    model->train();
    optim::SGD optimizer(model->named_parameters(), {.lr = 0.01f, .momentum = 0.9f});
    float loss_value = 0.0f;
    auto train_step = [&](int64_t i) {
        autograd::Variable logits = (*model)(autograd::Variable(batch_images(i)));
        autograd::Variable loss = autograd::cross_entropy(logits, batch_labels(i));
        loss_value = loss.item();
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
    };
    for (int64_t i = 0; i < warmup; ++i) train_step(i);
    const auto train_start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) train_step(warmup + i);
    const double train_seconds = seconds_since(train_start);
    const double train_rate = double(steps * batch) / train_seconds;
    std::printf("train_steps %lld\ntrain_seconds %.4f\ntrain_images_per_second %.2f\ntrain_gflops %.3f\nfinal_loss %.4f\n",
                static_cast<long long>(steps), train_seconds, train_rate, train_rate * train_flops * 1e-9,
                double(loss_value));
    std::fflush(stdout);
    if (!std::isfinite(loss_value)) {
        std::fprintf(stderr, "bench_zoo: loss is %f\n", double(loss_value));
        return 1;
    }

    // Inference.
    model->eval();
    {
        autograd::NoGradGuard no_grad;
        float sink = 0.0f;
        sink += (*model)(autograd::Variable(batch_images(0))).value().data()[0];
        const auto infer_start = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < infer_batches; ++i)
            sink += (*model)(autograd::Variable(batch_images(i))).value().data()[0];
        const double infer_seconds = seconds_since(infer_start);
        const double infer_rate = double(infer_batches * batch) / infer_seconds;
        std::printf("infer_batches %lld\ninfer_seconds %.4f\ninfer_images_per_second %.2f\ninfer_gflops %.3f\n",
                    static_cast<long long>(infer_batches), infer_seconds, infer_rate,
                    infer_rate * forward_flops * 1e-9);
        if (!std::isfinite(sink)) std::printf("infer_nonfinite 1\n");
    }
    // Inference over a set, as `proact eval` runs it: the same infer_batches x batch images through
    // layers::evaluate at batch size `batch` (batches in parallel, one thread each, cut smaller to
    // stay in cache: layers::auto_batch_rows). PyTorch's peer row is its loop above.
    {
        const int64_t count = infer_batches * batch;
        core::Shape set_shape = {count};
        set_shape.insert(set_shape.end(), shape.begin(), shape.end());
        core::Tensor set = core::Tensor::empty(set_shape);
        std::vector<int32_t> set_labels;
        for (int64_t i = 0; i < infer_batches; ++i) {
            set.slice(i * batch, (i + 1) * batch).copy_(batch_images(i));
            const std::vector<int32_t> part = batch_labels(i);
            set_labels.insert(set_labels.end(), part.begin(), part.end());
        }
        (void)layers::evaluate(*model, set.slice(0, batch), batch_labels(0), batch);  // warm-up, as above
        const auto eval_start = std::chrono::steady_clock::now();
        const layers::EvalResult result = layers::evaluate(*model, set, set_labels, batch);
        const double eval_seconds = seconds_since(eval_start);
        const double eval_rate = double(count) / eval_seconds;
        std::printf("eval_seconds %.4f\neval_images_per_second %.2f\neval_gflops %.3f\neval_accuracy %.4f\n",
                    eval_seconds, eval_rate, eval_rate * forward_flops * 1e-9, 100.0 * result.accuracy());
    }
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("peak_rss_mb %.1f\n", double(usage.ru_maxrss) / 1024.0);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // The OpenMP wait policy the proact binary runs with (apps/proact.cpp), so that this measures
    // what a command does: libgomp's default spinning, beside one other busy process, made a
    // 2-thread ResNet-20 inference 30x slower here (25 against 811 images/s, passive).
    core::prefer_passive_openmp_wait(argv);
    try {
        return run(argc, argv);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bench_zoo: %s\n", error.what());
        return 1;
    }
}
