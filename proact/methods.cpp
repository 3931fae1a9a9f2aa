// The method table. Each entry hardens a model and says what it did; the commands and the
// comparison do everything around it (loading, quantisation, saving, campaigns), the same for all.
#include "proact/methods.hpp"

#include <charconv>
#include <chrono>
#include <sstream>

#include "core/error.hpp"
#include "faults/injector.hpp"
#include "layers/checkpoint.hpp"
#include "layers/fold_batchnorm.hpp"
#include "layers/range_guard.hpp"
#include "proact/ranger.hpp"

namespace proact::method {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Option values from text: the whole text must be the number, nothing else.

template <class Number>
Number parse_number(const std::string& option, const std::string& text) {
    Number value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty())
        core::fail<core::ValueError>("method option ", option, ": '", text, "' is not a number");
    return value;
}

// "0.4:0.04:0.004" (':' separates a list inside one grid value, whose items ',' separates).
template <class Number>
std::vector<Number> parse_number_list(const std::string& option, const std::string& text) {
    std::vector<Number> values;
    std::string item;
    std::istringstream items(text);
    while (std::getline(items, item, ':')) values.push_back(parse_number<Number>(option, item));
    if (values.empty()) core::fail<core::ValueError>("method option ", option, ": no values in '", text, "'");
    return values;
}

template <class Number>
std::string number_text(Number value) {
    std::ostringstream text;
    text << value;
    return text.str();
}

template <class Number>
std::string list_text(const std::vector<Number>& values) {
    std::string text;
    for (size_t i = 0; i < values.size(); ++i) {
        if (i) text += ':';
        text += number_text(values[i]);
    }
    return text;
}

// An option bound to one field of MethodSettings (`field` returns a reference to it).
template <class Number, class Get>
MethodOption scalar(std::string name, std::string help, Get field) {
    return {name, std::move(help),
            [name, field](MethodSettings& settings, const std::string& text) {
                field(settings) = parse_number<Number>(name, text);
            },
            [field](const MethodSettings& settings) {
                return number_text(field(const_cast<MethodSettings&>(settings)));
            }};
}

template <class Number, class Get>
MethodOption list(std::string name, std::string help, Get field) {
    return {name, std::move(help),
            [name, field](MethodSettings& settings, const std::string& text) {
                field(settings) = parse_number_list<Number>(name, text);
            },
            [field](const MethodSettings& settings) { return list_text(field(const_cast<MethodSettings&>(settings))); }};
}

// What every method shares, copied into the per-method structs (one source, never set twice).
ProActOptions proact_options(const MethodSettings& settings) {
    ProActOptions options = settings.proact;
    options.profile_images = settings.profile_images;
    options.max_train_images = settings.max_train_images;
    options.batch_size = settings.batch_size;
    options.cache_budget_bytes = settings.cache_budget_bytes;
    return options;
}

FitActOptions fitact_options(const MethodSettings& settings) {
    FitActOptions options = settings.fitact;
    options.profile_images = settings.profile_images;
    options.max_train_images = settings.max_train_images;
    options.batch_size = settings.batch_size;
    options.cache_budget_bytes = settings.cache_budget_bytes;
    return options;
}

// FtClipAct's campaigns: the run's storage format; BERs as settings say, else the evaluation BERs
// (at most five, where the unprotected model falls: search_bers_for on search faults).
FtClipActOptions ftclipact_options(const MethodSettings& settings, const HardenInputs& inputs) {
    FtClipActOptions options = settings.ftclipact;
    options.campaign.format = inputs.format;
    options.subset_images = settings.profile_images;
    options.cache_budget_bytes = settings.cache_budget_bytes;
    if (!settings.ftclipact_search_bers.empty()) options.campaign.bers = settings.ftclipact_search_bers;
    else if (!inputs.evaluation_bers.empty()) options.campaign.bers = inputs.evaluation_bers;
    return options;
}

