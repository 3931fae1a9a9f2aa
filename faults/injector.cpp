#include "faults/injector.hpp"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/format.hpp"

namespace proact::faults {

QuantizeReport quantize_targets(std::vector<FaultTarget>& targets, const StorageFormat& format) {
    QuantizeReport report;
    for (FaultTarget& target : targets) {
        const std::span<float> values = target.values();
        report.values += static_cast<int64_t>(values.size());
        if (format.is_float32()) continue;
        const double low = std::ldexp(static_cast<double>(format.min_code()), -format.fraction_bits());
        const double high = std::ldexp(static_cast<double>(format.max_code()), -format.fraction_bits());
        for (size_t i = 0; i < values.size(); ++i) {
            const float original = values[i];
            if (std::isnan(original))
                core::fail<core::ValueError>("quantize: element ", i, " of ", target.name, " is NaN, which ",
                                             format.to_string(), " cannot store");
            const float stored = format.decode(format.encode(original));
            if (original < low || original > high) {
                ++report.saturated;
            } else {
                report.max_abs_error = std::max(report.max_abs_error, std::fabs(double(stored) - double(original)));
            }
            if (std::bit_cast<uint32_t>(stored) != std::bit_cast<uint32_t>(original)) ++report.changed;
            values[i] = stored;
        }
    }
    return report;
}

void check_quantized(const std::vector<FaultTarget>& targets, const StorageFormat& format) {
    if (format.is_float32()) return;
    for (const FaultTarget& target : targets) {
        const std::span<const float> values = target.parameter.value().span();
        for (size_t i = 0; i < values.size(); ++i) {
            if (std::isnan(values[i]) ||
                std::bit_cast<uint32_t>(format.quantize(values[i])) != std::bit_cast<uint32_t>(values[i]))
                core::fail<core::ValueError>("fault campaign: element ", i, " of ", target.name, " is ", values[i],
                                             ", which is not on the ", format.to_string(),
                                             " grid; quantize the model to ", format.to_string(),
                                             " first (faults::quantize_targets)");
        }
    }
}

int64_t FaultMap::size() const {
    int64_t total = 0;
    for (const TensorFaults& tensor : tensors) total += static_cast<int64_t>(tensor.faults.size());
    return total;
}

void check_fault_purpose(std::string_view purpose) {
    std::string known;
    for (std::string_view name : kFaultPurposes) {
        if (purpose == name) return;
        known += (known.empty() ? "" : ", ") + std::string(name);
    }
    core::fail<core::ValueError>("fault purpose '", purpose, "': expected one of ", known);
}

core::Rng fault_stream(const FaultStreamKey& key, int64_t trial, const std::string& name) {
    check_fault_purpose(key.purpose);
    return core::Rng(key.seed, "faults/" + key.purpose, static_cast<uint64_t>(trial))
        .child(std::bit_cast<uint64_t>(key.rate))
        .child(core::hash_purpose(name));
}

FaultMap draw_fault_map(const std::vector<FaultTarget>& targets, const FaultModel& model, const StorageFormat& format,
                        const FaultStreamKey& key, int64_t trial) {
    if (std::bit_cast<uint64_t>(key.rate) != std::bit_cast<uint64_t>(model.rate()))
        core::fail<core::ValueError>("draw_fault_map: the stream key's rate ", key.rate,
                                     " is not the fault model's rate ", model.rate(), " (", model.to_string(),
                                     "); key the streams by the rate the faults are drawn at");
    FaultMap map;
    for (size_t j = 0; j < targets.size(); ++j) {
        core::Rng rng = fault_stream(key, trial, targets[j].name);
        std::vector<BitFault> faults = draw_faults(model, targets[j].numel(), format, rng);
        if (!faults.empty()) map.tensors.push_back({j, std::move(faults)});
    }
    return map;
}

std::vector<TensorLog> apply_fault_map(std::vector<FaultTarget>& targets, const FaultMap& map,
                                       const StorageFormat& format) {
    std::vector<TensorLog> log;
    log.reserve(map.tensors.size());
    try {
        for (const TensorFaults& tensor : map.tensors) {
            if (tensor.target >= targets.size())
                core::fail<core::IndexError>("apply_fault_map: target ", tensor.target, " outside the ",
                                             targets.size(), " targets");
            log.push_back({tensor.target, apply_faults(targets[tensor.target].values(), tensor.faults, format)});
        }
    } catch (...) {
        restore_fault_map(targets, log);  // all or nothing
        throw;
    }
    return log;
}

void restore_fault_map(std::vector<FaultTarget>& targets, const std::vector<TensorLog>& log) {
    for (size_t i = log.size(); i-- > 0;) restore_faults(targets[log[i].target].values(), log[i].records);
}

bool log_changes_values(const std::vector<TensorLog>& log) {
    for (const TensorLog& tensor : log)
        for (const FaultRecord& record : tensor.records)
            if (record.changed()) return true;
    return false;
}

ScopedFaults::ScopedFaults(std::vector<FaultTarget>& targets, const FaultMap& map, const StorageFormat& format)
    : targets_(targets), log_(apply_fault_map(targets, map, format)) {}

ScopedFaults::~ScopedFaults() {
    if (!restored_) restore_fault_map(targets_, log_);
}

void ScopedFaults::restore() {
    if (restored_) return;
    restored_ = true;
    restore_fault_map(targets_, log_);
}

namespace {

struct Fnv {
    uint64_t hash = 0xCBF29CE484222325ull;
    void bytes(const void* data, size_t count) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (size_t i = 0; i < count; ++i) {
            hash ^= p[i];
            hash *= 0x100000001B3ull;
        }
    }
    void tensor(const std::string& name, const core::Tensor& value) {
        bytes(name.data(), name.size());
        for (int64_t size : value.shape()) bytes(&size, sizeof size);
        const core::Tensor contiguous = value.contiguous();
        bytes(contiguous.data(), static_cast<size_t>(contiguous.numel()) * sizeof(float));
    }
};

std::string format_float(float value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", static_cast<double>(value));
    return text;
}

std::string format_word(uint32_t word) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08" PRIx32, word);
    return text;
}

