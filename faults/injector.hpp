// The injector: puts a model's fault targets into a storage format once, draws a trial's fault map,
// flips the bits in place and restores them bit-exactly.
//
//   auto targets = select_targets(model);                       // targets.hpp
//   quantize_targets(targets, StorageFormat::parse("q15.16"));  // once: values onto the Q15.16 grid
//   FaultMap map = draw_fault_map(targets, FaultModel::bit_error_rate(1e-5, mask), format,
//                                 FaultStreamKey{seed, "evaluation", 1e-5}, trial);
//   {
//       ScopedFaults faults(targets, map, format);              // bits flipped in the model
//       ... evaluate ...
//   }                                                           // restored, bit for bit
//
// Reproducibility: the faults of target `name` in trial `trial` come from the stream keyed by
// (seed, purpose, rate, trial, name) and from nothing else: not the thread count, not the other
// trials, not the other targets. Exactly, with FaultStreamKey{seed, purpose, rate}:
//   core::Rng(seed, "faults/" + purpose, trial).child(bits of rate).child(hash of name)
// where "bits of rate" is std::bit_cast<uint64_t>(rate) of the double (the BER, or the point's k of
// an exact-k campaign) and "hash of name" is core::hash_purpose(name) (FNV-1a). So
//  - a hardened model with extra threshold targets sees exactly the same weight faults as its
//    baseline in every trial (paired comparison), and any trial can be replayed alone;
//  - one trial at two rates draws from unrelated streams: the map at BER 2r is not the map at r
//    rescaled or extended (with one stream per trial the positions drawn at the lower rate were a
//    prefix, or a rescaling, of those at the higher), so the points of a sweep are independent;
//  - a threshold search or hyper-parameter tuning (purpose "search", "tuning") never sees the
//    faults of the evaluation ("evaluation") that reports its result, whatever seed it is given.
//
// No model copy is ever made: a fault log records each changed element's old value, and restore
// writes those values back newest first.
//
// int8 (storage_format.hpp) stores one float32 scale per tensor beside its 8-bit codes, and the
// scale is faulted like any stored word: its faults come from the stream of the name
// "<name>.scale" (so every other stream, the tensor's own elements' included, is what it is in the
// other formats), are drawn by the point's rate model over its 32 bits when the bit mask is the
// whole 8-bit word (a narrower mask, or an exact-k campaign, whose k counts element bits, leaves
// scales alone), and are applied after the element faults: the elements' codes, faulted, are read
// back with the faulted scale, so a changed scale changes every element of its tensor. The scale
// itself is int8_scale of the quantised tensor, recomputed when the faults are applied; the log
// keeps the elements as they were before the scale changed, and restore writes them back first.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faults/bitflip.hpp"
#include "faults/fault_model.hpp"
#include "faults/storage_format.hpp"
#include "faults/targets.hpp"
#include "layers/evaluate.hpp"

