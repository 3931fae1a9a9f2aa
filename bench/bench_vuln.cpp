// Vulnerability-map speed: single-bit injections per second (faults/vulnerability.hpp, k = 1,
// float32, every conv/linear weight and bias):
//   LeNet-5 on 1,000 Fashion-MNIST test images, bits 31, 30, 22 and 0, a ±10-point margin at 95%
//     (Leveugle) per stratum; trained for one epoch as bench_lenet trains it, or a checkpoint;
//   ResNet-20 at its CIFAR shape (3x32x32, 10 classes) on 200 seeded noise images, bits 31 and 30,
//     a ±25-point margin: its initial weights (no CIFAR files needed: the cost of an injection does
//     not depend on what the weights learnt, only on where the flipped site sits in the network;
//     a flip in the first convolution reruns nearly all of it).
// Prints "vuln MODEL images N strata S injections I seconds T inj_per_s R image_evals_per_s E
// setup_s U" (E = I x N / T: images through the rerun part of the network per second).
// Usage: bench_vuln [threads] [lenet5 checkpoint|-]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "bench/lenet_job.hpp"
#include "core/core.hpp"
#include "datasets/registry.hpp"
#include "faults/campaign.hpp"
#include "faults/vulnerability.hpp"
#include "layers/checkpoint.hpp"
#include "layers/evaluate.hpp"
#include "layers/zoo.hpp"

using namespace proact;

namespace {

void run(const std::string& name, layers::Module& model, const core::Tensor& images,
         const std::vector<int32_t>& labels, std::vector<int> bits, double margin) {
    faults::CampaignOptions options;
    options.format = faults::StorageFormat::float32();
    options.progress = false;
    options.model_name = name;
    faults::Campaign campaign(model, images, labels, options);
    faults::VulnerabilityOptions vulnerability;
    vulnerability.bits = std::move(bits);
    vulnerability.margin = margin;
    vulnerability.progress = false;
    const faults::VulnerabilityMap map = faults::run_vulnerability(campaign, vulnerability);
    std::printf("vuln %s images %lld strata %zu injections %lld seconds %.3f inj_per_s %.1f image_evals_per_s %.0f "
                "setup_s %.3f\n",
                name.c_str(), static_cast<long long>(map.samples), map.strata.size(),
                static_cast<long long>(map.injections), map.seconds, double(map.injections) / map.seconds,
                double(map.injections) * double(map.samples) / map.seconds, campaign.setup_seconds());
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    const std::string checkpoint = argc > 2 ? argv[2] : "-";
    core::set_num_threads(threads);
    core::ProgressBar::set_enabled(false);
    constexpr int64_t kImages = 1000, kResNetImages = 200;

    const datasets::Dataset test = datasets::load_dataset("fashion-mnist", "test");
    std::vector<int64_t> first(kImages);
    for (int64_t i = 0; i < kImages; ++i) first[static_cast<size_t>(i)] = i;
    const datasets::Dataset subset = test.subset(first);
    layers::ModulePtr lenet = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
    if (checkpoint != "-")
        lenet = layers::load_model(checkpoint);
    else
        train::train_classifier(*lenet, datasets::load_dataset("fashion-mnist", "train"), nullptr, bench::lenet_job(1));
    run("lenet5", *lenet, subset.images(), subset.labels, {0, 22, 30, 31}, 0.1);

    layers::ModulePtr resnet = layers::make_model("resnet20", {3, 32, 32}, 10, 0);
    core::Rng rng(0, "bench_vuln_images");
    const core::Tensor noise = core::Tensor::uniform({kResNetImages, 3, 32, 32}, 0.0f, 1.0f, rng);
    std::vector<int32_t> labels(static_cast<size_t>(kResNetImages));
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(i % 10);
    run("resnet20", *resnet, noise, labels, {30, 31}, 0.25);
    return 0;
}
