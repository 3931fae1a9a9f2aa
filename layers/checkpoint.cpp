#include "layers/checkpoint.hpp"

#include <cmath>
#include <sstream>

#include "core/safetensors.hpp"
#include "layers/fold_batchnorm.hpp"
#include "layers/hybrid_clip.hpp"
#include "layers/range_guard.hpp"
#include "layers/zoo.hpp"

namespace proact::layers {

using core::fail;

namespace {

constexpr const char* kBufferAllowedMissing = "num_batches_tracked";

bool is_batches_tracked(const std::string& name) {
    const std::string suffix = std::string(".") + kBufferAllowedMissing;
    return name == kBufferAllowedMissing ||
           (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0);
}

// The metadata entries load_model interprets besides the model's own (zoo.hpp checks those): the
// surgeries' configurations (fold_batchnorm, hybrid_clip, range_guard). Bounded before they are
// parsed, so that no parser or message downstream is handed megabytes from the file.
constexpr const char* kSurgeryKeys[] = {"batch_norm", "activation", "range_guard"};

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const std::map<std::string, std::string>& metadata) {
    core::TensorFile file;
    file.tensors = model.state_dict();
    file.metadata = {{"format", "proact-checkpoint"}, {"format_version", "1"}};
    if (const ModelInfo* info = model_info(model))
        for (const auto& [key, value] : model_metadata(*info)) file.metadata[key] = value;
    for (const auto& [key, value] : fold_metadata(model)) file.metadata[key] = value;
    for (const auto& [key, value] : clip_metadata(model)) file.metadata[key] = value;
    for (const auto& [key, value] : guard_metadata(model)) file.metadata[key] = value;
    for (const auto& [key, value] : metadata) {
        auto [it, inserted] = file.metadata.emplace(key, value);
        if (!inserted && it->second != value)
            fail<core::ValueError>("save_checkpoint: metadata '", key, "' is '", value, "' but the model's is '",
                                   it->second, "'");
    }
    core::save_safetensors(path, file);
}

Checkpoint load_checkpoint(const std::string& path) {
    core::TensorFile file = core::load_safetensors(path);
    return Checkpoint{std::move(file.tensors), std::move(file.metadata)};
}

void load_weights(Module& model, const std::map<std::string, Tensor>& tensors, const std::string& source) {
    const std::map<std::string, Tensor> current = model.state_dict();
    // Only num_batches_tracked may be absent: fill it with the model's own value, then load
    // strictly, so every other missing or unexpected name is still an error.
    const std::map<std::string, Tensor>* state = &tensors;
    std::map<std::string, Tensor> completed;
    for (const auto& [name, value] : current)
        if (is_batches_tracked(name) && !tensors.count(name)) {
            if (completed.empty()) completed = tensors;
            completed[name] = value.clone();
            state = &completed;
        }
    try {
        model.load_state_dict(*state, /*strict=*/true);
    } catch (const core::ShapeError& error) {
        fail<core::ShapeError>(source, " does not fit the model (", model.type_name(), "): ", error.what());
    } catch (const core::ValueError& error) {
        fail<core::ValueError>(source, " does not fit the model (", model.type_name(), "): ", error.what());
    }
}

ModulePtr load_model(const std::string& path) { return load_model(load_checkpoint(path), "'" + path + "'"); }

std::vector<NonFiniteTensor> non_finite_tensors(const Checkpoint& checkpoint) {
    std::vector<NonFiniteTensor> found;
    for (const auto& [name, tensor] : checkpoint.tensors) {
        NonFiniteTensor entry{name};
        for (float value : tensor.contiguous().span()) {
            if (std::isnan(value)) ++entry.nan;
            else if (std::isinf(value)) ++entry.infinite;
        }
        if (entry.count() > 0) found.push_back(std::move(entry));
    }
    return found;
}

void check_finite_weights(const Checkpoint& checkpoint, const std::string& source) {
    const std::vector<NonFiniteTensor> found = non_finite_tensors(checkpoint);
    if (found.empty()) return;
    std::ostringstream list;
    constexpr size_t kShown = 5;
    for (size_t i = 0; i < found.size() && i < kShown; ++i)
        list << (i ? ", " : "") << found[i].name << " (" << found[i].nan << " NaN, " << found[i].infinite << " Inf)";
    if (found.size() > kShown) list << ", ...";
    fail<core::NumericError>(source, ": ", found.size(), " tensor", found.size() == 1 ? "" : "s",
                             " hold non-finite values: ", list.str());
}

ModulePtr load_model(const Checkpoint& checkpoint, const std::string& source) {
    for (const char* key : kSurgeryKeys)
        if (const auto entry = checkpoint.metadata.find(key);
            entry != checkpoint.metadata.end() && entry->second.size() > kMaxMetadataValueBytes)
            fail<core::FormatError>("load_model: ", source, ": metadata '", key, "' is '", core::excerpt(entry->second),
                                    "', longer than ", kMaxMetadataValueBytes, " bytes");
    const ModelInfo info = model_info_from_metadata(checkpoint.metadata, "load_model: " + source);
    ModulePtr model;
    try {
        model = make_model(info);
    } catch (const core::ValueError& error) {
        fail<core::FormatError>("load_model: ", source, ": metadata does not describe a known model: ", error.what());
    }
    // The order the surgeries are made in: fold (structure only), clip, guard; then the weights.
    apply_fold_metadata(*model, checkpoint.metadata, "load_model: " + source);
    apply_clip_metadata(*model, info.input_shape, checkpoint.metadata, checkpoint.tensors, "load_model: " + source);
    apply_guard_metadata(*model, checkpoint.metadata, checkpoint.tensors, "load_model: " + source);
    load_weights(*model, checkpoint.tensors, "load_model: " + source);
    model->eval();
    return model;
}

}  // namespace proact::layers
