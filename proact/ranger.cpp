#include "proact/ranger.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "autograd/variable.hpp"
#include "datasets/split.hpp"

namespace proact::method {

using core::fail;

Tensor ActivationProfile::channel_max() const {
    const int64_t channels = activation_shape[0];
    const int64_t per_channel = neuron_max.numel() / channels;
    Tensor result = Tensor::zeros({channels});
    const float* values = neuron_max.data();
    for (int64_t c = 0; c < channels; ++c) {
        float best = 0.0f;
        for (int64_t i = 0; i < per_channel; ++i) best = std::max(best, values[c * per_channel + i]);
        result.data()[c] = best;
    }
    return result;
}

float ActivationProfile::layer_max() const {
    float best = 0.0f;
    for (float v : neuron_max.span()) best = std::max(best, v);
    return best;
}

Tensor ActivationProfile::threshold(core::ClipGranularity granularity) const {
    const Shape shape = layers::ClippedReLU::threshold_shape(granularity, activation_shape);
    switch (granularity) {
        case core::ClipGranularity::layer: return Tensor::full(shape, layer_max());
        case core::ClipGranularity::channel: return channel_max().reshape(shape);
        case core::ClipGranularity::neuron: return neuron_max.clone();
    }
    return Tensor();
}

std::vector<int64_t> ranger_subset(int64_t count, int64_t images, uint64_t seed) {
    if (images < 1) fail<core::ValueError>("Ranger: profiling images must be at least 1, got ", images);
    core::Rng rng(seed, "ranger");
    std::vector<int64_t> order = datasets::random_permutation(count, rng);
    order.resize(static_cast<size_t>(std::min(images, count)));
    std::sort(order.begin(), order.end());
    return order;
}

Tensor gather_images(const Tensor& images, std::span<const int64_t> indices) {
    const Tensor source = images.contiguous();
    Shape shape = source.shape();
    const int64_t row = source.numel() / std::max<int64_t>(shape[0], 1);
    shape[0] = static_cast<int64_t>(indices.size());
    Tensor result = Tensor::empty(shape);
    for (size_t i = 0; i < indices.size(); ++i) {
        if (indices[i] < 0 || indices[i] >= source.size(0))
            fail<core::IndexError>("gather_images: index ", indices[i], " outside [0, ", source.size(0), ")");
        std::memcpy(result.data() + static_cast<int64_t>(i) * row, source.data() + indices[i] * row,
                    sizeof(float) * static_cast<size_t>(row));
    }
    return result;
}

std::vector<ActivationProfile> profile_activations(layers::Module& model, const Shape& input_shape,
                                                   const Tensor& images, int64_t batch_size) {
    if (images.dim() < 1 || images.size(0) < 1) fail<core::ValueError>("Ranger: no images to profile on");
    if (batch_size < 1) fail<core::ValueError>("Ranger: batch size must be positive, got ", batch_size);
    const std::vector<layers::ActivationSite> sites = layers::activation_sites(model, input_shape);
    if (sites.empty()) fail<core::ValueError>("Ranger: the model (", model.type_name(), ") has no ReLU to profile");
    std::vector<ActivationProfile> profiles;
    for (const layers::ActivationSite& site : sites)
        profiles.push_back({site.path, site.activation_shape, Tensor::zeros(site.activation_shape)});

    layers::ForwardHookScope hooks;
    for (size_t i = 0; i < sites.size(); ++i) {
        float* best = profiles[i].neuron_max.data();
        const int64_t per_sample = profiles[i].neuron_max.numel();
        hooks.add(*sites[i].module, [best, per_sample](layers::Module&, const autograd::Variable&,
                                                       const autograd::Variable& output) {
            const Tensor values = output.value().contiguous();
            const float* data = values.data();
            for (int64_t b = 0; b < values.size(0); ++b)
                for (int64_t j = 0; j < per_sample; ++j) best[j] = std::max(best[j], data[b * per_sample + j]);
        });
    }
    layers::ModeGuard eval_mode(model, /*training=*/false);
    autograd::NoGradGuard no_grad;
    for (int64_t start = 0; start < images.size(0); start += batch_size)
        model(autograd::Variable(images.slice(start, std::min(images.size(0), start + batch_size))));
    return profiles;
}

std::vector<layers::ActivationSite> ranger_harden(layers::Module& model, const Shape& input_shape,
                                                  const std::vector<ActivationProfile>& profiles,
                                                  const layers::HybridClip& config) {
    // Checked before the surgery, so a mismatch leaves the model as it was.
    const std::vector<layers::ActivationSite> relus = layers::activation_sites(model, input_shape);
    if (relus.size() != profiles.size())
        fail<core::ValueError>("Ranger: ", profiles.size(), " profiles for a model with ", relus.size(), " ReLUs");
    for (size_t i = 0; i < relus.size(); ++i)
        if (relus[i].path != profiles[i].path || relus[i].activation_shape != profiles[i].activation_shape)
            fail<core::ValueError>("Ranger: profile ", i, " is of ", profiles[i].path, " ",
                                   core::shape_str(profiles[i].activation_shape), ", the model's ReLU ", i, " is ",
                                   relus[i].path, " ", core::shape_str(relus[i].activation_shape));
    std::vector<layers::ActivationSite> sites = layers::apply_clip(model, input_shape, config);
    for (size_t i = 0; i < sites.size(); ++i) {
        auto& clip = static_cast<layers::ClippedReLU&>(*sites[i].module);
        clip.threshold().value().copy_(profiles[i].threshold(clip.granularity()));
    }
    return sites;
}

std::vector<ActivationProfile> profile_training_subset(layers::Module& model, const Shape& input_shape,
                                                       const datasets::Dataset& train, int64_t images, uint64_t seed) {
    const std::vector<int64_t> rows = ranger_subset(train.size(), images, seed);
    return profile_activations(model, input_shape, train.gather(rows));
}

}  // namespace proact::method
