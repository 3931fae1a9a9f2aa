#include "datasets/synthetic.hpp"

#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace proact::datasets {

Dataset two_spirals(int64_t points_per_class, float noise, uint64_t seed) {
    if (points_per_class < 1)
        core::fail<core::ValueError>("two_spirals: points_per_class must be >= 1, got ", points_per_class);
    if (!(noise >= 0.0f) || !std::isfinite(noise))
        core::fail<core::ValueError>("two_spirals: noise must be finite and >= 0, got ", noise);
    constexpr double kTurns = 1.5;
    const double max_angle = kTurns * 2.0 * std::numbers::pi;

    Dataset dataset;
    core::Tensor images = core::Tensor::empty({2 * points_per_class, 2});
    dataset.labels.resize(static_cast<size_t>(2 * points_per_class));
    dataset.num_classes = 2;
    dataset.name = "two_spirals";
    dataset.class_names = {"spiral 0", "spiral 1"};
    core::Rng rng(seed, "two_spirals");
    float* points = images.data();
    for (int label = 0; label < 2; ++label) {
        const double sign = label == 0 ? 1.0 : -1.0;  // rotation by pi negates both coordinates
        for (int64_t i = 0; i < points_per_class; ++i) {
            const double along = (static_cast<double>(i) + 0.5) / static_cast<double>(points_per_class);
            const double angle = along * max_angle;
            const int64_t sample = label * points_per_class + i;
            points[2 * sample] = static_cast<float>(sign * along * std::cos(angle)) + noise * rng.normal();
            points[2 * sample + 1] = static_cast<float>(sign * along * std::sin(angle)) + noise * rng.normal();
            dataset.labels[static_cast<size_t>(sample)] = label;
        }
    }
    dataset.set_images(images);
    return dataset;
}

Dataset gaussian_blobs(int64_t points_per_class, int num_classes, int num_features, float stddev, uint64_t seed,
                       float center_range) {
    if (points_per_class < 1)
        core::fail<core::ValueError>("gaussian_blobs: points_per_class must be >= 1, got ", points_per_class);
    if (num_classes < 1) core::fail<core::ValueError>("gaussian_blobs: num_classes must be >= 1, got ", num_classes);
    if (num_features < 1) core::fail<core::ValueError>("gaussian_blobs: num_features must be >= 1, got ", num_features);
    if (!(stddev >= 0.0f) || !std::isfinite(stddev))
        core::fail<core::ValueError>("gaussian_blobs: stddev must be finite and >= 0, got ", stddev);
    if (!(center_range >= 0.0f) || !std::isfinite(center_range))
        core::fail<core::ValueError>("gaussian_blobs: center_range must be finite and >= 0, got ", center_range);

    core::Rng rng(seed, "gaussian_blobs");
    std::vector<float> centers(static_cast<size_t>(num_classes) * static_cast<size_t>(num_features));
    for (float& coordinate : centers) coordinate = rng.uniform(-center_range, center_range);

    Dataset dataset;
    const int64_t count = points_per_class * num_classes;
    core::Tensor images = core::Tensor::empty({count, num_features});
    dataset.labels.resize(static_cast<size_t>(count));
    dataset.num_classes = num_classes;
    dataset.name = "gaussian_blobs";
    for (int label = 0; label < num_classes; ++label) dataset.class_names.push_back("blob " + std::to_string(label));
    float* points = images.data();
    for (int64_t sample = 0; sample < count; ++sample) {
        const int label = static_cast<int>(sample / points_per_class);
        const float* center = centers.data() + static_cast<int64_t>(label) * num_features;
        for (int feature = 0; feature < num_features; ++feature)
            points[sample * num_features + feature] = center[feature] + stddev * rng.normal();
        dataset.labels[static_cast<size_t>(sample)] = label;
    }
    dataset.set_images(images);
    return dataset;
}

}  // namespace proact::datasets