nlohmann::ordered_json float_json(float value) {
    if (std::isfinite(value)) return static_cast<double>(value);
    return format_float(value);  // JSON has no inf or nan: "inf", "-inf", "nan"
}

}  // namespace

uint64_t model_checksum(const layers::Module& model) {
    Fnv fnv;
    for (const auto& [name, parameter] : model.named_parameters()) fnv.tensor(name, parameter.value());
    for (const auto& [name, buffer] : model.named_buffers()) fnv.tensor(name, buffer);
    return fnv.hash;
}

uint64_t data_checksum(const core::Tensor& images, const std::vector<int32_t>& labels) {
    Fnv fnv;
    const core::Tensor contiguous = images.contiguous();
    fnv.bytes(contiguous.data(), static_cast<size_t>(contiguous.numel()) * sizeof(float));
    fnv.bytes(labels.data(), labels.size() * sizeof(int32_t));
    return fnv.hash;
}

std::string checksum_hex(uint64_t checksum) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%016" PRIx64, checksum);
    return text;
}

uint64_t parse_checksum_hex(std::string_view text) {
    const auto refuse = [&] {
        core::fail<core::ValueError>("checksum '", text, "': expected 0x and 16 lower-case hex digits");
    };
    if (text.size() != 18 || text.substr(0, 2) != "0x") refuse();
    uint64_t checksum = 0;
    for (char c : text.substr(2)) {
        const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0) refuse();
        checksum = checksum << 4 | static_cast<uint64_t>(digit);
    }
    return checksum;
}

void append_fault_log(std::vector<FaultLogEntry>& entries, int64_t trial, double rate,
                      const std::vector<FaultTarget>& targets, const std::vector<TensorLog>& log,
                      const StorageFormat& format) {
    for (const TensorLog& tensor : log)
        for (const FaultRecord& record : tensor.records)
            entries.push_back({trial, rate, targets[tensor.target].name, record.element, record.bit, record.action,
                               record.old_value, record.new_value, word_of(record.old_value, format),
                               word_of(record.new_value, format)});
}

std::string fault_log_csv(const std::vector<FaultLogEntry>& entries) {
    std::string csv = "trial,rate,parameter,index,bit,action,old_value,new_value,old_word,new_word\n";
    for (const FaultLogEntry& entry : entries) {
        csv += std::to_string(entry.trial) + ',' + core::general(entry.rate) + ',' + entry.parameter + ',' +
               std::to_string(entry.index) + ',' + std::to_string(entry.bit) + ',' + to_string(entry.action) + ',' +
               format_float(entry.old_value) + ',' + format_float(entry.new_value) + ',' + format_word(entry.old_word) +
               ',' + format_word(entry.new_word) + '\n';
    }
    return csv;
}

std::string fault_log_json(const std::vector<FaultLogEntry>& entries, const StorageFormat& format) {
    nlohmann::ordered_json json;
    json["format"] = format.to_string();
    json["faults"] = nlohmann::ordered_json::array();
    for (const FaultLogEntry& entry : entries) {
        nlohmann::ordered_json row;
        row["trial"] = entry.trial;
        row["rate"] = entry.rate;
        row["parameter"] = entry.parameter;
        row["index"] = entry.index;
        row["bit"] = entry.bit;
        row["action"] = to_string(entry.action);
        row["old_value"] = float_json(entry.old_value);
        row["new_value"] = float_json(entry.new_value);
        row["old_word"] = format_word(entry.old_word);
        row["new_word"] = format_word(entry.new_word);
        json["faults"].push_back(std::move(row));
    }
    return json.dump(2) + "\n";
}

}  // namespace proact::faults
