// Fault campaign speed on LeNet-5 / Fashion-MNIST, the same job as the campaign at the end of
// bench/torch_lenet.py: float32 weights, each bit of every parameter flipped with
// probability BER (binomial count, positions without repetition), 20 trials at each of BER 1e-6,
// 1e-5 and 1e-4, top-1 accuracy on the 10,000 test images.
//
// The model: trained for one epoch exactly as bench_lenet trains it (batch 64, SGD lr 0.05 momentum
// 0.9), or loaded from a checkpoint. One campaign runs the three rates, timed from start to end
// including its set-up (fault-free pass, stage cache, probe), which is charged to the rates in
// equal parts.
// Prints "ber X mean_acc Y std Z campaign_20_s W" lines like torch_lenet.py (std with ddof 0, as
// numpy's np.std), plus the time per trial and, with "check" as the third argument, the same
// campaign with the stage cache and the fault-free reuse switched off, which must give identical
// accuracies.
// Usage: bench_campaign [threads] [checkpoint|-] [check]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/lenet_job.hpp"
#include "core/core.hpp"
#include "datasets/registry.hpp"
#include "faults/campaign.hpp"
#include "layers/checkpoint.hpp"
#include "layers/evaluate.hpp"
#include "layers/zoo.hpp"

using namespace proact;

namespace {

layers::ModulePtr trained_lenet(const datasets::Dataset& train) {
    layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
    const auto history = train::train_classifier(*model, train, nullptr, bench::lenet_job(1));
    std::printf("epoch 0 train_s %.2f\n", history.front().seconds);
    return model;
}

faults::CampaignResult campaign(layers::Module& model, const datasets::Dataset& test, bool fast) {
    faults::CampaignOptions options;
    options.format = faults::StorageFormat::float32();
    options.bers = {1e-6, 1e-5, 1e-4};
    options.trials = 20;
    options.seed = 0;
    options.progress = false;
    options.stage_cache = fast;
    options.reuse_fault_free = fast;
    options.model_name = "lenet5";
    options.dataset_name = "fashion-mnist";
    return faults::run_campaign(model, test.images(), test.labels, options);
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    const std::string checkpoint = argc > 2 ? argv[2] : "-";
    const bool check = argc > 3 && std::string(argv[3]) == "check";
    core::set_num_threads(threads);
    core::ProgressBar::set_enabled(false);
    const datasets::Dataset test = datasets::load_dataset("fashion-mnist", "test");
    layers::ModulePtr model = checkpoint != "-" ? layers::load_model(checkpoint)
                                                : trained_lenet(datasets::load_dataset("fashion-mnist", "train"));
    std::printf("fault_free_acc %.2f\n", 100 * layers::evaluate(*model, test.images(), test.labels, 1000).accuracy());
    // One campaign over the three BERs; its set-up (fault-free pass, stage cache, probe) is shared
    // out over the rates in proportion to their trials, so campaign_20_s is the whole cost.
    const faults::CampaignResult result = campaign(*model, test, true);
    const double setup_share = result.setup_seconds / double(result.points.size());
    for (const faults::PointResult& point : result.points) {
        const double population_std =
            point.stats.std * std::sqrt(double(point.stats.trials - 1) / double(point.stats.trials));
        const double seconds = point.seconds + setup_share;
        std::printf("ber %g mean_acc %.2f std %.2f campaign_20_s %.3f trial_ms %.2f\n", point.rate, point.stats.mean,
                    population_std, seconds, 1000.0 * seconds / double(point.stats.trials));
    }
    std::printf("setup_s %.3f batch %lld cache_mb %.1f evaluated %lld reused %lld\n", result.setup_seconds,
                static_cast<long long>(result.batch_size), double(result.cached_bytes) / 1e6,
                static_cast<long long>(result.trials_evaluated), static_cast<long long>(result.trials_reused));
    std::printf("campaign_total_s %.3f trial_ms_mean %.2f\n", result.seconds, 1000.0 * result.seconds / 60.0);
    if (check) {
        const faults::CampaignResult slow = campaign(*model, test, false);
        bool same = true;
        for (size_t p = 0; p < result.points.size(); ++p) same = same && slow.points[p].correct == result.points[p].correct;
        std::printf("check full_recompute_s %.3f identical %s\n", slow.seconds, same ? "yes" : "NO");
        if (!same) return 1;
    }
    return 0;
}
