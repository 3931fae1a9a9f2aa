#include "layers/hybrid_clip.hpp"

#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "autograd/variable.hpp"
#include "layers/activation.hpp"

namespace proact::layers {

using core::fail;

namespace {

constexpr const char* kActivationKey = "activation";

bool is_threshold_name(const std::string& name) {
    const std::string suffix = ".threshold";
    return name == "threshold" ||
           (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0);
}

std::string join_path(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

// Every module below `module` (itself included) with its dotted path, depth first in registration
// order. Works for a model on the stack (Module::named_modules needs a shared_ptr owner).
void collect_modules(Module& module, const std::string& path, std::vector<std::pair<std::string, Module*>>& out) {
    out.emplace_back(path, &module);
    for (const auto& [name, child] : module.children()) collect_modules(*child, join_path(path, name), out);
}

Module& module_at(Module& root, const std::string& path) {
    Module* module = &root;
    size_t start = 0;
    while (start < path.size()) {
        const size_t dot = path.find('.', start);
        const std::string name = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        module = module->child(name).get();
        start = dot == std::string::npos ? path.size() : dot + 1;
    }
    return *module;
}

bool is_activation(const Module& module) {
    return dynamic_cast<const ReLU*>(&module) || dynamic_cast<const ClippedReLU*>(&module);
}

std::vector<std::string> split(std::string_view text, char separator) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        const size_t end = text.find(separator, start);
        parts.emplace_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return parts;
        start = end + 1;
    }
}

}  // namespace

ClipScheme parse_clip_scheme(std::string_view text) {
    if (text == "hybrid") return ClipScheme::hybrid;
    if (text == "layer") return ClipScheme::layer;
    if (text == "channel") return ClipScheme::channel;
    if (text == "neuron") return ClipScheme::neuron;
    fail<core::ValueError>("clip configuration: '", text, "' is not one of hybrid, layer, channel, neuron");
}

const char* to_string(ClipScheme scheme) {
    switch (scheme) {
        case ClipScheme::hybrid: return "hybrid";
        case ClipScheme::layer: return "layer";
        case ClipScheme::channel: return "channel";
        case ClipScheme::neuron: return "neuron";
    }
    return "?";
}

core::ClipGranularity HybridClip::granularity_of(size_t index, size_t count) const {
    switch (scheme) {
        case ClipScheme::hybrid:
            return index + 1 == count ? core::ClipGranularity::neuron : core::ClipGranularity::layer;
        case ClipScheme::layer: return core::ClipGranularity::layer;
        case ClipScheme::channel: return core::ClipGranularity::channel;
        case ClipScheme::neuron: return core::ClipGranularity::neuron;
    }
    return core::ClipGranularity::layer;
}

std::string HybridClip::to_string() const {
    std::ostringstream out;
    out << layers::to_string(scheme) << ':' << core::to_string(mode);
    if (mode == core::ClipMode::smooth) out << ':' << slope;
    return out.str();
}

HybridClip HybridClip::parse(std::string_view text) {
    const std::vector<std::string> parts = split(text, ':');
    if (parts.size() < 2 || parts.size() > 3)
        fail<core::ValueError>("clip configuration '", text, "': expected scheme:mode[:slope], e.g. hybrid:smooth:20");
    HybridClip config;
    config.scheme = parse_clip_scheme(parts[0]);
    config.mode = core::parse_clip_mode(parts[1]);
    if (parts.size() == 3) {
        const std::string& slope = parts[2];
        const auto [end, error] = std::from_chars(slope.data(), slope.data() + slope.size(), config.slope);
        if (error != std::errc() || end != slope.data() + slope.size() || config.mode != core::ClipMode::smooth)
            fail<core::ValueError>("clip configuration '", text, "': '", slope,
                                   "' is not a slope (a number, smooth mode only)");
    }
    if (!(std::isfinite(config.slope) && config.slope > 0.0f && config.slope <= core::kMaxClipSlope))
        fail<core::ValueError>("clip configuration '", text, "': slope must be in (0, ", core::kMaxClipSlope, "]");
    return config;
}

std::vector<ActivationSite> activation_sites(Module& model, const Shape& input_shape) {
    std::vector<std::pair<std::string, Module*>> modules;
    collect_modules(model, "", modules);
    std::vector<ActivationSite> sites;
    std::set<Module*> seen;
    {
        ForwardHookScope hooks;
        for (const auto& [path, module] : modules) {
            if (!is_activation(*module)) continue;
            const std::string site_path = path;
            hooks.add(*module, [&sites, &seen, site_path](Module& self, const Variable& input, const Variable&) {
                if (!seen.insert(&self).second) return;
                const Shape& shape = input.shape();
                sites.push_back({site_path, Shape(shape.begin() + 1, shape.end()), self.shared_from_this()});
            });
        }
        ModeGuard eval_mode(model, /*training=*/false);
        autograd::NoGradGuard no_grad;
        Shape batch_shape = input_shape;
        batch_shape.insert(batch_shape.begin(), 1);
        model(Variable(Tensor::zeros(batch_shape)));
    }
    return sites;
}

