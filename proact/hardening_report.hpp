// What every hardening method reports, whatever it is: for the comparison table and `--log`.
//
//   HardeningReport report = hardening_report(*model, "fitact", format, validation_accuracy, seconds,
//                                             fitact_json(result, options));
//   write(hardening_json(report));
//
// Counts come from the hardened model itself: thresholds are the "*.threshold" parameters, guard
// values the range guard's bounds (2 per guarded tensor); bytes are what they take in the storage
// format (4 for float32 and Q15.16: one 32-bit word each).
#pragma once

#include <cstdint>
#include <string>

#include "faults/storage_format.hpp"
#include "layers/module.hpp"

namespace proact::method {

struct HardeningReport {
    std::string method;               // "proact", "fitact", "ftclipact", "ranger", "guard"
    bool guard = false;               // the weight range guard is on (alone or with clipping)
    std::string activation;           // HybridClip::to_string(), "" without clipping
    int64_t threshold_count = 0;
    int64_t guard_values = 0;
    std::string storage_format;       // "Q15.16"
    int64_t storage_bytes = 0;        // (thresholds + guard values) in that format, + 4 per tensor's int8 scale
    double validation_accuracy = 0.0; // clean, percent, hardened
    double seconds = 0.0;             // wall time of the hardening
    std::string details_json;         // the method's own JSON (settings, per-layer log), or ""
};

HardeningReport hardening_report(const layers::Module& model, const std::string& method,
                                 const faults::StorageFormat& format, double validation_accuracy, double seconds,
                                 const std::string& details_json = "");

// JSON with the fields above; the details (if any) nested under "details". with_times adds the
// seconds, which differ from run to run.
std::string hardening_json(const HardeningReport& report, bool with_times = false);

// "fitact: 2,594 thresholds + 0 guard values = 10,376 bytes (Q15.16), validation 89.95%, 41.2 s".
std::string hardening_summary(const HardeningReport& report);

}  // namespace proact::method
