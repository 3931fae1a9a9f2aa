// LeNet-5 on Fashion-MNIST, the same job as bench/torch_lenet.py: one training epoch over
// the 60,000 training images (batch 64, SGD lr 0.05 momentum 0.9), test accuracy, and inference
// throughput on the 10,000 test images (batches of 1000). Prints machine-readable "key value" lines
// that bench/run_all.sh sets beside PyTorch's.
// Usage: bench_lenet [threads] [epochs] [max_batches]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "bench/lenet_job.hpp"
#include "core/core.hpp"
#include "datasets/registry.hpp"
#include "layers/evaluate.hpp"
#include "layers/zoo.hpp"

using namespace proact;

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 1;
    const int64_t max_batches = argc > 3 ? std::atoll(argv[3]) : -1;
    core::set_num_threads(threads);
    core::ProgressBar::set_enabled(false);
    const datasets::Dataset train = datasets::load_dataset("fashion-mnist", "train");
    const datasets::Dataset test = datasets::load_dataset("fashion-mnist", "test");
    const core::Tensor test_images = test.images();  // made once: the timings are of inference alone
    layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
    const int64_t full_epoch_batches = (train.size() + 63) / 64;
    const int64_t batches = max_batches > 0 ? std::min(max_batches, full_epoch_batches) : full_epoch_batches;
    train::train_classifier(*model, train, nullptr, bench::lenet_job(epochs, max_batches),
                            [&](const train::EpochLog& epoch) {
                                const layers::EvalResult result = layers::evaluate(*model, test_images, test.labels, 1000);
                                std::printf("epoch %d train_s %.3f batches %lld acc %.2f\n", epoch.epoch - 1,
                                            epoch.seconds, static_cast<long long>(batches), 100 * result.accuracy());
                            });
    layers::evaluate(*model, test_images, test.labels, 1000);  // warm-up
    double best = 1e30;
    for (int repeat = 0; repeat < 3; ++repeat) {
        const auto start = std::chrono::steady_clock::now();
        layers::evaluate(*model, test_images, test.labels, 1000);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("inference_10k_s %.4f img_per_s %.0f\n", best, 10000 / best);
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("peak_rss_mb %.1f\n", double(usage.ru_maxrss) / 1024.0);
    return 0;
}
