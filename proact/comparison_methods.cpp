// The comparison's method table and the data it runs on. Each entry hardens a fresh copy of the
// trained model and says what it did; comparison.cpp does everything around it (quantisation,
// saving, the campaign), the same for every method.
#include <chrono>
#include <cstdio>
#include <sstream>

#include "core/error.hpp"
#include "datasets/registry.hpp"
#include "datasets/split.hpp"
#include "layers/range_guard.hpp"
#include "proact/comparison.hpp"
#include "proact/fitact.hpp"
#include "proact/ftclipact.hpp"
#include "proact/ranger.hpp"

namespace proact::method {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string ranger_settings(const HardenContext& context) {
    std::ostringstream text;
    text << context.ranger_clip.to_string() << "; maxima of " << context.profile_images << " training images";
    return text.str();
}

std::string proact_settings(const HardenContext& context) {
    const ProActOptions& o = context.proact;
    std::ostringstream text;
    text << o.clip.to_string() << "; " << o.ce_weight << " CE + " << o.kd_weight << " KD + " << o.l2_weight
         << " L2; " << o.optimizer << " lr " << o.lr_scalar << "/" << o.lr_neuron << " " << o.schedule << "; decays";
    for (size_t i = 0; i < o.decays.size(); ++i) text << (i ? "," : " ") << o.decays[i];
    text << "; epochs " << o.epochs_scalar << "/" << o.epochs_neuron << (o.check_every_epoch ? " checked each" : "")
         << "; tolerance " << o.tolerance << "; batch " << o.batch_size << "; profile " << context.profile_images
         << "; train images " << (o.max_train_images > 0 ? std::to_string(o.max_train_images) : "all");
    return text.str();
}

HardenReport harden_unprotected(layers::Module&, const HardenContext&) {
    HardenReport report;
    report.settings = "relu, no clipping";
    return report;
}

HardenReport harden_ranger(layers::Module& model, const HardenContext& context) {
    const auto start = std::chrono::steady_clock::now();
    const auto profiles = profile_training_subset(model, context.input_shape, context.train->images,
                                                  context.profile_images, context.seed);
    ranger_harden(model, context.input_shape, profiles, context.ranger_clip);
    HardenReport report;
    report.thresholds = threshold_count(model);
    report.seconds = seconds_since(start);
    report.settings = ranger_settings(context);
    return report;
}

HardenReport harden_proact(layers::Module& model, const HardenContext& context) {
    ProActOptions options = context.proact;
    options.seed = context.seed;
    options.progress = context.progress;
    options.profile_images = context.profile_images;
    const ProActResult result =
        proact_harden(model, context.input_shape, *context.train, *context.validation, options,
                      [&context](const LayerLog& layer) {
                          if (context.log) context.log(layer_summary(layer));
                      });
    HardenReport report;
    report.thresholds = result.threshold_count;
    report.seconds = result.seconds;
    report.settings = proact_settings(context);
    return report;
}

std::string fitact_settings(const HardenContext& context) {
    const FitActOptions& o = context.fitact;
    std::ostringstream text;
    text << o.clip.to_string() << "; CE + " << o.l2_weight << " L2; adam lr " << o.lr << "; epochs " << o.epochs
         << "; batch " << o.batch_size << "; profile " << context.profile_images << "; train images "
         << (o.max_train_images > 0 ? std::to_string(o.max_train_images) : "all");
    return text.str();
}

HardenReport harden_fitact(layers::Module& model, const HardenContext& context) {
    FitActOptions options = context.fitact;
    options.seed = context.seed;
    options.progress = context.progress;
    options.profile_images = context.profile_images;
    const FitActResult result = fitact_harden(model, context.input_shape, *context.train, *context.validation, options);
    HardenReport report;
    report.thresholds = result.threshold_count;
    report.seconds = result.seconds;
    report.settings = fitact_settings(context);
    return report;
}

// FtClipAct's search campaigns use the comparison's storage format.
FtClipActOptions ftclipact_options(const HardenContext& context) {
    FtClipActOptions options;
    options.campaign.format = context.format;
    options.campaign.seed = context.seed;
    options.subset_images = context.profile_images;
    options.progress = context.progress;
    return options;
}

std::string ftclipact_settings(const HardenContext& context) {
    const FtClipActOptions o = ftclipact_options(context);
    std::ostringstream text;
    text << "layer:hard; search BERs";
    for (size_t i = 0; i < o.campaign.bers.size(); ++i) text << (i ? "," : " ") << o.campaign.bers[i];
    text << "; " << o.campaign.trials << " trials; " << o.candidates << " candidates; rounds " << o.min_rounds << "-"
         << o.max_rounds << "; tolerance " << o.score_tolerance << "; " << o.campaign.format.to_string() << "; subset "
         << o.subset_images;
    return text.str();
}

HardenReport harden_ftclipact(layers::Module& model, const HardenContext& context) {
    const FtClipActResult result =
        ftclipact_harden(model, context.input_shape, *context.train, *context.validation, ftclipact_options(context),
                         core::ClipMode::hard, [&context](const FtClipActLayer& layer) {
                             if (context.log) context.log(layer_summary(layer));
                         });
    HardenReport report;
    report.thresholds = result.threshold_count;
    report.seconds = result.seconds;
    report.settings = ftclipact_settings(context);
    return report;
}

HardenReport harden_guard(layers::Module& model, const HardenContext&) {
    const auto start = std::chrono::steady_clock::now();
    HardenReport report;
    report.guards = apply_range_guard(model);
    report.seconds = seconds_since(start);
    report.settings = "weight range guard: fault-free [min, max] per conv/linear tensor, 0 outside";
    return report;
}

}  // namespace

