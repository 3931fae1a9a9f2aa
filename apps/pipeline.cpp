#include "apps/pipeline.hpp"

#include <cstdio>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "faults/injector.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"

namespace proact::apps {

namespace {

std::string metadata_or(const std::map<std::string, std::string>& metadata, const std::string& key,
                        const std::string& fallback) {
    const auto entry = metadata.find(key);
    return entry != metadata.end() ? entry->second : fallback;
}

}  // namespace

LoadedModel load_model_file(const std::string& path) {
    layers::Checkpoint checkpoint = layers::load_checkpoint(path);
    LoadedModel loaded;
    loaded.path = path;
    loaded.model = layers::load_model(checkpoint, "'" + path + "'");
    loaded.metadata = std::move(checkpoint.metadata);
    loaded.name = metadata_or(loaded.metadata, "model", path);
    const auto shape_entry = loaded.metadata.find("input_shape");
    loaded.input_shape =
        shape_entry != loaded.metadata.end() ? layers::parse_shape(shape_entry->second) : core::Shape{3, 32, 32};
    return loaded;
}

datasets::Dataset load_split_for(const LoadedModel& loaded, const std::string& command, const std::string& dataset,
                                 const std::string& split, const CommonOptions& options) {
    datasets::Dataset data = load_split(dataset, split, options, loaded.input_shape);
    if (data.sample_shape() != loaded.input_shape)
        core::fail<core::ShapeError>(command, ": ", loaded.path, " expects inputs of shape ",
                                     core::shape_str(loaded.input_shape), ", data set ", dataset, " has ",
                                     core::shape_str(data.sample_shape()));
    return data;
}

layers::EvalResult evaluate_and_print(layers::Module& model, const datasets::Dataset& data, int64_t batch_size,
                                      const std::string& title) {
    const layers::EvalResult result = layers::evaluate(model, data.images, data.labels, batch_size);
    std::printf("%s\n%s", title.c_str(), format_confusion(result, data.class_names).c_str());
    return result;
}

void quantise_and_report(std::vector<faults::FaultTarget>& targets, const faults::StorageFormat& format) {
    if (!format.is_fixed_point()) return;
    const faults::QuantizeReport report = faults::quantize_targets(targets, format);
    std::printf("quantised %lld values in %zu target tensors to %s: %lld moved onto the grid, %lld saturated, "
                "max rounding error %.3g\n",
                static_cast<long long>(report.values), targets.size(), format.to_string().c_str(),
                static_cast<long long>(report.changed), static_cast<long long>(report.saturated),
                report.max_abs_error);
}

void write_output(const std::string& path, const std::string& text, const std::string& note) {
    core::write_file_atomically(path, text);
    if (note.empty())
        std::printf("wrote %s\n", path.c_str());
    else
        std::printf("wrote %s (%s)\n", path.c_str(), note.c_str());
}

}  // namespace proact::apps
