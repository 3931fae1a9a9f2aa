// DataLoader: coverage of every sample per epoch, seeded and history-independent shuffling,
// prefetch on/off equality, drop_last, normalisation, augmentation, errors and clean shutdown.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "datasets/datasets.hpp"

using namespace proact;
using namespace proact::datasets;

namespace {

// `count` samples of shape [channels, height, width]; every value of sample i encodes i, so a batch
// row can be traced back to its sample: value = i + (element index) / 10000.
Dataset indexed_images(int64_t count, int64_t channels, int64_t height, int64_t width) {
    Dataset dataset;
    core::Tensor images = core::Tensor::empty({count, channels, height, width});
    const int64_t sample_elements = channels * height * width;
    float* values = images.data();
    for (int64_t sample = 0; sample < count; ++sample)
        for (int64_t element = 0; element < sample_elements; ++element)
            values[sample * sample_elements + element] =
                static_cast<float>(sample) + static_cast<float>(element) / 10000.0f;
    dataset.set_images(images);
    for (int64_t sample = 0; sample < count; ++sample) dataset.labels.push_back(static_cast<int32_t>(sample % 3));
    dataset.num_classes = 3;
    dataset.name = "indexed";
    return dataset;
}

std::vector<Batch> whole_epoch(DataLoader& loader, int64_t epoch) {
    loader.start_epoch(epoch);
    std::vector<Batch> batches;
    while (auto batch = loader.next()) batches.push_back(std::move(*batch));
    return batches;
}

std::vector<int64_t> epoch_order(const std::vector<Batch>& batches) {
    std::vector<int64_t> order;
    for (const Batch& batch : batches) order.insert(order.end(), batch.indices.begin(), batch.indices.end());
    return order;
}

void check_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        CHECK(a[i].indices == b[i].indices);
        CHECK(a[i].labels == b[i].labels);
        CHECK(core::equal(a[i].images, b[i].images));
    }
}

}  // namespace

TEST_CASE("every sample exactly once per epoch, rows match their samples and labels") {
    const Dataset dataset = indexed_images(103, 2, 3, 3);
    for (bool prefetch : {false, true}) {
        CAPTURE(prefetch);
        DataLoader loader(dataset, {.batch_size = 10, .shuffle = true, .seed = 7, .prefetch = prefetch});
        CHECK(loader.num_batches() == 11);
        CHECK(loader.size() == 103);
        for (int64_t epoch = 0; epoch < 3; ++epoch) {
            const std::vector<Batch> batches = whole_epoch(loader, epoch);
            REQUIRE(batches.size() == 11);
            std::vector<int64_t> order = epoch_order(batches);
            std::sort(order.begin(), order.end());
            std::vector<int64_t> all(103);
            std::iota(all.begin(), all.end(), int64_t(0));
            CHECK(order == all);
            for (size_t b = 0; b < batches.size(); ++b) {
                const Batch& batch = batches[b];
                CHECK(batch.epoch == epoch);
                CHECK(batch.batch_index == static_cast<int64_t>(b));
                CHECK(batch.images.is_contiguous());
                CHECK(batch.images.shape() == core::Shape{b + 1 < batches.size() ? 10 : 3, 2, 3, 3});
                for (size_t row = 0; row < batch.indices.size(); ++row) {
                    const int64_t index = batch.indices[row];
                    CHECK(batch.labels[row] == index % 3);
                    CHECK(batch.images.at({int64_t(row), 1, 2, 2}) == dataset.gather(std::vector<int64_t>{index}).at({0, 1, 2, 2}));
                }
            }
            CHECK_FALSE(loader.next().has_value());  // stays exhausted
        }
    }
}