// ---------------------------------------------------------------------------------------------
// Settings texts: everything a result depends on.

std::string ranger_settings(const MethodSettings& settings, const HardenInputs&) {
    std::ostringstream text;
    text << settings.ranger_clip.to_string() << "; maxima of " << settings.profile_images << " training images";
    return text.str();
}

std::string proact_settings(const MethodSettings& settings, const HardenInputs&) {
    const ProActOptions o = proact_options(settings);
    std::ostringstream text;
    text << o.clip.to_string() << "; " << o.ce_weight << " CE + " << o.kd_weight << " KD + " << o.l2_weight
         << " L2; " << o.optimizer << " lr " << o.lr_scalar << "/" << o.lr_neuron << " " << o.schedule << "; decays "
         << list_text(o.decays) << "; epochs " << o.epochs_scalar << "/" << o.epochs_neuron
         << (o.check_every_epoch ? " checked each" : "") << "; tolerance " << o.tolerance << " against "
         << to_string(o.tolerance_reference) << "; batch " << o.batch_size << "; profile " << o.profile_images
         << "; train images " << (o.max_train_images > 0 ? std::to_string(o.max_train_images) : "all");
    return text.str();
}

std::string fitact_settings(const MethodSettings& settings, const HardenInputs&) {
    const FitActOptions o = fitact_options(settings);
    std::ostringstream text;
    text << o.clip.to_string() << "; CE + " << o.l2_weight << " L2; adam lr " << o.lr << " decay " << o.weight_decay
         << "; epochs " << o.epochs << "; batch " << o.batch_size << "; profile " << o.profile_images
         << "; train images " << (o.max_train_images > 0 ? std::to_string(o.max_train_images) : "all");
    return text.str();
}

std::string ftclipact_settings(const MethodSettings& settings, const HardenInputs& inputs) {
    const FtClipActOptions o = ftclipact_options(settings, inputs);
    std::ostringstream text;
    text << "layer:" << core::to_string(settings.ftclipact_mode) << "; search BERs "
         << (settings.ftclipact_search_bers.empty() ? "from " : "") << list_text(o.campaign.bers) << "; "
         << o.campaign.trials << " trials; " << o.candidates << " candidates; rounds " << o.min_rounds << "-"
         << o.max_rounds << "; tolerance " << o.score_tolerance << "; " << o.campaign.format.to_string()
         << "; subset " << o.subset_images;
    return text.str();
}

// ---------------------------------------------------------------------------------------------
// The hardening functions.

HardenReport harden_unprotected(layers::Module&, const HardenInputs&, const MethodSettings&, const RunSettings&,
                                const LogLine&) {
    HardenReport report;
    report.settings = "relu, no clipping";
    return report;
}

HardenReport harden_ranger(layers::Module& model, const HardenInputs& inputs, const MethodSettings& settings,
                           const RunSettings& run, const LogLine& log) {
    const auto start = std::chrono::steady_clock::now();
    const auto profiles =
        profile_training_subset(model, inputs.input_shape, *inputs.train, settings.profile_images, run.seed);
    const auto sites = ranger_harden(model, inputs.input_shape, profiles, settings.ranger_clip);
    if (log)
        for (size_t i = 0; i < sites.size(); ++i) {
            const auto& clip = static_cast<const layers::ClippedReLU&>(*sites[i].module);
            char line[160];
            std::snprintf(line, sizeof line, "%-16s %-7s %6lld thresholds, layer max %.4g", sites[i].path.c_str(),
                          core::to_string(clip.granularity()), static_cast<long long>(clip.threshold().numel()),
                          profiles[i].layer_max());
            log(line);
        }
    HardenReport report;
    report.thresholds = threshold_count(model);
    report.seconds = seconds_since(start);
    report.settings = ranger_settings(settings, inputs);
    return report;
}

