#include "proact/hardening_report.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "layers/hybrid_clip.hpp"
#include "layers/range_guard.hpp"

namespace proact::method {

HardeningReport hardening_report(const layers::Module& model, const std::string& method,
                                 const faults::StorageFormat& format, double validation_accuracy, double seconds,
                                 const std::string& details_json) {
    HardeningReport report;
    report.method = method;
    int64_t tensors = 0;  // threshold and bound tensors: one int8 scale each
    for (const auto& [name, p] : model.named_parameters()) {
        const bool threshold = name.ends_with(".threshold") || name == "threshold";
        if (threshold) report.threshold_count += p.numel();
        tensors += threshold || layers::is_bounds_parameter(name);
    }
    report.guard_values = layers::range_guard_values(model);
    report.guard = report.guard_values > 0;
    if (const auto config = layers::clip_config_of(model)) report.activation = config->to_string();
    report.storage_format = format.to_string();
    report.storage_bytes = (report.threshold_count + report.guard_values) * format.bits() / 8 +
                           (format.is_int8() ? tensors * 4 : 0);
    report.validation_accuracy = validation_accuracy;
    report.seconds = seconds;
    report.details_json = details_json;
    return report;
}

std::string hardening_json(const HardeningReport& report, bool with_times) {
    nlohmann::ordered_json json = {{"method", report.method},
                                   {"guard", report.guard},
                                   {"activation", report.activation},
                                   {"threshold_count", report.threshold_count},
                                   {"guard_values", report.guard_values},
                                   {"storage_format", report.storage_format},
                                   {"storage_bytes", report.storage_bytes},
                                   {"validation_accuracy", report.validation_accuracy}};
    if (with_times) json["seconds"] = report.seconds;
    if (!report.details_json.empty()) json["details"] = nlohmann::ordered_json::parse(report.details_json);
    return json.dump(2) + "\n";
}

std::string hardening_summary(const HardeningReport& report) {
    char line[512];
    std::snprintf(line, sizeof(line), "%s%s: %lld thresholds + %lld guard values = %lld bytes (%s), validation %.2f%%, %.1f s",
                  report.method.c_str(), report.guard && !report.method.ends_with("guard") ? "+guard" : "",
                  static_cast<long long>(report.threshold_count), static_cast<long long>(report.guard_values),
                  static_cast<long long>(report.storage_bytes), report.storage_format.c_str(),
                  report.validation_accuracy, report.seconds);
    return line;
}

}  // namespace proact::method