const std::vector<ComparisonMethod>& comparison_methods() {
    static const std::vector<ComparisonMethod> methods = {
        {"unprotected", "the trained model as it is (ReLU)", [](const HardenContext&) { return std::string("relu"); },
         harden_unprotected},
        {"ranger", "thresholds = activation maxima on training images, layer-wise hard zero (no training)",
         ranger_settings, harden_ranger},
        {"ftclipact", "layer-wise hard thresholds searched by fault campaigns, first layer to last (FtClipAct)",
         ftclipact_settings, harden_ftclipact},
        {"fitact", "neuron-wise smooth thresholds from Ranger, all trained at once (FitAct)", fitact_settings,
         harden_fitact},
        {"proact", "hybrid thresholds from Ranger, trained layer by layer from the last (ProAct)", proact_settings,
         harden_proact},
        {"guard", "weight range guard alone: values outside a tensor's fault-free [min, max] read as 0",
         [](const HardenContext&) { return std::string("range guard"); }, harden_guard},
        {"proact+guard", "ProAct, then the weight range guard", [](const HardenContext& context) {
             return proact_settings(context) + "; range guard";
         }, harden_guard, "proact"},
    };
    return methods;
}

std::string comparison_method_names() {
    std::string names;
    for (const ComparisonMethod& method : comparison_methods()) names += (names.empty() ? "" : ", ") + method.name;
    return names;
}

const ComparisonMethod& find_comparison_method(const std::string& name) {
    for (const ComparisonMethod& method : comparison_methods())
        if (method.name == name) return method;
    core::fail<core::ValueError>("comparison: unknown method '", name, "' (known: ", comparison_method_names(), ")");
}

std::vector<std::string> parse_method_list(std::string_view text) {
    std::vector<std::string> names;
    if (text == "all") {
        for (const ComparisonMethod& method : comparison_methods()) names.push_back(method.name);
        return names;
    }
    std::string item;
    std::istringstream items{std::string(text)};
    while (std::getline(items, item, ',')) {
        find_comparison_method(item);
        for (const std::string& earlier : names)
            if (earlier == item) core::fail<core::ValueError>("comparison: method '", item, "' is listed twice");
        names.push_back(item);
    }
    if (names.empty())
        core::fail<core::ValueError>("comparison: no methods given (expected 'all' or some of ", comparison_method_names(), ")");
    return names;
}

int64_t threshold_count(const layers::Module& model) {
    int64_t count = 0;
    for (const auto& [name, parameter] : model.named_parameters())
        if (name.ends_with("threshold")) count += parameter.numel();
    return count;
}

ComparisonData load_comparison_data(const std::string& dataset, const std::string& data_dir,
                                    const core::Shape& input_shape, double validation_fraction, uint64_t seed) {
    const datasets::Dataset full = datasets::load_dataset(dataset, "train", data_dir, input_shape);
    ComparisonData data;
    data.test = datasets::load_dataset(dataset, "test", data_dir, input_shape);
    if (full.sample_shape() != input_shape || data.test.sample_shape() != input_shape)
        core::fail<core::ShapeError>("comparison: the model takes images of shape ", core::shape_str(input_shape),
                                     ", data set ", dataset, " has ", core::shape_str(full.sample_shape()));
    std::tie(data.train, data.validation) = datasets::split(full, validation_fraction, seed);
    return data;
}

std::vector<double> default_comparison_bers(const layers::ModelInfo& info) {
    if (info.name == "lenet5") return {1e-5, 1e-4, 3e-4, 1e-3};
    if (info.input_shape.size() == 3 && info.input_shape[1] <= 28) return {1e-6, 1e-5, 3e-5, 1e-4, 3e-4};
    return {1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5};
}

}  // namespace proact::method