HardenReport harden_proact(layers::Module& model, const HardenInputs& inputs, const MethodSettings& settings,
                           const RunSettings& run, const LogLine& log) {
    const ProActOptions options = proact_options(settings);
    const ProActResult result =
        proact_harden(model, inputs.input_shape, *inputs.train, *inputs.validation, options, run,
                      [&log](const LayerLog& layer, bool resumed) {
                          if (log) log(layer_summary(layer) + (resumed ? "  (resumed)" : ""));
                      },
                      inputs.resume);
    HardenReport report;
    report.thresholds = result.threshold_count;
    report.seconds = result.seconds;
    report.settings = proact_settings(settings, inputs);
    report.details_json = proact_json(result, options);
    return report;
}

HardenReport harden_fitact(layers::Module& model, const HardenInputs& inputs, const MethodSettings& settings,
                           const RunSettings& run, const LogLine& log) {
    const FitActOptions options = fitact_options(settings);
    const FitActResult result =
        fitact_harden(model, inputs.input_shape, *inputs.train, *inputs.validation, options, run,
                      [&log](const FitActEpoch& epoch) {
                          if (!log) return;
                          char line[160];
                          std::snprintf(line, sizeof line, "epoch %d: loss %.5f, validation %.2f%%", epoch.epoch,
                                        epoch.train_loss, epoch.validation_accuracy);
                          log(line);
                      });
    HardenReport report;
    report.thresholds = result.threshold_count;
    report.seconds = result.seconds;
    report.settings = fitact_settings(settings, inputs);
    report.details_json = fitact_json(result, options);
    return report;
}

HardenReport harden_ftclipact(layers::Module& model, const HardenInputs& inputs, const MethodSettings& settings,
                              const RunSettings& run, const LogLine& log) {
    const FtClipActOptions options = ftclipact_options(settings, inputs);
    const FtClipActResult result =
        ftclipact_harden(model, inputs.input_shape, *inputs.train, *inputs.validation, options,
                         settings.ftclipact_mode, run, [&log](const FtClipActLayer& layer) {
                             if (log) log(layer_summary(layer));
                         });
    HardenReport report;
    report.thresholds = result.threshold_count;
    report.seconds = result.seconds;
    report.settings = ftclipact_settings(settings, inputs);
    report.details_json = ftclipact_json(result, options);
    return report;
}

HardenReport harden_guard(layers::Module& model, const HardenInputs&, const MethodSettings&, const RunSettings&,
                          const LogLine&) {
    const auto start = std::chrono::steady_clock::now();
    HardenReport report;
    report.guards = layers::apply_range_guard(model);
    report.seconds = seconds_since(start);
    report.settings = "weight range guard: fault-free [min, max] per conv/linear tensor, 0 outside";
    return report;
}

// ---------------------------------------------------------------------------------------------
// The options each method offers by name.

std::vector<MethodOption> proact_option_list() {
    return {
        list<float>("decays", "weight decays tried per layer, first to last (':'-separated)",
                    [](MethodSettings& s) -> auto& { return s.proact.decays; }),
        scalar<double>("tolerance", "accuracy points a layer may cost on validation",
                       [](MethodSettings& s) -> auto& { return s.proact.tolerance; }),
        scalar<float>("lr_scalar", "learning rate of layer-wise thresholds",
                      [](MethodSettings& s) -> auto& { return s.proact.lr_scalar; }),
        scalar<float>("lr_neuron", "learning rate of neuron-wise thresholds",
                      [](MethodSettings& s) -> auto& { return s.proact.lr_neuron; }),
        scalar<int>("epochs_scalar", "epochs per try, layer-wise thresholds",
                    [](MethodSettings& s) -> auto& { return s.proact.epochs_scalar; }),
        scalar<int>("epochs_neuron", "epochs per try, neuron-wise thresholds",
                    [](MethodSettings& s) -> auto& { return s.proact.epochs_neuron; }),
        scalar<float>("ce_weight", "loss weight of the cross-entropy",
                      [](MethodSettings& s) -> auto& { return s.proact.ce_weight; }),
        scalar<float>("kd_weight", "loss weight of the distillation",
                      [](MethodSettings& s) -> auto& { return s.proact.kd_weight; }),
        scalar<float>("l2_weight", "loss weight of mean(threshold^2)",
                      [](MethodSettings& s) -> auto& { return s.proact.l2_weight; }),
    };
}