TEST_CASE("shuffling: same seed same batches, epochs differ, seeds differ, history does not matter") {
    const Dataset dataset = indexed_images(64, 1, 2, 2);
    DataLoader first(dataset, {.batch_size = 8, .seed = 3});
    DataLoader second(dataset, {.batch_size = 8, .seed = 3});
    DataLoader other_seed(dataset, {.batch_size = 8, .seed = 4});

    const auto epoch0 = whole_epoch(first, 0);
    const auto epoch1 = whole_epoch(first, 1);
    check_same_batches(epoch0, whole_epoch(second, 0));
    CHECK(epoch_order(epoch0) != epoch_order(epoch1));
    CHECK(epoch_order(epoch0) != epoch_order(whole_epoch(other_seed, 0)));

    // Epoch 5 straight away equals epoch 5 after 0..4 and after an abandoned epoch.
    DataLoader fresh(dataset, {.batch_size = 8, .seed = 3});
    const auto direct = whole_epoch(fresh, 5);
    for (int64_t epoch = 0; epoch < 5; ++epoch) whole_epoch(second, epoch);
    second.start_epoch(9);
    (void)second.next();
    check_same_batches(direct, whole_epoch(second, 5));
    // The order is the permutation of Rng(seed, "shuffle", epoch).
    core::Rng rng(3, "shuffle", 5);
    CHECK(epoch_order(direct) == random_permutation(64, rng));
    // batch_at gives the same bytes without touching the loader's state
    check_same_batches({direct[2]}, {fresh.batch_at(5, 2)});

    DataLoader ordered(dataset, {.batch_size = 8, .shuffle = false});
    std::vector<int64_t> identity(64);
    std::iota(identity.begin(), identity.end(), int64_t(0));
    CHECK(epoch_order(whole_epoch(ordered, 0)) == identity);
    CHECK(epoch_order(whole_epoch(ordered, 1)) == identity);
}

TEST_CASE("prefetch on and off give identical batches, with normalisation and augmentation") {
    const Dataset dataset = indexed_images(50, 3, 6, 5);
    LoaderOptions options{.batch_size = 7,
                          .shuffle = true,
                          .drop_last = false,
                          .seed = 11,
                          .normalize = {.mean = {0.5f, 1.0f, 2.0f}, .std = {2.0f, 0.5f, 4.0f}},
                          .augment = {.crop_padding = 2, .horizontal_flip = true}};
    options.prefetch = false;
    DataLoader serial(dataset, options);
    options.prefetch = true;
    DataLoader prefetched(dataset, options);
    for (int64_t epoch : {0, 1, 4}) {
        CAPTURE(epoch);
        check_same_batches(whole_epoch(serial, epoch), whole_epoch(prefetched, epoch));
    }
    // Restarting mid-epoch throws away batches already built ahead.
    prefetched.start_epoch(2);
    (void)prefetched.next();
    (void)prefetched.next();
    check_same_batches(whole_epoch(serial, 3), whole_epoch(prefetched, 3));
    CHECK(prefetched.current_epoch() == 3);
}

TEST_CASE("drop_last and batch counts") {
    const Dataset dataset = indexed_images(10, 1, 1, 1);
    DataLoader keep(dataset, {.batch_size = 3, .drop_last = false});
    DataLoader drop(dataset, {.batch_size = 3, .drop_last = true});
    CHECK(keep.num_batches() == 4);
    CHECK(drop.num_batches() == 3);
    const auto kept = whole_epoch(keep, 0);
    const auto dropped = whole_epoch(drop, 0);
    REQUIRE(kept.size() == 4);
    REQUIRE(dropped.size() == 3);
    CHECK(kept.back().images.size(0) == 1);
    for (const Batch& batch : dropped) CHECK(batch.images.size(0) == 3);
    CHECK(epoch_order(dropped).size() == 9);
    // Same permutation either way: drop_last only cuts the tail.
    const auto kept_order = epoch_order(kept);
    CHECK(std::vector<int64_t>(kept_order.begin(), kept_order.begin() + 9) == epoch_order(dropped));

    DataLoader exact(dataset, {.batch_size = 5, .drop_last = true});
    CHECK(exact.num_batches() == 2);
    DataLoader larger(dataset, {.batch_size = 32, .drop_last = true});
    CHECK(larger.num_batches() == 0);
    CHECK(whole_epoch(larger, 0).empty());
    DataLoader single(dataset, {.batch_size = 32});
    CHECK(single.num_batches() == 1);
    CHECK(whole_epoch(single, 0)[0].images.size(0) == 10);
}

