// DataLoader: batches of a Dataset, seeded shuffling, augmentation, normalisation, prefetching.
//
//   DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = seed,
//                             .normalize = {.mean = {0.2860f}, .std = {0.3530f}}});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//       loader.start_epoch(epoch);
//       while (auto batch = loader.next()) {
//           // batch->images [B, C, H, W] contiguous, batch->labels B class indices
//       }
//   }
//
// Reproducibility: epoch e's order is the permutation drawn from Rng(seed, "shuffle", e), and
// sample i's augmentation in epoch e from Rng(seed, "augment", e).child(i). So epoch e's batches are
// the same bytes whatever happened before, with or without prefetching, at any thread count.
//
// Per sample, in this order: its float values (Dataset::copy_sample: byte/255 for stored bytes),
// the augmentation's crop/flip of those values, then normalisation. Only the last batch of an epoch can be smaller than batch_size, and it is
// dropped when drop_last is set.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/tensor.hpp"
#include "datasets/augment.hpp"
#include "datasets/dataset.hpp"
#include "datasets/normalize.hpp"

namespace proact::datasets {

struct LoaderOptions {
    int64_t batch_size = 64;
    bool shuffle = true;     // false: dataset order every epoch
    bool drop_last = false;  // true: skip a final batch smaller than batch_size
    uint64_t seed = 0;
    Normalization normalize{};  // empty: values unchanged
    Augmentation augment{};     // needs [N, C, H, W] images
    bool prefetch = true;     // build the next batch on a background thread
};

struct Batch {
    core::Tensor images{};         // [B, C, H, W] (tabular: [B, F]), contiguous
    std::vector<int32_t> labels{};   // B
    std::vector<int64_t> indices{};  // B: index in the dataset of each sample
    int64_t epoch = 0;
    int64_t batch_index = 0;       // position of this batch in the epoch
};

class DataLoader {
public:
    // Keeps its own copy of `dataset` (a view: the stored pixels are shared; indices and labels
    // are copied).
    // ValueError / ShapeError for an invalid dataset or options.
    DataLoader(const Dataset& dataset, LoaderOptions options = {});
    // Stops and joins the prefetch thread, also in the middle of an epoch.
    ~DataLoader();
    DataLoader(DataLoader&&) noexcept;
    DataLoader& operator=(DataLoader&&) noexcept;
    DataLoader(const DataLoader&) = delete;
    DataLoader& operator=(const DataLoader&) = delete;

    // Begins epoch `epoch` (>= 0), abandoning whatever is left of the current one.
    void start_epoch(int64_t epoch);
    // The next batch of the current epoch, or nullopt once it is exhausted. Throws ValueError
    // before the first start_epoch; rethrows an error raised while building the batch.
    std::optional<Batch> next();

    int64_t num_batches() const;  // per epoch
    int64_t size() const;         // samples in the dataset
    int64_t current_epoch() const;  // -1 before the first start_epoch
    const Dataset& dataset() const;
    const LoaderOptions& options() const;

    // Batch `batch_index` of epoch `epoch` computed directly, without touching the loader's state:
    // the same bytes next() returns for it.
    Batch batch_at(int64_t epoch, int64_t batch_index) const;

private:
    struct EpochPlan;
    struct BatchBuilder;
    struct Prefetcher;

    std::shared_ptr<const BatchBuilder> builder_;  // shared with the prefetch thread, immutable
    std::shared_ptr<const EpochPlan> plan_;        // current epoch, null before start_epoch
    int64_t next_batch_ = 0;                       // batches handed out in the current epoch
    std::unique_ptr<Prefetcher> prefetcher_;
};

}  // namespace proact::datasets
