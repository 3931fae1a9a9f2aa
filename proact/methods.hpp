// Every hardening method in one table: its name, a line of help, its settings by name, and how it
// runs. `proact harden`, `reproduce`, `tune` and `demo` all go through it, so a method is added
// by one entry here and every command knows it.
//
//   MethodSettings settings;                         // every method's defaults
//   set_method_option(settings, "proact", "tolerance", "1.0");   // what tune --grid does
//   const HardenInputs inputs{{1, 28, 28}, &train, &validation, StorageFormat::parse("q15.16"), bers};
//   HardenReport report = find_method("proact").harden(*model, inputs, settings, RunSettings{seed},
//                                                      [](const std::string& line) { puts(line.c_str()); });
//
// A method hardens a trained model in place (for any format but float32 its weights are already on
// the grid) and reports what it did. Randomness comes only from run.seed, each use by its own
// purpose; the log callback gets one line per layer or epoch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/dataset.hpp"
#include "faults/campaign_options.hpp"
#include "faults/storage_format.hpp"
#include "layers/hybrid_clip.hpp"
#include "proact/fitact.hpp"
#include "proact/ftclipact.hpp"
#include "proact/proact.hpp"
#include "proact/run_settings.hpp"

namespace proact::method {

// Every method's settings, one place. What several methods share is held once and handed to each
// (profile_images: the Ranger subset every method starts from; the threshold-training cap, batch
// and cache of ProAct and FitAct); the fields of the same name in the per-method structs are
// overwritten with these.
struct MethodSettings {
    ProActOptions proact;
    FitActOptions fitact;
    FtClipActOptions ftclipact;
    core::ClipMode ftclipact_mode = core::ClipMode::hard;
    // Empty: the evaluation BERs (search_bers_for); else FtClipAct searches at these (the
    // toolbox's 1e-7,1e-6,3e-6,1e-5,3e-5 for reproduction).
    std::vector<double> ftclipact_search_bers;
    layers::HybridClip ranger_clip = layers::HybridClip::parse("layer:hard");
    int64_t profile_images = 1024;
    int64_t max_train_images = 0;          // ProAct and FitAct (0: the whole training split)
    int64_t batch_size = 128;              // ProAct and FitAct
    int64_t cache_budget_bytes = kDefaultCacheBudgetBytes;
};

// What a method may use besides the model.
struct HardenInputs {
    core::Shape input_shape;                        // one sample's (C, H, W)
    const datasets::Dataset* train = nullptr;       // the training split (validation held out)
    const datasets::Dataset* validation = nullptr;
    faults::StorageFormat format = faults::StorageFormat::fixed_point(15, 16);
    std::vector<double> evaluation_bers;            // where the result will be judged
    // Methods that go layer by layer (ProAct) save their state there after every layer and
    // continue from it (layer_state.hpp); the others ignore it (resumes_by_layer).
    LayerResume resume;
};


struct HardenReport {
    int64_t thresholds = 0;       // clipping threshold values in the hardened model
    int64_t guards = 0;           // guard values (weight range guards)
    double seconds = 0.0;         // hardening wall time
    std::string settings;         // what was done: "hybrid:smooth:20; 0.8 CE + 0.1 KD ..."
    std::string details_json;     // the method's own log (per layer or epoch), without times; or ""
    double clean_accuracy = 0.0;  // percent, filled in by the caller that evaluates it
};

using LogLine = std::function<void(const std::string&)>;

// One setting of a method by name, as `tune --grid name=v1,v2` and the result files name it.
struct MethodOption {
    std::string name;   // "tolerance"
    std::string help;
    std::function<void(MethodSettings&, const std::string&)> set;  // ValueError naming the option
    std::function<std::string(const MethodSettings&)> get;
};

struct Method {
    std::string name;             // "proact"
    std::string summary;          // one line for --help
    std::vector<MethodOption> options;
    // The settings the result depends on (the comparison's resume key): same text, same hardening.
    std::function<std::string(const MethodSettings&, const HardenInputs&)> settings;
    std::function<HardenReport(layers::Module&, const HardenInputs&, const MethodSettings&, const RunSettings&,
                               const LogLine&)>
        harden;
    // A method this one continues ("proact" for "proact+guard"): its hardened model is the start;
    // reports add up (comparison.cpp, harden_with_base).
    std::string base = {};
    // Saves its state after every layer and continues from it through HardenInputs::resume
    // (ProAct); a method with a base that does inherits it (resumes_by_layer).
    bool layer_resume = false;
};

// Every method, in the order of the comparison's tables.
const std::vector<Method>& methods();
// ValueError naming `name` and listing the known methods.
const Method& find_method(const std::string& name);
// "unprotected, ranger, ..."
std::string method_names();
// True for a method, or its base, with layer_resume.
bool resumes_by_layer(const Method& method);
// "all" or comma-separated names, each known and at most once. ValueError otherwise.
std::vector<std::string> parse_method_list(std::string_view text);

// ValueError naming the method and option when a setting is out of its range (every method's).
void validate_settings(const MethodSettings& settings);

// Sets option `option` of method `method` from text. ValueError naming both (and the known
// options) for an unknown one or a bad value.
void set_method_option(MethodSettings& settings, const std::string& method, const std::string& option,
                       const std::string& value);
// "decays, tolerance, ..." of a method.
std::string option_names(const Method& method);

// A method that continues `base`: counts, seconds and settings added up.
HardenReport add_reports(const HardenReport& base, const HardenReport& step);
// Runs `method` on `model`, its base first when it has one (the reports added up).
HardenReport harden_with_base(const Method& method, layers::Module& model, const HardenInputs& inputs,
                              const MethodSettings& settings, const RunSettings& run, const LogLine& log);

// The trained model as every method starts from it: loaded, batch norm folded into the
// convolutions ("fold", as a deployment stores it) or kept ("keep"), and its weight targets (those
// of `campaign`) put on the storage format's grid, so thresholds are trained against the weights
// the campaign will see. ValueError for another batch_norm.
layers::ModulePtr load_for_hardening(const std::string& checkpoint, const std::string& batch_norm,
                                     const faults::CampaignOptions& campaign);
// After hardening: every fault target of `campaign`, thresholds and guard bounds included, on the
// grid (nothing for float32).
void quantize_hardened(layers::Module& model, const faults::CampaignOptions& campaign);

// Clipping threshold values of `model` (parameters named "*threshold").
int64_t threshold_count(const layers::Module& model);

}  // namespace proact::method
