#include "datasets/split.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace proact::datasets {

std::vector<int64_t> random_permutation(int64_t count, core::Rng& rng) {
    if (count < 0) core::fail<core::ValueError>("random_permutation: count must be >= 0, got ", count);
    std::vector<int64_t> order(static_cast<size_t>(count));
    std::iota(order.begin(), order.end(), int64_t(0));
    for (int64_t i = count - 1; i > 0; --i) {
        const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
        std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
    }
    return order;
}

std::pair<Dataset, Dataset> split(const Dataset& dataset, double validation_fraction, uint64_t seed) {
    if (!(validation_fraction >= 0.0 && validation_fraction <= 1.0))
        core::fail<core::ValueError>("split of '", dataset.name, "': validation_fraction must be in [0, 1], got ",
                                     validation_fraction);
    dataset.validate();
    const int64_t count = dataset.size();
    const auto validation_count = static_cast<int64_t>(std::llround(validation_fraction * static_cast<double>(count)));
    core::Rng rng(seed, "split");
    std::vector<int64_t> order = random_permutation(count, rng);
    std::vector<int64_t> validation_indices(order.begin(), order.begin() + validation_count);
    std::vector<int64_t> train_indices(order.begin() + validation_count, order.end());
    std::sort(validation_indices.begin(), validation_indices.end());
    std::sort(train_indices.begin(), train_indices.end());
    Dataset train = dataset.subset(train_indices);
    Dataset validation = dataset.subset(validation_indices);
    train.name = dataset.name + "-train";
    validation.name = dataset.name + "-validation";
    return {std::move(train), std::move(validation)};
}

}  // namespace proact::datasets
