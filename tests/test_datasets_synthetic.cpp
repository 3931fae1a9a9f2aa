// Synthetic datasets, Dataset helpers (views, float batches, validate, label_histogram) and seeded splits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "datasets/datasets.hpp"

using namespace proact;
using namespace proact::datasets;

TEST_CASE("two_spirals: shape, labels, geometry, determinism") {
    const Dataset spirals = two_spirals(100, 0.0f, 1);
    const core::Tensor points = spirals.images();
    CHECK(points.shape() == core::Shape{200, 2});
    CHECK(spirals.num_classes == 2);
    CHECK(label_histogram(spirals) == std::vector<int64_t>{100, 100});
    CHECK_NOTHROW(spirals.validate());
    // Without noise, class 1 is class 0 rotated by half a turn, radius grows along each spiral.
    for (int64_t i = 0; i < 100; ++i) {
        CHECK(points.at({100 + i, 0}) == -points.at({i, 0}));
        CHECK(points.at({100 + i, 1}) == -points.at({i, 1}));
        const float radius = std::hypot(points.at({i, 0}), points.at({i, 1}));
        CHECK(radius == doctest::Approx((i + 0.5) / 100.0).epsilon(1e-5));
    }

    const Dataset noisy_a = two_spirals(50, 0.1f, 9);
    const Dataset noisy_b = two_spirals(50, 0.1f, 9);
    const Dataset noisy_c = two_spirals(50, 0.1f, 10);
    CHECK(core::equal(noisy_a.images(), noisy_b.images()));
    CHECK_FALSE(core::equal(noisy_a.images(), noisy_c.images()));
    // The noise has roughly the requested spread.
    const Dataset clean = two_spirals(50, 0.0f, 9);
    double square = 0.0;
    for (int64_t i = 0; i < 100; ++i)
        for (int64_t axis = 0; axis < 2; ++axis) {
            const double offset = noisy_a.images().at({i, axis}) - clean.images().at({i, axis});
            square += offset * offset;
        }
    CHECK(std::sqrt(square / 200) == doctest::Approx(0.1).epsilon(0.25));

    CHECK_THROWS_AS(two_spirals(0, 0.1f, 1), core::ValueError);
    CHECK_THROWS_AS(two_spirals(10, -0.1f, 1), core::ValueError);
}

TEST_CASE("gaussian_blobs: clusters around seeded centres") {
    const Dataset blobs = gaussian_blobs(300, 4, 3, 0.5f, 2);
    const core::Tensor points = blobs.images();
    CHECK(points.shape() == core::Shape{1200, 3});
    CHECK(blobs.num_classes == 4);
    CHECK(blobs.class_names.size() == 4);
    CHECK(label_histogram(blobs) == std::vector<int64_t>(4, 300));
    CHECK(core::equal(points, gaussian_blobs(300, 4, 3, 0.5f, 2).images()));
    CHECK_FALSE(core::equal(points, gaussian_blobs(300, 4, 3, 0.5f, 3).images()));

    // Per class: the mean lies in the centre box and the spread matches stddev.
    for (int label = 0; label < 4; ++label) {
        for (int64_t feature = 0; feature < 3; ++feature) {
            double sum = 0.0, square = 0.0;
            for (int64_t i = 0; i < 300; ++i) {
                const double value = points.at({label * 300 + i, feature});
                sum += value;
                square += value * value;
            }
            const double mean = sum / 300;
            CHECK(std::abs(mean) < 5.2);
            CHECK(std::sqrt(square / 300 - mean * mean) == doctest::Approx(0.5).epsilon(0.15));
        }
        for (int64_t i = 0; i < 300; ++i) CHECK(blobs.labels[size_t(label * 300 + i)] == label);
    }
    CHECK_THROWS_AS(gaussian_blobs(10, 0, 2, 1.0f, 1), core::ValueError);
    CHECK_THROWS_AS(gaussian_blobs(10, 2, 0, 1.0f, 1), core::ValueError);
    CHECK_THROWS_AS(gaussian_blobs(10, 2, 2, -1.0f, 1), core::ValueError);
}

