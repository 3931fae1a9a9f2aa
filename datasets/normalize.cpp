#include "datasets/normalize.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace proact::datasets {

Normalization channel_statistics(const Dataset& dataset) {
    dataset.validate();
    const int64_t count = dataset.size();
    const int64_t channels = dataset.sample_shape()[0];
    const int64_t spatial = channels > 0 ? dataset.sample_numel() / channels : 0;
    if (count == 0 || spatial == 0)
        core::fail<core::ValueError>("channel_statistics of '", dataset.name, "': dataset has no values");
    std::vector<float> values(static_cast<size_t>(dataset.sample_numel()));  // one sample at a time
    std::vector<double> sums(static_cast<size_t>(channels), 0.0);
    std::vector<double> squares(static_cast<size_t>(channels), 0.0);
    for (int64_t sample = 0; sample < count; ++sample) {
        dataset.copy_sample(sample, values.data());
        for (int64_t channel = 0; channel < channels; ++channel) {
            const float* plane = values.data() + channel * spatial;
            double sum = 0.0;
            double square = 0.0;
            for (int64_t i = 0; i < spatial; ++i) {
                sum += plane[i];
                square += double(plane[i]) * double(plane[i]);
            }
            sums[static_cast<size_t>(channel)] += sum;
            squares[static_cast<size_t>(channel)] += square;
        }
    }
    Normalization statistics;
    const double per_channel = static_cast<double>(count) * static_cast<double>(spatial);
    for (int64_t channel = 0; channel < channels; ++channel) {
        const double mean = sums[static_cast<size_t>(channel)] / per_channel;
        const double variance = std::max(0.0, squares[static_cast<size_t>(channel)] / per_channel - mean * mean);
        statistics.mean.push_back(static_cast<float>(mean));
        statistics.std.push_back(static_cast<float>(std::sqrt(variance)));
    }
    return statistics;
}

void check_normalization(const Normalization& normalization, int64_t channels, const char* owner) {
    if (static_cast<int64_t>(normalization.mean.size()) != channels ||
        static_cast<int64_t>(normalization.std.size()) != channels)
        core::fail<core::ValueError>(owner, ": normalisation has ", normalization.mean.size(), " means and ",
                                     normalization.std.size(), " stds, the data has ", channels, " channels");
    for (size_t channel = 0; channel < normalization.std.size(); ++channel)
        if (!(normalization.std[channel] > 0.0f) || !std::isfinite(normalization.std[channel]) ||
            !std::isfinite(normalization.mean[channel]))
            core::fail<core::ValueError>(owner, ": channel ", channel, " has mean ", normalization.mean[channel],
                                         " and std ", normalization.std[channel],
                                         ", expected a finite mean and a finite std > 0");
}

void normalize_samples(std::span<float> samples, int64_t count, int64_t channels, int64_t spatial,
                       const Normalization& normalization) {
    if (static_cast<int64_t>(samples.size()) < count * channels * spatial)
        core::fail<core::ShapeError>("normalize_samples: ", count, "x", channels, "x", spatial, " needs ",
                                     count * channels * spatial, " values, got ", samples.size());
    check_normalization(normalization, channels, "normalize_samples");
    for (int64_t sample = 0; sample < count; ++sample)
        for (int64_t channel = 0; channel < channels; ++channel) {
            const float mean = normalization.mean[static_cast<size_t>(channel)];
            const float inverse_std = 1.0f / normalization.std[static_cast<size_t>(channel)];
            float* plane = samples.data() + (sample * channels + channel) * spatial;
            for (int64_t i = 0; i < spatial; ++i) plane[i] = (plane[i] - mean) * inverse_std;
        }
}

}  // namespace proact::datasets