std::vector<MethodOption> fitact_option_list() {
    return {
        scalar<float>("lr", "Adam learning rate of every threshold", [](MethodSettings& s) -> auto& { return s.fitact.lr; }),
        scalar<float>("l2_weight", "loss weight λ of Σ mean(threshold^2)",
                      [](MethodSettings& s) -> auto& { return s.fitact.l2_weight; }),
        scalar<float>("weight_decay", "Adam weight decay", [](MethodSettings& s) -> auto& { return s.fitact.weight_decay; }),
        scalar<int>("epochs", "epochs over the training split", [](MethodSettings& s) -> auto& { return s.fitact.epochs; }),
    };
}

std::vector<MethodOption> ftclipact_option_list() {
    return {
        scalar<int>("candidates", "equally spaced thresholds per round",
                    [](MethodSettings& s) -> auto& { return s.ftclipact.candidates; }),
        scalar<int>("min_rounds", "rounds before the score rule may stop",
                    [](MethodSettings& s) -> auto& { return s.ftclipact.min_rounds; }),
        scalar<int>("max_rounds", "rounds per layer at most", [](MethodSettings& s) -> auto& { return s.ftclipact.max_rounds; }),
        scalar<double>("score_tolerance", "stop when a round's scores differ by at most this",
                       [](MethodSettings& s) -> auto& { return s.ftclipact.score_tolerance; }),
        scalar<int64_t>("search_trials", "trials per BER of each candidate's campaign",
                        [](MethodSettings& s) -> auto& { return s.ftclipact.campaign.trials; }),
        list<double>("search_bers", "BERs of the search campaigns (':'-separated; default: the evaluation BERs)",
                     [](MethodSettings& s) -> auto& { return s.ftclipact_search_bers; }),
    };
}

}  // namespace

const std::vector<Method>& methods() {
    static const std::vector<Method> table = {
        {"unprotected", "the trained model as it is (ReLU)", {},
         [](const MethodSettings&, const HardenInputs&) { return std::string("relu"); }, harden_unprotected},
        {"ranger", "thresholds = activation maxima on training images, layer-wise hard zero (no training)", {},
         ranger_settings, harden_ranger},
        {"ftclipact", "layer-wise hard thresholds searched by fault campaigns, first layer to last (FtClipAct)",
         ftclipact_option_list(), ftclipact_settings, harden_ftclipact},
        {"fitact", "neuron-wise smooth thresholds from Ranger, all trained at once (FitAct)", fitact_option_list(),
         fitact_settings, harden_fitact},
        {"proact", "hybrid thresholds from Ranger, trained layer by layer from the last (ProAct)", proact_option_list(),
         proact_settings, harden_proact, "", true},
        {"guard", "weight range guard alone: values outside a tensor's fault-free [min, max] read as 0", {},
         [](const MethodSettings&, const HardenInputs&) { return std::string("range guard"); }, harden_guard},
        {"proact+guard", "ProAct, then the weight range guard", proact_option_list(),
         [](const MethodSettings& settings, const HardenInputs& inputs) {
             return proact_settings(settings, inputs) + "; range guard";
         },
         harden_guard, "proact"},
    };
    return table;
}

std::string method_names() {
    std::string names;
    for (const Method& method : methods()) {
        if (!names.empty()) names += ", ";
        names += method.name;
    }
    return names;
}

const Method& find_method(const std::string& name) {
    for (const Method& method : methods())
        if (method.name == name) return method;
    core::fail<core::ValueError>("unknown method '", name, "' (known: ", method_names(), ")");
}