TEST_CASE("normalisation: (x - mean) / std per channel, statistics from the data") {
    Dataset dataset = indexed_images(6, 2, 2, 2);
    const core::Tensor images = dataset.images();
    const Normalization normalization{.mean = {1.5f, -2.0f}, .std = {0.5f, 4.0f}};
    DataLoader loader(dataset, {.batch_size = 4, .shuffle = false, .normalize = normalization});
    const auto batches = whole_epoch(loader, 0);
    for (const Batch& batch : batches)
        for (int64_t row = 0; row < batch.images.size(0); ++row)
            for (int64_t channel = 0; channel < 2; ++channel)
                for (int64_t y = 0; y < 2; ++y)
                    for (int64_t x = 0; x < 2; ++x) {
                        const float raw = images.at({batch.indices[size_t(row)], channel, y, x});
                        const float expected = (raw - normalization.mean[size_t(channel)]) / normalization.std[size_t(channel)];
                        CHECK(batch.images.at({row, channel, y, x}) == doctest::Approx(expected).epsilon(1e-6));
                    }

    // channel_statistics makes each channel mean 0, std 1 over the dataset.
    const Dataset blobs = gaussian_blobs(200, 3, 4, 1.5f, 5);
    const Normalization statistics = channel_statistics(blobs);
    REQUIRE(statistics.mean.size() == 4);
    DataLoader tabular(blobs, {.batch_size = 600, .shuffle = false, .normalize = statistics});
    const auto all = whole_epoch(tabular, 0);
    REQUIRE(all.size() == 1);
    for (int64_t feature = 0; feature < 4; ++feature) {
        double sum = 0.0, square = 0.0;
        for (int64_t row = 0; row < 600; ++row) {
            const double value = all[0].images.at({row, feature});
            sum += value;
            square += value * value;
        }
        CHECK(sum / 600 == doctest::Approx(0.0).epsilon(1e-4));
        CHECK(std::sqrt(square / 600) == doctest::Approx(1.0).epsilon(1e-4));
    }
}

TEST_CASE("augmentation: each output is a padded crop (maybe mirrored) of its sample, deterministic") {
    const int64_t height = 5, width = 4, padding = 2;
    const Dataset dataset = indexed_images(40, 2, height, width);
    const core::Tensor images = dataset.images();
    const Augmentation augmentation{.crop_padding = padding, .horizontal_flip = true};
    DataLoader loader(dataset, {.batch_size = 8, .seed = 21, .augment = augmentation});
    const auto batches = whole_epoch(loader, 0);

    int flips = 0, shifted = 0;
    for (const Batch& batch : batches)
        for (size_t row = 0; row < batch.indices.size(); ++row) {
            const int64_t index = batch.indices[row];
            // The draw the loader must have used for this sample.
            core::Rng rng = core::Rng(21, "augment", 0).child(static_cast<uint64_t>(index));
            const AugmentationDraw draw = draw_augmentation(augmentation, rng);
            flips += draw.flip;
            shifted += draw.offset_y != padding || draw.offset_x != padding;
            for (int64_t channel = 0; channel < 2; ++channel)
                for (int64_t y = 0; y < height; ++y)
                    for (int64_t x = 0; x < width; ++x) {
                        const int64_t source_y = y + draw.offset_y - padding;
                        const int64_t source_x = (draw.flip ? width - 1 - x : x) + draw.offset_x - padding;
                        const bool inside = source_y >= 0 && source_y < height && source_x >= 0 && source_x < width;
                        const float expected = inside ? images.at({index, channel, source_y, source_x}) : 0.0f;
                        REQUIRE(batch.images.at({int64_t(row), channel, y, x}) == expected);
                    }
        }
    CHECK(flips > 8);   // about half of 40
    CHECK(flips < 32);
    CHECK(shifted > 20);

    // Same seed and epoch: same bytes, whatever the batch size; another epoch: other draws.
    DataLoader regrouped(dataset, {.batch_size = 5, .seed = 21, .augment = augmentation, .prefetch = false});
    const auto regrouped_batches = whole_epoch(regrouped, 0);
    auto rows_by_index = [](const std::vector<Batch>& list) {
        std::vector<std::vector<float>> rows(40);
        for (const Batch& batch : list)
            for (size_t row = 0; row < batch.indices.size(); ++row)
                rows[size_t(batch.indices[row])] = batch.images.select(int64_t(row)).to_vector();
        return rows;
    };
    CHECK(rows_by_index(batches) == rows_by_index(regrouped_batches));
    CHECK(rows_by_index(batches) != rows_by_index(whole_epoch(loader, 1)));
}

