// What one fault-campaign trial costs against one fault-free inference pass over the same images,
// for any zoo model. The target: a trial on ResNet-20 at most 1.2x the pass, whatever the
// stage cache and the channel-sparse restart save or the flips and restores add.
//
// The job (bench/torch_trial.py does the same in PyTorch): a zoo model initialised with seed 0 (the
// weights' values do not change the cost), N seeded random images in [0, 1) with random labels,
// float32 weights, each bit of every parameter flipped with probability BER (binomial count,
// positions without repetition), `trials` trials. Two numbers:
//   - pass_ms: layers::evaluate over the N images at the campaign's own inference batch, the best
//     of three (a fault-free pass as a user runs it), and its GFLOP/s (multiply-adds x 2 of every
//     convolution and linear layer, as bench_zoo counts them);
//   - trial_ms: the campaign's time per trial, its set-up (fault-free pass, stage cache, probe)
//     included and shared out over the trials; trial_ms_no_setup without it.
// Trials that flip nothing reuse the fault-free result and cost nothing, so pick a BER at which
// every trial flips something (expected_flips, printed, well above 1).
// Usage: bench_trial MODEL [C,H,W] [images] [trials] [threads] [ber]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/zoo_common.hpp"
#include "core/core.hpp"
#include "faults/campaign.hpp"
#include "layers/evaluate.hpp"
#include "layers/zoo.hpp"

using namespace proact;
using bench::forward_flops_per_image;
using bench::seconds_since;

namespace {

int run(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_trial MODEL [C,H,W] [images] [trials] [threads] [ber]\n");
        return 2;
    }
    const std::string name = argv[1];
    const core::Shape shape = layers::parse_shape(argc > 2 ? argv[2] : "3,32,32");
    const int64_t count = argc > 3 ? std::atoll(argv[3]) : 1000;
    const int64_t trials = argc > 4 ? std::atoll(argv[4]) : 20;
    const int threads = argc > 5 ? std::atoi(argv[5]) : 2;
    const double ber = argc > 6 ? std::atof(argv[6]) : 1e-5;
    if (shape.size() != 3 || count < 1 || trials < 1 || threads < 1 || !(ber > 0.0 && ber < 1.0)) {
        std::fprintf(stderr, "bench_trial: need C,H,W, images >= 1, trials >= 1, threads >= 1 and 0 < ber < 1\n");
        return 2;
    }
    core::set_num_threads(threads);
    core::ProgressBar::set_enabled(false);
    constexpr int kClasses = 10;
    layers::ModulePtr model = layers::make_model(name, shape, kClasses, 0);
    const double flops_per_image = forward_flops_per_image(*model, shape);
    model->eval();

    core::Rng rng(0, "bench-trial-data");
    core::Shape images_shape = {count};
    images_shape.insert(images_shape.end(), shape.begin(), shape.end());
    const core::Tensor images = core::Tensor::uniform(images_shape, 0.0f, 1.0f, rng);
    std::vector<int32_t> labels(static_cast<size_t>(count));
    for (int32_t& label : labels) label = static_cast<int32_t>(rng.below(kClasses));

    faults::CampaignOptions options;
    options.format = faults::StorageFormat::float32();
    options.bers = {ber};
    options.trials = trials;
    options.seed = 0;
    options.progress = false;
    options.model_name = name;
    options.dataset_name = "synthetic";
    const faults::CampaignResult result = faults::run_campaign(*model, images, labels, options);

    double pass_seconds = 1e300;
    for (int repeat = 0; repeat < 3; ++repeat) {
        const auto start = std::chrono::steady_clock::now();
        (void)layers::evaluate(*model, images, labels, result.batch_size);
        pass_seconds = std::min(pass_seconds, seconds_since(start));
    }
    const double trial_seconds = result.seconds / double(trials);
    const double trial_no_setup = (result.seconds - result.setup_seconds) / double(trials);
    std::printf("model %s\ninput %s\nimages %lld\nthreads %d\nber %g\nparameters %lld\n", name.c_str(),
                layers::format_shape(shape).c_str(), static_cast<long long>(count), threads, ber,
                static_cast<long long>(model->parameter_count()));
    std::printf("expected_flips %.2f\nbatch %lld\ntrials %lld\ntrials_evaluated %lld\n",
                ber * 32.0 * double(result.target_values), static_cast<long long>(result.batch_size),
                static_cast<long long>(trials), static_cast<long long>(result.trials_evaluated));
    std::printf("pass_ms %.3f\ntrial_ms %.3f\ntrial_ms_no_setup %.3f\nsetup_ms %.3f\ntrial_over_pass %.3f\n",
                1e3 * pass_seconds, 1e3 * trial_seconds, 1e3 * trial_no_setup, 1e3 * result.setup_seconds,
                trial_seconds / pass_seconds);
    std::printf("forward_flops_per_image %.0f\npass_gflops %.3f\n", flops_per_image,
                flops_per_image * double(count) / pass_seconds * 1e-9);
    std::printf("mean_accuracy %.4f\n", result.points.front().stats.mean);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bench_trial: %s\n", error.what());
        return 1;
    }
}