TEST_CASE("Dataset::subset is a view of the chosen samples in order; validate catches bad datasets") {
    const Dataset blobs = gaussian_blobs(5, 2, 3, 1.0f, 4);
    const core::Tensor points = blobs.images();
    const std::vector<int64_t> picks = {9, 0, 0, 4};
    const Dataset part = blobs.subset(picks);
    CHECK(part.size() == 4);
    CHECK(part.images_shape() == core::Shape{4, 3});
    CHECK(part.shares_pixels_with(blobs));  // indices and labels copied, pixels not
    const core::Tensor part_points = part.images();
    for (size_t row = 0; row < picks.size(); ++row) {
        CHECK(part.labels[row] == blobs.labels[size_t(picks[row])]);
        for (int64_t feature = 0; feature < 3; ++feature)
            CHECK(part_points.at({int64_t(row), feature}) == points.at({picks[row], feature}));
    }
    // A view of a view maps through both.
    const std::vector<int64_t> again = {3, 0};
    CHECK(core::equal(part.subset(again).images(), blobs.gather(std::vector<int64_t>{4, 9})));
    CHECK(part.num_classes == 2);
    CHECK(part.class_names == blobs.class_names);
    CHECK(blobs.subset(std::vector<int64_t>{}).size() == 0);
    CHECK_THROWS_AS(blobs.subset(std::vector<int64_t>{10}), core::IndexError);
    CHECK_THROWS_AS(blobs.subset(std::vector<int64_t>{-1}), core::IndexError);
    CHECK(blobs.sample_shape() == core::Shape{3});
    CHECK(blobs.sample_numel() == 3);

    Dataset broken = blobs;
    broken.labels[3] = 2;
    CHECK_THROWS_AS(broken.validate(), core::ValueError);
    broken = blobs;
    broken.labels.push_back(0);
    CHECK_THROWS_AS(broken.validate(), core::ShapeError);
    broken = blobs;
    broken.class_names.pop_back();
    CHECK_THROWS_AS(broken.validate(), core::ValueError);
    CHECK_THROWS_AS(Dataset{}.validate(), core::ShapeError);
    CHECK(Dataset{}.size() == 0);
    Dataset flat;
    CHECK_THROWS_AS(flat.set_images(core::Tensor::zeros({4})), core::ShapeError);  // no sample axis
    CHECK_THROWS_AS(flat.set_pixel_bytes(std::vector<uint8_t>(7), {1, 2, 2}), core::ShapeError);  // 1.75 samples
}

TEST_CASE("Dataset float batches: a range, an index list, all; each a new tensor") {
    const Dataset blobs = gaussian_blobs(5, 2, 3, 1.0f, 4);  // 10 samples of 3 floats
    const core::Tensor points = blobs.images();
    CHECK(points.shape() == core::Shape{10, 3});
    CHECK(core::equal(blobs.images(2, 5), points.slice(2, 7)));
    CHECK(blobs.images(10, 0).shape() == core::Shape{0, 3});
    CHECK_FALSE(blobs.images(0, 10).shares_storage(points));  // the stored values stay as they were
    const std::vector<int64_t> rows = {7, 7, 1};
    const core::Tensor gathered = blobs.gather(rows);
    for (size_t i = 0; i < rows.size(); ++i)
        CHECK(core::equal(gathered.slice(int64_t(i), int64_t(i) + 1), points.slice(rows[i], rows[i] + 1)));
    std::vector<float> sample(3);
    blobs.copy_sample(7, sample.data());
    CHECK(sample == points.slice(7, 8).to_vector());
    CHECK_THROWS_AS(blobs.images(8, 3), core::IndexError);
    CHECK_THROWS_AS(blobs.images(-1, 1), core::IndexError);
    CHECK_THROWS_AS(blobs.gather(std::vector<int64_t>{0, 10}), core::IndexError);

    // Bytes: value byte / 255.0f, the very expression the loaders used to store.
    Dataset bytes;
    bytes.set_pixel_bytes({0, 1, 127, 128, 254, 255}, {1, 1, 2});
    CHECK(bytes.stores_bytes());
    CHECK(bytes.size() == 3);
    CHECK(bytes.sample_shape() == core::Shape{1, 1, 2});
    const std::vector<float> values = bytes.images().to_vector();
    const std::vector<uint8_t> raw = {0, 1, 127, 128, 254, 255};
    for (size_t i = 0; i < raw.size(); ++i) CHECK(values[i] == static_cast<float>(raw[i]) / 255.0f);
    CHECK(bytes.gather(std::vector<int64_t>{2}).to_vector() == std::vector<float>{254.0f / 255.0f, 1.0f});
}