bool resumes_by_layer(const Method& method) {
    return method.layer_resume || (!method.base.empty() && resumes_by_layer(find_method(method.base)));
}

std::vector<std::string> parse_method_list(std::string_view text) {
    std::vector<std::string> names;
    if (text == "all") {
        for (const Method& method : methods()) names.push_back(method.name);
        return names;
    }
    std::string item;
    std::istringstream items{std::string(text)};
    while (std::getline(items, item, ',')) {
        find_method(item);
        for (const std::string& earlier : names)
            if (earlier == item) core::fail<core::ValueError>("method '", item, "' is listed twice");
        names.push_back(item);
    }
    if (names.empty()) core::fail<core::ValueError>("no methods given (expected 'all' or some of ", method_names(), ")");
    return names;
}

void validate_settings(const MethodSettings& settings) {
    validate_options(proact_options(settings));
    validate_options(fitact_options(settings));
    validate_options(ftclipact_options(settings, HardenInputs{}));
    if (settings.ftclipact_mode == core::ClipMode::smooth)
        core::fail<core::ValueError>("FtClipAct clips hard or saturate, not smooth");
    if (settings.ranger_clip.mode == core::ClipMode::smooth)
        core::fail<core::ValueError>("Ranger clips hard or saturate, not smooth");
}

std::string option_names(const Method& method) {
    std::string names;
    for (const MethodOption& option : method.options) {
        if (!names.empty()) names += ", ";
        names += option.name;
    }
    return names.empty() ? "none" : names;
}

void set_method_option(MethodSettings& settings, const std::string& method_name, const std::string& option,
                       const std::string& value) {
    const Method& method = find_method(method_name);
    for (const MethodOption& candidate : method.options)
        if (candidate.name == option) return candidate.set(settings, value);
    core::fail<core::ValueError>("method ", method_name, " has no option '", option, "' (its options: ",
                                 option_names(method), ")");
}

HardenReport add_reports(const HardenReport& base, const HardenReport& step) {
    HardenReport report = step;
    report.thresholds = base.thresholds + step.thresholds;
    report.guards = base.guards + step.guards;
    report.seconds = base.seconds + step.seconds;
    report.settings = base.settings + "; " + step.settings;
    if (report.details_json.empty()) report.details_json = base.details_json;
    return report;
}

HardenReport harden_with_base(const Method& method, layers::Module& model, const HardenInputs& inputs,
                              const MethodSettings& settings, const RunSettings& run, const LogLine& log) {
    if (method.base.empty()) return method.harden(model, inputs, settings, run, log);
    const HardenReport base = harden_with_base(find_method(method.base), model, inputs, settings, run, log);
    return add_reports(base, method.harden(model, inputs, settings, run, log));
}

namespace {

void quantize_targets_of(layers::Module& model, const faults::CampaignOptions& campaign, bool include_thresholds) {
    if (campaign.format.is_float32()) return;
    std::vector<faults::FaultTarget> targets = faults::select_targets(model, campaign.patterns, include_thresholds);
    faults::quantize_targets(targets, campaign.format);
}

}  // namespace

layers::ModulePtr load_for_hardening(const std::string& checkpoint, const std::string& batch_norm,
                                     const faults::CampaignOptions& campaign) {
    if (batch_norm != "fold" && batch_norm != "keep")
        core::fail<core::ValueError>("batch norm '", batch_norm, "' is not one of fold, keep");
    layers::ModulePtr model = layers::load_model(checkpoint);
    if (batch_norm == "fold") layers::fold_batch_norm(*model);
    quantize_targets_of(*model, campaign, false);
    return model;
}

void quantize_hardened(layers::Module& model, const faults::CampaignOptions& campaign) {
    quantize_targets_of(model, campaign, true);
}

int64_t threshold_count(const layers::Module& model) {
    int64_t count = 0;
    for (const auto& [name, parameter] : model.named_parameters())
        if (name.ends_with("threshold")) count += parameter.numel();
    return count;
}

}  // namespace proact::method
