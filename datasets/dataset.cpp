#include "datasets/dataset.hpp"

#include <cstring>

namespace proact::datasets {

int64_t Dataset::size() const { return images.defined() && images.dim() > 0 ? images.size(0) : 0; }

core::Shape Dataset::sample_shape() const {
    if (!images.defined() || images.dim() == 0) return {};
    return core::Shape(images.shape().begin() + 1, images.shape().end());
}

int64_t Dataset::sample_numel() const { return core::numel_of(sample_shape()); }

Dataset Dataset::subset(std::span<const int64_t> indices) const {
    validate();
    const int64_t count = size();
    const int64_t sample_elements = sample_numel();
    core::Shape shape = images.shape();
    shape[0] = static_cast<int64_t>(indices.size());

    Dataset result;
    result.images = core::Tensor::empty(shape);
    result.labels.resize(indices.size());
    result.num_classes = num_classes;
    result.name = name;
    result.class_names = class_names;

    const core::Tensor source = images.contiguous();
    const float* source_data = source.data();
    float* destination = result.images.data();
    for (size_t position = 0; position < indices.size(); ++position) {
        const int64_t index = indices[position];
        if (index < 0 || index >= count)
            core::fail<core::IndexError>("subset of '", name, "': index ", index, " at position ", position,
                                         " is outside [0, ", count, ")");
        std::memcpy(destination + static_cast<int64_t>(position) * sample_elements,
                    source_data + index * sample_elements, static_cast<size_t>(sample_elements) * sizeof(float));
        result.labels[position] = labels[static_cast<size_t>(index)];
    }
    return result;
}

void Dataset::validate() const {
    if (!images.defined()) core::fail<core::ShapeError>("dataset '", name, "': images tensor is undefined");
    if (images.dim() < 2)
        core::fail<core::ShapeError>("dataset '", name, "': images must be [N, C, H, W] or [N, F], got shape ",
                                     core::shape_str(images.shape()));
    if (static_cast<int64_t>(labels.size()) != images.size(0))
        core::fail<core::ShapeError>("dataset '", name, "': ", images.size(0), " samples but ", labels.size(),
                                     " labels");
    if (num_classes <= 0) core::fail<core::ValueError>("dataset '", name, "': num_classes must be > 0, got ", num_classes);
    if (!class_names.empty() && static_cast<int64_t>(class_names.size()) != num_classes)
        core::fail<core::ValueError>("dataset '", name, "': ", class_names.size(), " class names for ", num_classes,
                                     " classes");
    for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] < 0 || labels[i] >= num_classes)
            core::fail<core::ValueError>("dataset '", name, "': label ", labels[i], " of sample ", i,
                                         " is outside [0, ", num_classes, ")");
}

std::vector<int64_t> label_histogram(const Dataset& dataset) {
    dataset.validate();
    std::vector<int64_t> counts(static_cast<size_t>(dataset.num_classes), 0);
    for (int32_t label : dataset.labels) ++counts[static_cast<size_t>(label)];
    return counts;
}

}  // namespace proact::datasets