TEST_CASE("split: a seeded partition of the samples") {
    const Dataset blobs = gaussian_blobs(50, 2, 2, 1.0f, 6);  // 100 samples
    // Tag each sample by its index so the parts can be traced back.
    Dataset tagged = blobs;
    core::Tensor tags = blobs.images();
    for (int64_t i = 0; i < 100; ++i) tags.at({i, 0}) = static_cast<float>(i);
    tagged.set_images(tags);

    const auto [train, validation] = split(tagged, 0.2, 42);
    CHECK(train.size() == 80);
    CHECK(validation.size() == 20);
    CHECK(train.name == "gaussian_blobs-train");
    CHECK(validation.name == "gaussian_blobs-validation");
    std::vector<int64_t> train_ids, validation_ids;
    const core::Tensor train_points = train.images(), validation_points = validation.images();
    for (int64_t i = 0; i < 80; ++i) train_ids.push_back(static_cast<int64_t>(train_points.at({i, 0})));
    for (int64_t i = 0; i < 20; ++i) validation_ids.push_back(static_cast<int64_t>(validation_points.at({i, 0})));
    CHECK(train.shares_pixels_with(tagged));  // the parts are views
    CHECK(validation.shares_pixels_with(tagged));
    CHECK(std::is_sorted(train_ids.begin(), train_ids.end()));  // original order kept
    CHECK(std::is_sorted(validation_ids.begin(), validation_ids.end()));
    std::vector<int64_t> all = train_ids;
    all.insert(all.end(), validation_ids.begin(), validation_ids.end());
    std::sort(all.begin(), all.end());
    std::vector<int64_t> expected(100);
    std::iota(expected.begin(), expected.end(), int64_t(0));
    CHECK(all == expected);  // no overlap, nothing missing
    for (int64_t i = 0; i < 80; ++i) CHECK(train.labels[size_t(i)] == tagged.labels[size_t(train_ids[size_t(i)])]);

    const auto [train_again, validation_again] = split(tagged, 0.2, 42);
    CHECK(core::equal(validation.images(), validation_again.images()));
    CHECK(train.labels == train_again.labels);
    const auto [train_other, validation_other] = split(tagged, 0.2, 43);
    CHECK_FALSE(core::equal(validation.images(), validation_other.images()));

    CHECK(split(tagged, 0.0, 1).second.size() == 0);
    CHECK(split(tagged, 1.0, 1).first.size() == 0);
    CHECK(split(tagged, 0.333, 1).second.size() == 33);
    CHECK_THROWS_AS(split(tagged, 1.5, 1), core::ValueError);
    CHECK_THROWS_AS(split(tagged, -0.1, 1), core::ValueError);
}

TEST_CASE("random_permutation is a seeded permutation") {
    core::Rng a(5, "perm"), b(5, "perm"), c(6, "perm");
    const auto first = random_permutation(1000, a);
    CHECK(first == random_permutation(1000, b));
    CHECK(first != random_permutation(1000, c));
    std::vector<int64_t> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 1000; ++i) CHECK(sorted[size_t(i)] == i);
    CHECK(random_permutation(0, a).empty());
    CHECK_THROWS_AS(random_permutation(-1, a), core::ValueError);
}
