#include "train/training_state.hpp"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/resume_key.hpp"
#include "core/safetensors.hpp"
#include "layers/checkpoint.hpp"
#include "layers/dropout.hpp"
#include "train/training.hpp"

namespace proact::train {

namespace {

using Json = nlohmann::json;

constexpr const char* kFormat = "proact-training-state";
const char* const kBuffers[] = {"momentum_buffer", "exp_avg", "exp_avg_sq"};

template <class State>  // ParamState or const ParamState
auto& buffer_of(State& state, const std::string& name) {
    if (name == "momentum_buffer") return state.momentum_buffer;
    if (name == "exp_avg") return state.exp_avg;
    return state.exp_avg_sq;
}

// NaN (no validation set) has no JSON number: null stands for it.
Json number(double value) { return std::isnan(value) ? Json(nullptr) : Json(value); }
double number_of(const Json& value) {
    return value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>();
}

Json history_json(const std::vector<EpochLog>& history) {
    Json rows = Json::array();
    for (const EpochLog& e : history)
        rows.push_back({{"epoch", e.epoch},
                        {"lr", e.lr},
                        {"train_loss", number(e.train_loss)},
                        {"train_accuracy", number(e.train_accuracy)},
                        {"validation_loss", number(e.validation_loss)},
                        {"validation_accuracy", number(e.validation_accuracy)},
                        {"seconds", e.seconds},
                        {"images_per_second", e.images_per_second}});
    return rows;
}

std::vector<EpochLog> history_of(const Json& rows) {
    std::vector<EpochLog> history;
    for (const Json& row : rows) {
        EpochLog e;
        e.epoch = row.at("epoch").get<int>();
        e.lr = row.at("lr").get<float>();
        e.train_loss = number_of(row.at("train_loss"));
        e.train_accuracy = number_of(row.at("train_accuracy"));
        e.validation_loss = number_of(row.at("validation_loss"));
        e.validation_accuracy = number_of(row.at("validation_accuracy"));
        e.seconds = row.at("seconds").get<double>();
        e.images_per_second = row.at("images_per_second").get<double>();
        history.push_back(e);
    }
    return history;
}

}  // namespace

void save_training_state(const std::string& path, const std::map<std::string, std::string>& key,
                         layers::Module& model, const optim::Optimizer& optimizer, const std::vector<EpochLog>& history) {
    core::TensorFile file;
    for (const auto& [name, value] : model.state_dict()) file.tensors["model/" + name] = value;
    Json steps = Json::object();
    for (const auto& [name, param] : model.named_parameters()) {
        const optim::ParamState* state = optimizer.state(param);
        if (!state) continue;  // never updated (frozen): nothing to carry
        steps[name] = state->step;
        for (const char* buffer : kBuffers) {
            const core::Tensor& value = buffer_of(*state, buffer);
            if (value.defined()) file.tensors["optimizer/" + name + "/" + buffer] = value;
        }
    }
    Json dropout = Json::object();
    for (const auto& [name, module] : model.named_modules())
        if (const auto* layer = dynamic_cast<const layers::Dropout*>(module.get())) dropout[name] = layer->calls();
    file.metadata = {{"format", kFormat},
                     {"key", Json(key).dump()},
                     {"history", history_json(history).dump()},
                     {"optimizer_steps", steps.dump()},
                     {"dropout_calls", dropout.dump()}};
    core::save_safetensors(path, file);
}

std::vector<EpochLog> load_training_state(const std::string& path, const std::map<std::string, std::string>& key,
                                          layers::Module& model, optim::Optimizer& optimizer) {
    const core::TensorFile file = core::load_safetensors(path);
    const auto field = [&](const char* name) -> const std::string& {
        const auto entry = file.metadata.find(name);
        if (entry == file.metadata.end())
            core::fail<core::FormatError>("'", path, "' is not a training state written by proact (no '", name,
                                          "' entry)");
        return entry->second;
    };
    if (field("format") != kFormat)
        core::fail<core::FormatError>("'", path, "' is not a training state (format '", field("format"), "')");
    std::map<std::string, std::string> saved_key;
    std::vector<EpochLog> history;
    Json steps, dropout;
    try {
        saved_key = Json::parse(field("key")).get<std::map<std::string, std::string>>();
        history = history_of(Json::parse(field("history")));
        steps = Json::parse(field("optimizer_steps"));
        dropout = Json::parse(field("dropout_calls"));
    } catch (const Json::exception& error) {
        core::fail<core::FormatError>("'", path, "': damaged training state (", error.what(), ")");
    }
    core::check_resume_key(path, saved_key, key);
    // Everything is checked and built before the model or the optimizer changes.
    std::map<std::string, core::Tensor> weights;
    for (const auto& [name, value] : file.tensors)
        if (name.rfind("model/", 0) == 0) weights[name.substr(6)] = value;
    optim::OptimizerSnapshot snapshot = optimizer.snapshot();
    snapshot.states.clear();
    try {
        for (const auto& [name, param] : model.named_parameters()) {
            if (!steps.contains(name)) continue;
            optim::ParamState state;
            state.step = steps.at(name).get<int64_t>();
            for (const char* buffer : kBuffers) {
                const auto entry = file.tensors.find("optimizer/" + name + "/" + buffer);
                if (entry == file.tensors.end()) continue;
                if (entry->second.numel() != param.value().numel())
                    core::fail<core::FormatError>("'", path, "': optimizer state ", buffer, " of '", name, "' holds ",
                                                  entry->second.numel(), " values, the parameter ",
                                                  param.value().numel());
                buffer_of(state, buffer) = entry->second;
            }
            snapshot.states.emplace_back(param, state);
        }
    } catch (const Json::exception& error) {
        core::fail<core::FormatError>("'", path, "': damaged optimizer state (", error.what(), ")");
    }
    std::vector<std::pair<layers::Dropout*, uint64_t>> calls;
    for (const auto& [name, module] : model.named_modules())
        if (auto* layer = dynamic_cast<layers::Dropout*>(module.get())) {
            if (!dropout.contains(name) || !dropout.at(name).is_number_unsigned())
                core::fail<core::FormatError>("'", path, "': no draw count for dropout layer '", name, "'");
            calls.emplace_back(layer, dropout.at(name).get<uint64_t>());
        }
    layers::load_weights(model, weights, "'" + path + "'");
    optimizer.restore(snapshot);
    for (const auto& [layer, count] : calls) layer->set_calls(count);
    return history;
}

}  // namespace proact::train
