// The training loop: it learns, it is reproducible byte for byte, and a diverging run stops with
// a NumericError instead of producing a model. Evaluation and checksums of a data set batch by batch
// give the bits of the whole-tensor ones.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "core/progress.hpp"
#include "core/sgemm.hpp"
#include "datasets/split.hpp"
#include "datasets/synthetic.hpp"
#include "faults/injector.hpp"
#include "layers/layers.hpp"
#include "layers/zoo.hpp"
#include "train/evaluate.hpp"
#include "train/training.hpp"

using namespace proact;

namespace {

layers::ModulePtr small_mlp(uint64_t seed) {
    core::Rng rng(seed, "init");
    auto model = std::make_shared<layers::Sequential>();
    model->add(std::make_shared<layers::Linear>(2, 32, rng));
    model->add(std::make_shared<layers::ReLU>());
    model->add(std::make_shared<layers::Linear>(32, 3, rng));
    return model;
}

train::TrainOptions quiet_options() {
    train::TrainOptions options;
    options.epochs = 5;
    options.batch_size = 32;
    options.lr = 0.05f;
    options.progress = false;
    return options;
}

}  // namespace

TEST_CASE("train_classifier learns blobs and reports every epoch") {
    core::ProgressBar::set_enabled(false);
    const datasets::Dataset blobs = datasets::gaussian_blobs(100, 3, 2, 0.5f, 3);
    const auto [train_set, validation] = datasets::split(blobs, 0.2, 3);
    layers::ModulePtr model = small_mlp(1);
    int callbacks = 0;
    const auto history = train::train_classifier(*model, train_set, &validation, quiet_options(),
                                                  [&](const train::EpochLog&) { ++callbacks; });
    REQUIRE(history.size() == 5);
    CHECK(callbacks == 5);
    CHECK(history.back().train_loss < history.front().train_loss);
    CHECK(history.back().validation_accuracy > 0.9);
    CHECK(history.back().lr < history.front().lr);  // cosine schedule by default
    CHECK_FALSE(model->is_training());
}

TEST_CASE("a data set evaluated and hashed batch by batch: the bits of its whole float tensor") {
    // 2345 two-feature samples stored as bytes, seen through a view that skips and repeats some.
    std::vector<uint8_t> bytes(2 * 2345);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>((i * 91 + 7) % 256);
    datasets::Dataset stored;
    stored.set_pixel_bytes(bytes, {2});
    for (int64_t i = 0; i < 2345; ++i) stored.labels.push_back(static_cast<int32_t>(i % 3));
    stored.num_classes = 3;
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < 2345; ++i) rows.push_back((i * 7) % 2345 / 2 * 2);
    const datasets::Dataset view = stored.subset(rows);
    const core::Tensor whole = view.images();

    layers::ModulePtr model = small_mlp(2);
    for (const int64_t batch_size : {int64_t(7), int64_t(1000), int64_t(5000)}) {
        CAPTURE(batch_size);
        const layers::EvalResult batched = train::evaluate(*model, view, batch_size);
        const layers::EvalResult plain = layers::evaluate(*model, whole, view.labels, batch_size);
        CHECK(batched.predictions == plain.predictions);
        CHECK(batched.confusion == plain.confusion);
        CHECK(batched.correct == plain.correct);
        CHECK(std::memcmp(&batched.loss, &plain.loss, sizeof(double)) == 0);
        CHECK(batched.total == 2345);
    }
    CHECK(faults::data_checksum(train::input_batches(view), view.labels) ==
          faults::data_checksum(whole, view.labels));
    CHECK(faults::data_checksum(train::input_batches(view), view.labels) !=
          faults::data_checksum(train::input_batches(stored), stored.labels));
}

TEST_CASE("same seed, same bytes; another seed, another run") {
    const datasets::Dataset blobs = datasets::gaussian_blobs(60, 3, 2, 1.0f, 4);
    auto run = [&](uint64_t seed) {
        layers::ModulePtr model = small_mlp(seed);
        train::TrainOptions options = quiet_options();
        options.seed = seed;
        const auto history = train::train_classifier(*model, blobs, nullptr, options);
        std::vector<float> weights;
        for (const auto& [name, p] : model->named_parameters()) {
            const auto values = p.value().to_vector();
            weights.insert(weights.end(), values.begin(), values.end());
        }
        CHECK(std::isnan(history.back().validation_accuracy));
        return std::make_pair(history.back().train_loss, weights);
    };
    const auto first = run(11), second = run(11), other = run(12);
    CHECK(first.first == second.first);
    REQUIRE(first.second.size() == second.second.size());
    CHECK(std::memcmp(first.second.data(), second.second.data(), first.second.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(first.second.data(), other.second.data(), first.second.size() * sizeof(float)) != 0);
}

TEST_CASE("training gives the same bytes on the avx512 and the avx2 kernels") {
    // A user's AVX2 laptop and an AVX-512 server must agree: LeNet-5's conv1 weight gradient
    // (6 x 25, K = 784) takes the GEMM's dot-product path, ResNet-20's stem and stages the
    // direct convolution, its input gradient and the packed GEMM.
    if (!core::gemm_kernel_supported(core::GemmKernel::avx512) || !core::gemm_kernel_supported(core::GemmKernel::avx2))
        return;
    const datasets::Dataset blobs = datasets::gaussian_blobs(24, 4, 784, 1.0f, 5, 1.0f);
    datasets::Dataset images;
    images.set_images(blobs.images(0, blobs.size()).reshape({blobs.size(), 1, 28, 28}));
    images.labels = blobs.labels;
    images.num_classes = blobs.num_classes;
    for (const char* name : {"lenet5", "resnet20"}) {
        INFO(name);
        auto run = [&](core::GemmKernel kernel) {
            const core::GemmKernelScope scope(kernel);
            layers::ModulePtr model = layers::make_model(name, {1, 28, 28}, 4, 7);
            train::TrainOptions options = quiet_options();
            options.epochs = 1;
            options.seed = 7;
            train::train_classifier(*model, images, nullptr, options);
            std::vector<float> weights;
            for (const auto& [key, p] : model->named_parameters()) {
                const auto values = p.value().to_vector();
                weights.insert(weights.end(), values.begin(), values.end());
            }
            return weights;
        };
        const std::vector<float> wide = run(core::GemmKernel::avx512), narrow = run(core::GemmKernel::avx2);
        REQUIRE(wide.size() == narrow.size());
        CHECK(std::memcmp(wide.data(), narrow.data(), wide.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("a diverging run stops with NumericError") {
    const datasets::Dataset blobs = datasets::gaussian_blobs(60, 3, 2, 1.0f, 5);
    layers::ModulePtr model = small_mlp(2);
    train::TrainOptions options = quiet_options();
    options.lr = 1e30f;
    options.schedule = "constant";
    CHECK_THROWS_AS(train::train_classifier(*model, blobs, nullptr, options), core::NumericError);
}

TEST_CASE("bad options are refused before training") {
    const datasets::Dataset blobs = datasets::gaussian_blobs(10, 2, 2, 1.0f, 6);
    layers::ModulePtr model = small_mlp(3);
    train::TrainOptions options = quiet_options();
    options.optimizer = "lbfgs";
    CHECK_THROWS_AS(train::train_classifier(*model, blobs, nullptr, options), core::ValueError);
    options = quiet_options();
    options.schedule = "triangle";
    CHECK_THROWS_AS(train::train_classifier(*model, blobs, nullptr, options), core::ValueError);
    options = quiet_options();
    options.batch_size = 0;
    CHECK_THROWS_AS(train::train_classifier(*model, blobs, nullptr, options), core::ValueError);
}
