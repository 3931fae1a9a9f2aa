#include "datasets/dataset.hpp"

#include <cstring>
#include <numeric>

#include "core/error.hpp"

namespace proact::datasets {

namespace {

std::vector<int64_t> all_rows(int64_t count) {
    std::vector<int64_t> rows(static_cast<size_t>(count));
    std::iota(rows.begin(), rows.end(), int64_t(0));
    return rows;
}

}  // namespace

int64_t Dataset::Pixels::rows() const {
    if (values.defined()) return values.size(0);
    return sample_numel > 0 ? static_cast<int64_t>(bytes.size()) / sample_numel : 0;
}

void Dataset::set_images(const core::Tensor& images) {
    if (!images.defined() || images.dim() < 2)
        core::fail<core::ShapeError>("dataset '", name, "': images must be [N, C, H, W] or [N, F], got shape ",
                                     images.defined() ? core::shape_str(images.shape()) : "undefined");
    auto pixels = std::make_shared<Pixels>();
    pixels->values = images.contiguous();
    pixels->sample_shape = core::Shape(images.shape().begin() + 1, images.shape().end());
    pixels->sample_numel = core::numel_of(pixels->sample_shape);
    rows_ = all_rows(images.size(0));
    pixels_ = std::move(pixels);
}

void Dataset::set_pixel_bytes(std::vector<uint8_t> bytes, const core::Shape& sample_shape) {
    const int64_t sample_numel = core::numel_of(sample_shape);
    if (sample_shape.empty() || sample_numel < 1 || static_cast<int64_t>(bytes.size()) % sample_numel != 0)
        core::fail<core::ShapeError>("dataset '", name, "': ", bytes.size(), " pixel bytes are not whole samples of ",
                                     core::shape_str(sample_shape));
    auto pixels = std::make_shared<Pixels>();
    pixels->sample_shape = sample_shape;
    pixels->sample_numel = sample_numel;
    pixels->bytes = std::move(bytes);
    rows_ = all_rows(pixels->rows());
    pixels_ = std::move(pixels);
}

core::Shape Dataset::sample_shape() const { return pixels_ ? pixels_->sample_shape : core::Shape{}; }

int64_t Dataset::sample_numel() const { return pixels_ ? pixels_->sample_numel : 0; }

core::Shape Dataset::images_shape() const {
    core::Shape shape = sample_shape();
    shape.insert(shape.begin(), size());
    return shape;
}

bool Dataset::stores_bytes() const { return pixels_ && !pixels_->values.defined(); }

void Dataset::copy_sample(int64_t index, float* destination) const {
    const int64_t elements = pixels_->sample_numel;
    const int64_t row = rows_[static_cast<size_t>(index)];
    if (pixels_->values.defined()) {
        std::memcpy(destination, pixels_->values.data() + row * elements, static_cast<size_t>(elements) * sizeof(float));
        return;
    }
    // Plain division keeps value == pixel/255 exactly, as the float loaders computed it; the loop
    // still vectorises.
    const uint8_t* source = pixels_->bytes.data() + row * elements;
    for (int64_t i = 0; i < elements; ++i) destination[i] = static_cast<float>(source[i]) / 255.0f;
}

core::Tensor Dataset::images(int64_t first, int64_t count) const {
    if (first < 0 || count < 0 || first > size() - count)
        core::fail<core::IndexError>("images of '", name, "': samples [", first, ", ", first + count,
                                     ") are outside [0, ", size(), ")");
    core::Shape shape = sample_shape();
    shape.insert(shape.begin(), count);
    core::Tensor result = core::Tensor::empty(shape);
    float* out = result.data();
    for (int64_t i = 0; i < count; ++i) copy_sample(first + i, out + i * sample_numel());
    return result;
}

core::Tensor Dataset::gather(std::span<const int64_t> indices) const {
    const int64_t count = size();
    for (size_t position = 0; position < indices.size(); ++position)
        if (indices[position] < 0 || indices[position] >= count)
            core::fail<core::IndexError>("gather from '", name, "': index ", indices[position], " at position ",
                                         position, " is outside [0, ", count, ")");
    core::Shape shape = sample_shape();
    shape.insert(shape.begin(), static_cast<int64_t>(indices.size()));
    core::Tensor result = core::Tensor::empty(shape);
    float* out = result.data();
    for (size_t position = 0; position < indices.size(); ++position)
        copy_sample(indices[position], out + static_cast<int64_t>(position) * sample_numel());
    return result;
}

Dataset Dataset::subset(std::span<const int64_t> indices) const {
    validate();
    const int64_t count = size();
    Dataset result;
    result.pixels_ = pixels_;
    result.rows_.resize(indices.size());
    result.labels.resize(indices.size());
    result.num_classes = num_classes;
    result.name = name;
    result.class_names = class_names;
    for (size_t position = 0; position < indices.size(); ++position) {
        const int64_t index = indices[position];
        if (index < 0 || index >= count)
            core::fail<core::IndexError>("subset of '", name, "': index ", index, " at position ", position,
                                         " is outside [0, ", count, ")");
        result.rows_[position] = rows_[static_cast<size_t>(index)];
        result.labels[position] = labels[static_cast<size_t>(index)];
    }
    return result;
}

void Dataset::validate() const {
    if (!pixels_) core::fail<core::ShapeError>("dataset '", name, "': no images stored");
    if (static_cast<int64_t>(labels.size()) != size())
        core::fail<core::ShapeError>("dataset '", name, "': ", size(), " samples but ", labels.size(), " labels");
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