TEST_CASE("crop_and_flip kernel edge cases") {
    const std::vector<float> image = {1, 2, 3, 4, 5, 6};  // 1 channel, 2x3
    std::vector<float> out(6);
    crop_and_flip(image, out, 1, 2, 3, 0, {.offset_y = 0, .offset_x = 0, .flip = true});
    CHECK(out == std::vector<float>{3, 2, 1, 6, 5, 4});
    crop_and_flip(image, out, 1, 2, 3, 1, {.offset_y = 0, .offset_x = 2, .flip = false});
    CHECK(out == std::vector<float>{0, 0, 0, 2, 3, 0});
    crop_and_flip(image, out, 1, 2, 3, 1, {.offset_y = 2, .offset_x = 0, .flip = true});
    CHECK(out == std::vector<float>{5, 4, 0, 0, 0, 0});  // padded row [0 4 5 6 0], window [0 4 5], mirrored
    // padding wider than the image: a window entirely in the padding is all zeros
    crop_and_flip(image, out, 1, 2, 3, 5, {.offset_y = 0, .offset_x = 10, .flip = false});
    CHECK(out == std::vector<float>(6, 0.0f));
    CHECK_THROWS_AS(crop_and_flip(image, out, 1, 2, 3, 1, {.offset_y = 3, .offset_x = 0, .flip = false}),
                    core::ValueError);
}

TEST_CASE("batches of stored bytes are the bits of batches of the floats byte / 255") {
    // Every byte value, in samples of [2, 4, 4]: 8 samples cover 0..255.
    std::vector<uint8_t> bytes(8 * 32);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
    std::vector<float> floats(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i) floats[i] = static_cast<float>(bytes[i]) / 255.0f;  // the old loaders
    Dataset stored, converted;
    stored.set_pixel_bytes(bytes, {2, 4, 4});
    converted.set_images(core::Tensor::from_vector({8, 2, 4, 4}, floats));
    for (Dataset* dataset : {&stored, &converted}) {
        dataset->labels = {0, 1, 2, 0, 1, 2, 0, 1};
        dataset->num_classes = 3;
    }
    CHECK(stored.stores_bytes());
    CHECK_FALSE(converted.stores_bytes());
    CHECK(core::equal(stored.images(), converted.images()));
    const LoaderOptions options{.batch_size = 3, .seed = 4, .normalize = {.mean = {0.3f, 0.6f}, .std = {0.2f, 0.7f}},
                                .augment = {.crop_padding = 1, .horizontal_flip = true}};
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
        DataLoader from_bytes(stored, options);
        DataLoader from_floats(converted, options);
        check_same_batches(whole_epoch(from_bytes, epoch), whole_epoch(from_floats, epoch));
    }
    // A view of a view reads the same stored bytes.
    const std::vector<int64_t> picks = {6, 1, 1, 3};
    const Dataset part = stored.subset(picks);
    CHECK(part.shares_pixels_with(stored));
    DataLoader over_part(part, {.batch_size = 4, .shuffle = false});
    CHECK(core::equal(whole_epoch(over_part, 0)[0].images, converted.gather(picks)));
}

