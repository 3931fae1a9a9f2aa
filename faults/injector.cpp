#include "faults/injector.hpp"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/format.hpp"

namespace proact::faults {

namespace {

// ValueError naming the target and element unless every value is finite (int8's scale needs it).
void check_finite(const FaultTarget& target, std::span<const float> values, const StorageFormat& format,
                  const char* op) {
    for (size_t i = 0; i < values.size(); ++i)
        if (!std::isfinite(values[i]))
            core::fail<core::ValueError>(op, ": element ", i, " of ", target.name, " is ", values[i], ", which ",
                                         format.to_string(), " cannot store");
}

// The lowest and highest finite value a fixed-point or 16-bit float format holds, for counting
// saturation; int8 never saturates (its scale covers the tensor).
std::pair<double, double> finite_range(const StorageFormat& format) {
    if (format.is_fixed_point())
        return {std::ldexp(static_cast<double>(format.min_code()), -format.fraction_bits()),
                std::ldexp(static_cast<double>(format.max_code()), -format.fraction_bits())};
    const float largest = format.is_bfloat16() ? float_from_bfloat16(0x7F7F)
                          : format.is_float16() ? float_from_half(0x7BFF)
                                                : std::numeric_limits<float>::max();
    return {-static_cast<double>(largest), static_cast<double>(largest)};
}

}  // namespace

QuantizeReport quantize_targets(std::vector<FaultTarget>& targets, const StorageFormat& format) {
    QuantizeReport report;
    for (FaultTarget& target : targets) {
        const std::span<float> values = target.values();
        report.values += static_cast<int64_t>(values.size());
        if (format.is_float32()) continue;
        std::vector<float> stored(values.begin(), values.end());
        if (format.is_int8()) {
            check_finite(target, values, format, "quantize");
            quantize_int8_inplace(stored);
        } else {
            for (size_t i = 0; i < values.size(); ++i) {
                if (std::isnan(values[i]) && format.is_fixed_point())
                    core::fail<core::ValueError>("quantize: element ", i, " of ", target.name, " is NaN, which ",
                                                 format.to_string(), " cannot store");
                stored[i] = format.quantize(values[i]);
            }
        }
        const auto [low, high] = finite_range(format);
        for (size_t i = 0; i < values.size(); ++i) {
            const float original = values[i];
            if (original < low || original > high) {  // an infinity saturates in Qm.n, stays one in bf16, fp16
                if (std::isfinite(original) || format.is_fixed_point()) ++report.saturated;
            } else if (!std::isnan(original)) {
                report.max_abs_error =
                    std::max(report.max_abs_error, std::fabs(double(stored[i]) - double(original)));
            }
            if (std::bit_cast<uint32_t>(stored[i]) != std::bit_cast<uint32_t>(original)) ++report.changed;
            values[i] = stored[i];
        }
    }
    return report;
}

void check_quantized(const std::vector<FaultTarget>& targets, const StorageFormat& format) {
    if (format.is_float32()) return;
    for (const FaultTarget& target : targets) {
        const std::span<const float> values = target.parameter.value().span();
        StorageFormat coder = format;
        if (format.is_int8()) {
            check_finite(target, values, format, "fault campaign");
            coder = format.with_scale(int8_scale(values));
        }
        for (size_t i = 0; i < values.size(); ++i) {
            if ((std::isnan(values[i]) && format.is_integer_code()) ||
                std::bit_cast<uint32_t>(coder.quantize(values[i])) != std::bit_cast<uint32_t>(values[i]))
                core::fail<core::ValueError>("fault campaign: element ", i, " of ", target.name, " is ", values[i],
                                             ", which is not on the ", format.to_string(),
                                             format.is_int8() ? " grid of its tensor's scale" : " grid",
                                             "; quantize the model to ", format.to_string(),
                                             " first (faults::quantize_targets)");
        }
    }
}

int64_t FaultMap::size() const {
    int64_t total = 0;
    for (const TensorFaults& tensor : tensors)
        total += static_cast<int64_t>(tensor.faults.size() + tensor.scale_faults.size());
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

std::optional<FaultModel> scale_fault_model(const FaultModel& model, const StorageFormat& format) {
    if (!format.is_int8() || model.spec.is_exact() || model.mask != BitMask::all(format)) return std::nullopt;
    FaultModel scale = model;
    scale.mask = BitMask::all(StorageFormat::float32());
    return scale;
}

FaultMap draw_fault_map(const std::vector<FaultTarget>& targets, const FaultModel& model, const StorageFormat& format,
                        const FaultStreamKey& key, int64_t trial) {
    if (std::bit_cast<uint64_t>(key.rate) != std::bit_cast<uint64_t>(model.rate()))
        core::fail<core::ValueError>("draw_fault_map: the stream key's rate ", key.rate,
                                     " is not the fault model's rate ", model.rate(), " (", model.to_string(),
                                     "); key the streams by the rate the faults are drawn at");
    const std::optional<FaultModel> scale_model = scale_fault_model(model, format);
    FaultMap map;
    for (size_t j = 0; j < targets.size(); ++j) {
        core::Rng rng = fault_stream(key, trial, targets[j].name);
        TensorFaults tensor{j, draw_faults(model, targets[j].numel(), format, rng), {}};
        if (scale_model) {
            core::Rng scale_rng = fault_stream(key, trial, targets[j].name + ".scale");
            tensor.scale_faults = draw_faults(*scale_model, 1, StorageFormat::float32(), scale_rng);
        }
        if (!tensor.faults.empty() || !tensor.scale_faults.empty()) map.tensors.push_back(std::move(tensor));
    }
    return map;
}

namespace {

// One tensor's faults. int8: the elements' faults with the scale the quantised tensor gives back,
// then the scale's, and when the scale changed, every element read back with the new scale.
TensorLog apply_tensor_faults(std::span<float> values, const TensorFaults& tensor, const StorageFormat& format) {
    TensorLog log;
    log.target = tensor.target;
    if (!format.is_int8()) {
        if (!tensor.scale_faults.empty())
            core::fail<core::ValueError>("apply_fault_map: scale faults for target ", tensor.target, ", but ",
                                         format.to_string(), " has no scale");
        log.records = apply_faults(values, tensor.faults, format);
        return log;
    }
    log.scale = int8_scale(values);
    const StorageFormat coder = format.with_scale(log.scale);
    float scale = log.scale;
    log.scale_records = apply_faults(std::span<float>(&scale, 1), tensor.scale_faults, StorageFormat::float32());
    log.records = apply_faults(values, tensor.faults, coder);
    log.scale_changed = std::bit_cast<uint32_t>(scale) != std::bit_cast<uint32_t>(log.scale);
    if (log.scale_changed) {
        log.before_scale_change.assign(values.begin(), values.end());
        const StorageFormat faulted = format.with_scale(scale);
        for (float& value : values) value = faulted.decode(coder.encode(value));
    }
    return log;
}

}  // namespace

std::vector<TensorLog> apply_fault_map(std::vector<FaultTarget>& targets, const FaultMap& map,
                                       const StorageFormat& format) {
    std::vector<TensorLog> log;
    log.reserve(map.tensors.size());
    try {
        for (const TensorFaults& tensor : map.tensors) {
            if (tensor.target >= targets.size())
                core::fail<core::IndexError>("apply_fault_map: target ", tensor.target, " outside the ",
                                             targets.size(), " targets");
            log.push_back(apply_tensor_faults(targets[tensor.target].values(), tensor, format));
        }
    } catch (...) {
        restore_fault_map(targets, log);  // all or nothing
        throw;
    }
    return log;
}

void restore_fault_map(std::vector<FaultTarget>& targets, const std::vector<TensorLog>& log) {
    for (size_t i = log.size(); i-- > 0;) {
        const std::span<float> values = targets[log[i].target].values();
        if (log[i].scale_changed) {
            if (log[i].before_scale_change.size() != values.size())
                core::fail<core::ValueError>("restore_fault_map: target ", log[i].target, " has ", values.size(),
                                             " elements, its log ", log[i].before_scale_change.size());
            std::copy(log[i].before_scale_change.begin(), log[i].before_scale_change.end(), values.begin());
        }
        restore_faults(values, log[i].records);
    }
}

bool log_changes_values(const std::vector<TensorLog>& log) {
    for (const TensorLog& tensor : log) {
        if (tensor.scale_changed) return true;
        for (const FaultRecord& record : tensor.records)
            if (record.changed()) return true;
    }
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

uint64_t data_checksum(const layers::InputBatches& images, const std::vector<int32_t>& labels) {
    constexpr int64_t kBatch = 1000;  // any size gives the same bytes; this one keeps a batch small
    Fnv fnv;
    const auto count = static_cast<int64_t>(labels.size());
    for (int64_t first = 0; first < count; first += kBatch) {
        const core::Tensor batch = images(first, std::min(kBatch, count - first)).contiguous();
        fnv.bytes(batch.data(), static_cast<size_t>(batch.numel()) * sizeof(float));
    }
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
    const StorageFormat float32 = StorageFormat::float32();
    for (const TensorLog& tensor : log) {
        const StorageFormat coder = format.is_int8() ? format.with_scale(tensor.scale) : format;
        for (const FaultRecord& record : tensor.records)
            entries.push_back({trial, rate, targets[tensor.target].name, record.element, record.bit, record.action,
                               record.old_value, record.new_value, word_of(record.old_value, coder),
                               word_of(record.new_value, coder)});
        for (const FaultRecord& record : tensor.scale_records)
            entries.push_back({trial, rate, targets[tensor.target].name + ".scale", record.element, record.bit,
                               record.action, record.old_value, record.new_value, word_of(record.old_value, float32),
                               word_of(record.new_value, float32)});
    }
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
