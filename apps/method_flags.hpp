// The hardening methods' flags, one set for every command that hardens (harden, reproduce, tune,
// demo): each flag writes into method::MethodSettings, the registry's one settings struct, so a
// setting has one name everywhere and no command copies one method's flags into another's.
//
//   MethodFlags flags;
//   add_method_flags(*sub, flags);                    // --decays, --tolerance, --fitact-epochs, ...
//   ... parse ...
//   method::MethodSettings settings = resolve_method_flags(*sub, flags);   // ValueError on bad values
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "proact/methods.hpp"

namespace proact::apps {

struct MethodFlags {
    method::MethodSettings settings;
    std::string preset = "ours";                   // ours | toolbox (ProAct's settings)
    std::string tolerance_reference = "original";  // ProAct
    std::string search_bers;                       // FtClipAct; empty: the evaluation BERs
    bool no_threshold_faults = false;              // FtClipAct's search campaigns
    std::string search_fault_model = "ber";
    int64_t cache_budget_mb = method::kDefaultCacheBudgetBytes >> 20;
};

void add_method_flags(CLI::App& command, MethodFlags& flags);

// The settings the flags say, the toolbox preset applied to every ProAct flag not given, and every
// method's options validated. ValueError naming the flag otherwise.
method::MethodSettings resolve_method_flags(const CLI::App& command, const MethodFlags& flags);

// Notes what the settings size in memory (--cache-budget-mb, --threshold-batch-size) for the
// out-of-memory message (common.hpp, note_memory_request).
void note_hardening_memory(const method::MethodSettings& settings);

}  // namespace proact::apps
