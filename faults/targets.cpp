#include "faults/targets.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "core/error.hpp"

namespace proact::faults {

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "features.0.weight, features.0.bias, ... (10 parameters)" for error messages.
std::string some_names(const std::vector<std::pair<std::string, autograd::Variable>>& parameters) {
    std::ostringstream names;
    const size_t shown = std::min<size_t>(parameters.size(), 8);
    for (size_t i = 0; i < shown; ++i) names << (i ? ", " : "") << parameters[i].first;
    if (parameters.size() > shown) names << ", ...";
    names << " (" << parameters.size() << " parameters)";
    return names.str();
}

// Module type by dotted path, "" for the root. (Module::named_modules needs a shared_ptr owner;
// this works for a model on the stack too.)
void collect_types(const layers::Module& module, const std::string& path, std::map<std::string, std::string>& types) {
    types.emplace(path, module.type_name());
    for (const auto& [name, child] : module.children())
        collect_types(*child, path.empty() ? name : path + "." + name, types);
}

}  // namespace

bool is_default_target(const std::string& module_type, const std::string& local_name, int64_t numel,
                       bool include_thresholds) {
    if (numel < 1) return false;
    if ((module_type == "Conv2d" || module_type == "Linear") && (local_name == "weight" || local_name == "bias"))
        return true;
    return include_thresholds && is_protection_parameter(local_name);
}

bool is_protection_parameter(const std::string& name) {
    return ends_with(name, "threshold") || ends_with(name, "_bounds");
}

std::vector<FaultTarget> select_targets(layers::Module& model, const std::vector<std::string>& patterns,
                                        bool include_thresholds) {
    const auto parameters = model.named_parameters();
    std::map<std::string, std::string> module_types;
    collect_types(model, "", module_types);
    const auto type_of = [&](const std::string& path) {
        const auto found = module_types.find(path);
        return found != module_types.end() ? found->second : std::string();
    };

    std::vector<bool> selected(parameters.size(), false);
    if (patterns.empty()) {
        for (size_t i = 0; i < parameters.size(); ++i) {
            const std::string& name = parameters[i].first;
            const size_t dot = name.rfind('.');
            const std::string path = dot == std::string::npos ? "" : name.substr(0, dot);
            const std::string local = dot == std::string::npos ? name : name.substr(dot + 1);
            selected[i] = is_default_target(type_of(path), local, parameters[i].second.numel(), include_thresholds);
        }
    } else {
        for (const std::string& pattern : patterns) {
            bool matched = false;
            for (size_t i = 0; i < parameters.size(); ++i)
                if (layers::glob_match(pattern, parameters[i].first)) selected[i] = matched = true;
            if (!matched)
                core::fail<core::ValueError>("fault targets: pattern '", pattern,
                                             "' matches no parameter; parameters are ", some_names(parameters));
        }
    }

    std::vector<FaultTarget> targets;
    for (size_t i = 0; i < parameters.size(); ++i) {
        if (!selected[i] || (!include_thresholds && is_protection_parameter(parameters[i].first))) continue;
        const auto& [name, parameter] = parameters[i];
        if (!parameter.value().is_contiguous())
            core::fail<core::ValueError>("fault targets: parameter ", name, " is not contiguous");
        const size_t dot = name.rfind('.');
        FaultTarget target;
        target.name = name;
        target.module_path = dot == std::string::npos ? "" : name.substr(0, dot);
        target.module_type = type_of(target.module_path);
        target.parameter = parameter;
        targets.push_back(std::move(target));
    }
    if (targets.empty())
        core::fail<core::ValueError>("fault targets: the model has no conv or linear weights, biases or "
                                     "thresholds to fault (expected at least one); parameters are ",
                                     some_names(parameters), "; name targets with a pattern");
    return targets;
}

int64_t target_values(const std::vector<FaultTarget>& targets) {
    int64_t total = 0;
    for (const FaultTarget& target : targets) total += target.numel();
    return total;
}

}  // namespace proact::faults