namespace proact::faults {

// ---------------------------------------------------------------------------------------------
// Quantisation, once per model.

struct QuantizeReport {
    int64_t values = 0;        // elements visited
    int64_t changed = 0;       // elements whose float changed (were not on the grid yet)
    int64_t saturated = 0;     // elements outside the format's range, clamped to its ends
    double max_abs_error = 0;  // largest |quantised - original| among the unsaturated elements
};

// Puts every target value on `format`'s grid, rounding to nearest (ties to even) and saturating
// (bf16, fp16: overflowing to infinity, counted as saturated; int8: each tensor on the grid of its
// own scale, quantize_int8_inplace). Identity for float32. ValueError naming the parameter and
// element for a NaN (Qm.n, int8) or an infinity (int8).
QuantizeReport quantize_targets(std::vector<FaultTarget>& targets, const StorageFormat& format);

// ValueError naming the first target value that is not on `format`'s grid (int8: the grid of the
// tensor's int8_scale) (a campaign on an unquantised model would silently round every faulted
// weight). Nothing for float32.
void check_quantized(const std::vector<FaultTarget>& targets, const StorageFormat& format);

// ---------------------------------------------------------------------------------------------
// Fault maps.

struct TensorFaults {
    size_t target = 0;                   // index into the targets
    std::vector<BitFault> faults;        // ascending by element, then bit
    std::vector<BitFault> scale_faults = {};  // int8: bits of the tensor's float32 scale (element 0)
};

// The faults of one trial over all targets; targets without faults are left out.
struct FaultMap {
    std::vector<TensorFaults> tensors;
    int64_t size() const;           // faulty bits in all, scales' included
    bool empty() const { return tensors.empty(); }
};

// What a campaign's faults are for; each purpose has streams of its own (see "Reproducibility").
//   evaluation  the campaigns whose results are reported
//   search      FtClipAct's threshold search
//   tuning      hyper-parameter tuning
//   vulnerability  the site order of a vulnerability map's strata (vulnerability.hpp)
inline constexpr std::array<std::string_view, 4> kFaultPurposes = {"evaluation", "search", "tuning", "vulnerability"};
// ValueError naming `purpose` and the known purposes unless it is one of kFaultPurposes.
void check_fault_purpose(std::string_view purpose);

// Everything a trial's streams are keyed by but the trial and the target's name.
struct FaultStreamKey {
    uint64_t seed = 0;
    std::string purpose = "evaluation";  // one of kFaultPurposes
    double rate = 0.0;                   // the BER, or k of an exact-k point; enters by its exact bits
};

// The stream of target `name` in trial `trial` (see "Reproducibility" above). ValueError for an
// unknown purpose.
core::Rng fault_stream(const FaultStreamKey& key, int64_t trial, const std::string& name);

// Trial `trial`'s faults: draw_faults(model, numel, format, fault_stream(key, trial, name)) for each
// target, and for an int8 target its scale's faults (scale_fault_model) from the stream of
// name + ".scale". ValueError when key.rate is not the model's rate (FaultModel::rate(), compared bit for
// bit), for an unknown purpose, and from draw_faults (BER outside [0, 1], mask outside the word,
// exact count above a tensor's bits).
FaultMap draw_fault_map(const std::vector<FaultTarget>& targets, const FaultModel& model, const StorageFormat& format,
                        const FaultStreamKey& key, int64_t trial);

// The faults of an int8 tensor's scale word: the same count rule, action and rate over all 32 bits
// of the float32 scale when `model`'s mask is the whole element word; none (nullopt) for an exact
// count or a narrower mask, or when `format` is not int8.
std::optional<FaultModel> scale_fault_model(const FaultModel& model, const StorageFormat& format);

// ---------------------------------------------------------------------------------------------
// Injection and restore.

struct TensorLog {
    size_t target = 0;
    std::vector<FaultRecord> records;  // apply_faults' log, one record per fault, in map order
    // int8: the scale the elements were encoded with, the log of its faults (on a one-element span
    // holding the scale) and, when they changed it, the elements as `records` left them (restore
    // writes them back before undoing `records`).
    float scale = 0.0f;
    std::vector<FaultRecord> scale_records;
    bool scale_changed = false;  // so every element may have changed
    std::vector<float> before_scale_change;
};

// Applies `map` to the targets' values in place; returns the log restore_fault_map needs.
std::vector<TensorLog> apply_fault_map(std::vector<FaultTarget>& targets, const FaultMap& map,
                                       const StorageFormat& format);
// Undoes apply_fault_map, last tensor first. ValueError if the values changed in between.
void restore_fault_map(std::vector<FaultTarget>& targets, const std::vector<TensorLog>& log);

// True when some record changed a value's bits, or a scale changed (a stuck-at fault on a bit that
// already held its value changes nothing; a map whose faults all change nothing leaves the model
// fault-free).
bool log_changes_values(const std::vector<TensorLog>& log);

// Applies a fault map for the lifetime of the object and restores it however the scope ends.
class ScopedFaults {
public:
    ScopedFaults(std::vector<FaultTarget>& targets, const FaultMap& map, const StorageFormat& format);
    ~ScopedFaults();
    ScopedFaults(const ScopedFaults&) = delete;
    ScopedFaults& operator=(const ScopedFaults&) = delete;

    const std::vector<TensorLog>& log() const { return log_; }
    bool changes_values() const { return log_changes_values(log_); }
    void restore();  // early restore; the destructor then does nothing

private:
    std::vector<FaultTarget>& targets_;
    std::vector<TensorLog> log_;
    bool restored_ = false;
};

// ---------------------------------------------------------------------------------------------
// Checksums and fault logs.

// FNV-1a over the names, shapes and bit patterns of every parameter and buffer of `model`: equal
// checksums before and after a campaign show that it restored every bit.
uint64_t model_checksum(const layers::Module& model);

// FNV-1a (64-bit) over the float bytes of `images` (its values in row-major order, as stored in
// memory: little-endian on every supported machine), then the int32 bytes of `labels` likewise:
// what tells two evaluation sets apart (CampaignResult::images_hash).
uint64_t data_checksum(const core::Tensor& images, const std::vector<int32_t>& labels);
// The same checksum over labels.size() images asked from `images` batch by batch (the bytes of
// the concatenated batches are those of the whole tensor), for a set never held as one tensor.
uint64_t data_checksum(const layers::InputBatches& images, const std::vector<int32_t>& labels);

// A checksum as text, "0x" and 16 lower-case hex digits ("0x00ab..."), and back. parse: ValueError
// naming the text unless it is exactly that form.
std::string checksum_hex(uint64_t checksum);
uint64_t parse_checksum_hex(std::string_view text);

// One fault of one trial, as the log files show it.
struct FaultLogEntry {
    int64_t trial = 0;
    double rate = 0.0;        // the BER, or the faults per tensor of an exact-k campaign
    std::string parameter;    // "features.0.weight"; "features.0.weight.scale" for an int8 scale
    int64_t index = 0;        // element index in the parameter's contiguous values
    int bit = 0;              // 0 = least significant bit of the stored word
    BitAction action = BitAction::flip;
    float old_value = 0.0f;
    float new_value = 0.0f;
    uint32_t old_word = 0;    // the stored words (float bits, or the two's-complement integer code)
    uint32_t new_word = 0;
};

void append_fault_log(std::vector<FaultLogEntry>& entries, int64_t trial, double rate,
                      const std::vector<FaultTarget>& targets, const std::vector<TensorLog>& log,
                      const StorageFormat& format);

// CSV: trial,rate,parameter,index,bit,action,old_value,new_value,old_word,new_word (values with 9
// significant digits, enough to read the float back exactly; words in hex).
std::string fault_log_csv(const std::vector<FaultLogEntry>& entries);
// JSON: {"format": "...", "faults": [{"trial": 0, "rate": 1e-05, "parameter": ..., ...}, ...]}.
std::string fault_log_json(const std::vector<FaultLogEntry>& entries, const StorageFormat& format);

}  // namespace proact::faults