TEST_CASE("loader errors") {
    const Dataset images = indexed_images(4, 1, 2, 2);
    CHECK_THROWS_AS(DataLoader(images, {.batch_size = 0}), core::ValueError);
    CHECK_THROWS_AS(DataLoader(images, {.normalize = {.mean = {0.5f, 0.5f}, .std = {1.0f, 1.0f}}}), core::ValueError);
    CHECK_THROWS_AS(DataLoader(images, {.normalize = {.mean = {0.5f}, .std = {0.0f}}}), core::ValueError);
    CHECK_THROWS_AS(DataLoader(images, {.augment = {.crop_padding = -1}}), core::ValueError);
    const Dataset spirals = two_spirals(10, 0.0f, 1);
    CHECK_THROWS_AS(DataLoader(spirals, {.augment = {.horizontal_flip = true}}), core::ValueError);
    Dataset mislabelled = images;
    mislabelled.labels.pop_back();
    CHECK_THROWS_AS(DataLoader(mislabelled, {}), core::ShapeError);

    DataLoader loader(images);
    CHECK(loader.current_epoch() == -1);
    CHECK_THROWS_AS(loader.next(), core::ValueError);
    CHECK_THROWS_AS(loader.start_epoch(-1), core::ValueError);
    CHECK_THROWS_AS(loader.batch_at(0, 1), core::IndexError);
}

TEST_CASE("destroying or moving a loader mid-epoch is clean") {
    const Dataset dataset = indexed_images(200, 1, 8, 8);
    for (int repeat = 0; repeat < 20; ++repeat) {
        DataLoader loader(dataset, {.batch_size = 4, .seed = uint64_t(repeat)});
        loader.start_epoch(0);
        for (int taken = 0; taken < repeat % 4; ++taken) (void)loader.next();
    }  // destructor joins the prefetch thread while it is building or waiting

    DataLoader original(dataset, {.batch_size = 16, .seed = 2});
    const auto expected = whole_epoch(original, 1);
    original.start_epoch(1);
    (void)original.next();
    DataLoader moved = std::move(original);
    auto second = moved.next();
    REQUIRE(second.has_value());
    check_same_batches({expected[1]}, {*second});
    DataLoader assigned(dataset, {.batch_size = 3});
    assigned.start_epoch(0);
    (void)assigned.next();
    assigned = std::move(moved);
    auto third = assigned.next();
    REQUIRE(third.has_value());
    check_same_batches({expected[2]}, {*third});
}

TEST_CASE("an epoch over 60000 28x28 byte images gives every sample once, in full batches") {
    // Speed is measured in bench/, not here: a timed check fails on a loaded machine.
    Dataset dataset;
    std::vector<uint8_t> pixels(size_t(60000) * 784, 0);
    std::vector<int32_t> labels(60000);
    for (int64_t i = 0; i < 60000; ++i) labels[size_t(i)] = int32_t(i % 10);
    dataset.set_pixel_bytes(std::move(pixels), {1, 28, 28});
    dataset.labels = labels;
    dataset.num_classes = 10;
    DataLoader loader(dataset, {.batch_size = 64, .seed = 1, .normalize = {.mean = {0.286f}, .std = {0.353f}}});
    loader.start_epoch(0);
    int64_t samples = 0, batches = 0;
    std::vector<int64_t> per_label(10, 0);
    while (auto batch = loader.next()) {
        samples += batch->images.size(0);
        ++batches;
        for (const int32_t label : batch->labels) ++per_label[size_t(label)];
    }
    CHECK(samples == 60000);
    CHECK(batches == (60000 + 63) / 64);
    for (const int64_t count : per_label) CHECK(count == 6000);
}
