#include "proact/layer_state.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/resume_key.hpp"
#include "core/safetensors.hpp"

namespace proact::method {

namespace {

using Json = nlohmann::json;

constexpr const char* kFormat = "proact-hardening-state";

bool is_threshold(const std::string& name) {
    const std::string suffix = "threshold";
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void save_layer_state(const LayerResume& resume, const layers::Module& model, const std::vector<std::string>& layers) {
    if (resume.state_path.empty()) return;
    core::TensorFile file;
    for (const auto& [name, value] : model.state_dict())
        if (is_threshold(name)) file.tensors[name] = value;
    Json logs = Json::array();
    for (const std::string& layer : layers) logs.push_back(layer);
    file.metadata = {{"format", kFormat}, {"key", Json(resume.key).dump()}, {"layers", logs.dump()}};
    core::save_safetensors(resume.state_path, file);
}

std::optional<LayerState> load_layer_state(const LayerResume& resume) {
    if (resume.state_path.empty() || !resume.resume || !std::filesystem::exists(resume.state_path)) return std::nullopt;
    const std::string& path = resume.state_path;
    const core::TensorFile file = core::load_safetensors(path);
    const auto field = [&](const char* name) -> const std::string& {
        const auto entry = file.metadata.find(name);
        if (entry == file.metadata.end())
            core::fail<core::FormatError>("'", path, "' is not a hardening state written by proact (no '", name,
                                          "' entry)");
        return entry->second;
    };
    if (field("format") != kFormat)
        core::fail<core::FormatError>("'", path, "' is not a hardening state (format '", field("format"), "')");
    LayerState state;
    std::map<std::string, std::string> saved_key;
    try {
        saved_key = Json::parse(field("key")).get<std::map<std::string, std::string>>();
        state.layers = Json::parse(field("layers")).get<std::vector<std::string>>();
    } catch (const Json::exception& error) {
        core::fail<core::FormatError>("'", path, "': damaged hardening state (", error.what(), ")");
    }
    core::check_resume_key(path, saved_key, resume.key);
    for (const auto& [name, value] : file.tensors) {
        if (!is_threshold(name))
            core::fail<core::FormatError>("'", path, "': tensor '", name, "' is not a threshold");
        state.thresholds[name] = value;
    }
    return state;
}

}  // namespace proact::method
