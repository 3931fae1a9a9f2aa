// ProAct's options check and its reports: one line per layer for the terminal, JSON for --log.
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/format.hpp"
#include "proact/proact.hpp"

namespace proact::method {

using core::fail;

namespace {

void check_weight(const char* name, float value) {
    if (!(std::isfinite(value) && value >= 0.0f))
        fail<core::ValueError>("ProAct: ", name, " must be finite and >= 0, got ", value);
}

void check_rate(const char* name, float value) {
    if (!(std::isfinite(value) && value > 0.0f)) fail<core::ValueError>("ProAct: ", name, " must be finite and > 0, got ", value);
}

std::string format_decay(const std::optional<float>& decay) {
    if (!decay) return "none (initial values kept)";
    return core::general(*decay);
}

// One layer's log as JSON; with_times adds the seconds (layer_json keeps them for a resume).
nlohmann::ordered_json layer_entry(const LayerLog& layer, bool with_times) {
    nlohmann::ordered_json tries = nlohmann::ordered_json::array();
    for (const TryLog& attempt : layer.tries) {
        nlohmann::ordered_json entry = {{"decay", attempt.decay},
                                        {"epochs", attempt.epochs},
                                        {"validation_accuracy", attempt.validation_accuracy},
                                        {"accepted", attempt.accepted}};
        if (with_times) entry["seconds"] = attempt.seconds;
        tries.push_back(entry);
    }
    nlohmann::ordered_json entry = {
        {"path", layer.path}, {"index", layer.index}, {"granularity", layer.granularity},
        {"thresholds", layer.thresholds},
        {"accepted_decay", layer.accepted_decay ? nlohmann::ordered_json(*layer.accepted_decay) : nlohmann::ordered_json()},
        {"accuracy_before", layer.accuracy_before}, {"accuracy_floor", layer.accuracy_floor},
        {"accuracy_after", layer.accuracy_after},
        {"initial_min", layer.initial_min}, {"initial_max", layer.initial_max},
        {"threshold_min", layer.threshold_min}, {"threshold_max", layer.threshold_max},
        {"threshold_mean", layer.threshold_mean}, {"prefix_cached", layer.prefix_cached}, {"tries", tries}};
    if (with_times) entry["seconds"] = layer.seconds;
    return entry;
}

}  // namespace

std::string layer_json(const LayerLog& layer) { return layer_entry(layer, true).dump(); }

LayerLog layer_from_json(const std::string& text, const std::string& source) {
    try {
        const nlohmann::json json = nlohmann::json::parse(text);
        LayerLog layer;
        layer.path = json.at("path").get<std::string>();
        layer.index = json.at("index").get<size_t>();
        layer.granularity = json.at("granularity").get<std::string>();
        layer.thresholds = json.at("thresholds").get<int64_t>();
        if (!json.at("accepted_decay").is_null()) layer.accepted_decay = json.at("accepted_decay").get<float>();
        layer.accuracy_before = json.at("accuracy_before").get<double>();
        layer.accuracy_floor = json.at("accuracy_floor").get<double>();
        layer.accuracy_after = json.at("accuracy_after").get<double>();
        layer.initial_min = json.at("initial_min").get<float>();
        layer.initial_max = json.at("initial_max").get<float>();
        layer.threshold_min = json.at("threshold_min").get<float>();
        layer.threshold_max = json.at("threshold_max").get<float>();
        layer.threshold_mean = json.at("threshold_mean").get<float>();
        layer.prefix_cached = json.at("prefix_cached").get<bool>();
        layer.seconds = json.at("seconds").get<double>();
        for (const nlohmann::json& entry : json.at("tries")) {
            TryLog attempt;
            attempt.decay = entry.at("decay").get<float>();
            attempt.epochs = entry.at("epochs").get<int>();
            attempt.validation_accuracy = entry.at("validation_accuracy").get<double>();
            attempt.accepted = entry.at("accepted").get<bool>();
            attempt.seconds = entry.at("seconds").get<double>();
            layer.tries.push_back(attempt);
        }
        return layer;
    } catch (const nlohmann::json::exception& error) {
        fail<core::FormatError>(source, ": damaged ProAct layer log (", error.what(), ")");
    }
}

void validate_options(const ProActOptions& options) {
    check_weight("ce weight", options.ce_weight);
    check_weight("kd weight", options.kd_weight);
    check_weight("l2 weight", options.l2_weight);
    if (options.ce_weight == 0.0f && options.kd_weight == 0.0f)
        fail<core::ValueError>("ProAct: the CE and KD weights are both 0: nothing would hold the thresholds up");
    check_rate("lr (layer-wise)", options.lr_scalar);
    check_rate("lr (neuron-wise)", options.lr_neuron);
    if (options.optimizer != "adam" && options.optimizer != "adamw")
        fail<core::ValueError>("ProAct: optimizer '", options.optimizer, "' is not one of adam, adamw");
    if (options.schedule != "constant" && options.schedule != "cosine")
        fail<core::ValueError>("ProAct: schedule '", options.schedule, "' is not one of constant, cosine");
    if (options.decays.empty()) fail<core::ValueError>("ProAct: no weight decays to try");
    for (float decay : options.decays) check_weight("weight decay", decay);
    if (options.epochs_scalar < 1 || options.epochs_neuron < 1)
        fail<core::ValueError>("ProAct: epochs per try must be at least 1, got ", options.epochs_scalar, " (layer-wise) and ",
                               options.epochs_neuron, " (neuron-wise)");
    if (!(options.tolerance >= 0.0 && options.tolerance <= 100.0))
        fail<core::ValueError>("ProAct: tolerance must be in [0, 100] accuracy points, got ", options.tolerance);
    if (options.clip.mode == core::ClipMode::smooth &&
        !(std::isfinite(options.clip.slope) && options.clip.slope > 0.0f && options.clip.slope <= core::kMaxClipSlope))
        fail<core::ValueError>("ProAct: slope must be in (0, ", core::kMaxClipSlope, "], got ", options.clip.slope);
    if (options.clip.mode == core::ClipMode::hard)
        fail<core::ValueError>("ProAct: hard clipping has no gradient in the threshold; use smooth or saturate");
    if (options.batch_size < 1) fail<core::ValueError>("ProAct: batch size must be at least 1, got ", options.batch_size);
    if (options.profile_images < 1)
        fail<core::ValueError>("ProAct: profiling images must be at least 1, got ", options.profile_images);
    if (options.max_train_images < 0)
        fail<core::ValueError>("ProAct: the training image cap must be >= 0 (0: all), got ", options.max_train_images);
    if (options.cache_budget_bytes < 0)
        fail<core::ValueError>("ProAct: the cache budget must be >= 0 bytes, got ", options.cache_budget_bytes);
}

std::string layer_summary(const LayerLog& layer) {
    std::ostringstream out;
    char line[512];
    std::snprintf(line, sizeof(line), "layer %zu/%zu %-16s %-7s %6lld thresholds  decay %-26s ", layer.count - layer.index,
                  layer.count, layer.path.c_str(), layer.granularity.c_str(), static_cast<long long>(layer.thresholds),
                  format_decay(layer.accepted_decay).c_str());
    out << line;
    if (layer.thresholds == 1) std::snprintf(line, sizeof(line), "threshold %.4g -> %.4g", layer.initial_max, layer.threshold_max);
    else
        std::snprintf(line, sizeof(line), "thresholds [%.3g, %.3g] -> [%.3g, %.3g] mean %.3g", layer.initial_min,
                      layer.initial_max, layer.threshold_min, layer.threshold_max, layer.threshold_mean);
    out << line;
    std::snprintf(line, sizeof(line), "  validation %.2f%% -> %.2f%%  %zu tries  %.1f s", layer.accuracy_before,
                  layer.accuracy_after, layer.tries.size(), layer.seconds);
    out << line;
    return out.str();
}

std::string proact_json(const ProActResult& result, const ProActOptions& options, bool with_times) {
    nlohmann::ordered_json settings = {
        {"activation", options.clip.to_string()}, {"ce_weight", options.ce_weight}, {"kd_weight", options.kd_weight},
        {"l2_weight", options.l2_weight}, {"optimizer", options.optimizer}, {"lr_scalar", options.lr_scalar},
        {"lr_neuron", options.lr_neuron}, {"schedule", options.schedule}, {"decays", options.decays},
        {"epochs_scalar", options.epochs_scalar}, {"epochs_neuron", options.epochs_neuron},
        {"check_every_epoch", options.check_every_epoch}, {"tolerance", options.tolerance},
        {"tolerance_reference", to_string(options.tolerance_reference)},
        {"batch_size", options.batch_size}, {"profile_images", options.profile_images},
        {"max_train_images", options.max_train_images}, {"seed", result.seed}};
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const LayerLog& layer : result.layers) layers.push_back(layer_entry(layer, with_times));
    nlohmann::ordered_json json = result_json_head("proact", result);
    json["options"] = settings;
    json["layers"] = layers;
    if (with_times) json["seconds"] = result.seconds;
    return json.dump(2) + "\n";
}

}  // namespace proact::method