std::vector<ActivationSite> apply_clip(Module& model, const Shape& input_shape, const HybridClip& config) {
    std::vector<ActivationSite> sites = activation_sites(model, input_shape);
    for (const ActivationSite& site : sites)
        if (!dynamic_cast<const ReLU*>(site.module.get()))
            fail<core::ValueError>("apply_clip: ", site.path, " is a ", site.module->type_name(),
                                   ", expected a ReLU (is the model clipped already?)");
    if (sites.empty())
        fail<core::ValueError>("apply_clip: the model (", model.type_name(), ") has no ReLU to clip");
    for (size_t i = 0; i < sites.size(); ++i) {
        ActivationSite& site = sites[i];
        auto clipped = std::make_shared<ClippedReLU>(config.granularity_of(i, sites.size()), site.activation_shape,
                                                     config.mode, config.slope);
        const size_t dot = site.path.rfind('.');
        Module& parent = module_at(model, dot == std::string::npos ? "" : site.path.substr(0, dot));
        parent.replace_child(dot == std::string::npos ? site.path : site.path.substr(dot + 1), clipped);
        site.module = clipped;
    }
    return sites;
}

std::optional<HybridClip> clip_config_of(const Module& model) {
    std::vector<std::pair<std::string, Module*>> modules;
    collect_modules(const_cast<Module&>(model), "", modules);
    std::vector<const ClippedReLU*> clips;
    for (const auto& [path, module] : modules)
        if (const auto* clip = dynamic_cast<const ClippedReLU*>(module)) clips.push_back(clip);
    if (clips.empty()) return std::nullopt;
    HybridClip config;
    config.mode = clips[0]->mode();
    config.slope = clips[0]->slope();
    size_t counts[3] = {0, 0, 0};
    for (const ClippedReLU* clip : clips) {
        if (clip->mode() != config.mode || (config.mode == core::ClipMode::smooth && clip->slope() != config.slope))
            fail<core::ValueError>("clip configuration: the clipped layers mix modes or slopes (", clips[0]->describe(),
                                   " and ", clip->describe(), ")");
        ++counts[static_cast<int>(clip->granularity())];
    }
    const size_t n = clips.size();
    const auto layer = static_cast<int>(core::ClipGranularity::layer);
    const auto channel = static_cast<int>(core::ClipGranularity::channel);
    const auto neuron = static_cast<int>(core::ClipGranularity::neuron);
    if (counts[layer] == n) config.scheme = ClipScheme::layer;
    else if (counts[channel] == n) config.scheme = ClipScheme::channel;
    else if (counts[neuron] == n) config.scheme = ClipScheme::neuron;
    else if (counts[neuron] == 1 && counts[layer] == n - 1 && clips.back()->granularity() == core::ClipGranularity::neuron)
        config.scheme = ClipScheme::hybrid;
    else
        fail<core::ValueError>("clip configuration: ", counts[layer], " layer-wise, ", counts[channel],
                               " channel-wise and ", counts[neuron],
                               " neuron-wise clipped layers fit none of hybrid, layer, channel, neuron");
    return config;
}

std::map<std::string, std::string> clip_metadata(const Module& model) {
    const std::optional<HybridClip> config = clip_config_of(model);
    if (!config) return {};
    return {{kActivationKey, config->to_string()}};
}

void apply_clip_metadata(Module& model, const Shape& input_shape, const std::map<std::string, std::string>& metadata,
                         const std::map<std::string, Tensor>& tensors, const std::string& source) {
    const auto entry = metadata.find(kActivationKey);
    std::map<std::string, Shape> expected;
    if (entry != metadata.end()) {
        try {
            const HybridClip config = HybridClip::parse(entry->second);
            for (const ActivationSite& site : apply_clip(model, input_shape, config))
                expected[join_path(site.path, "threshold")] =
                    static_cast<const ClippedReLU&>(*site.module).threshold().shape();
        } catch (const core::ValueError& error) {
            fail<core::FormatError>(source, ": metadata '", kActivationKey, "' = '", entry->second,
                                    "' cannot be applied: ", error.what());
        }
    }
    std::ostringstream described_text;
    if (entry == metadata.end()) described_text << "no '" << kActivationKey << "' entry";
    else described_text << "'" << kActivationKey << "' = '" << entry->second << "'";
    const std::string described = described_text.str();
    for (const auto& [name, shape] : expected) {
        const auto found = tensors.find(name);
        if (found == tensors.end())
            fail<core::FormatError>(source, ": metadata ", described, " gives the model a threshold ", name, " of shape ",
                                    core::shape_str(shape), ", but the file has no tensor ", name);
        if (found->second.shape() != shape)
            fail<core::FormatError>(source, ": tensor ", name, " has shape ", core::shape_str(found->second.shape()),
                                    ", but metadata ", described, " gives it shape ", core::shape_str(shape));
    }
    for (const auto& [name, value] : tensors)
        if (is_threshold_name(name) && !expected.count(name))
            fail<core::FormatError>(source, ": tensor ", name, " of shape ", core::shape_str(value.shape()),
                                    " is a clipping threshold, but metadata ", described, " gives the model no such threshold");
}

}  // namespace proact::layers
