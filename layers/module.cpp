#include "layers/module.hpp"

#include <sstream>

#include "core/error.hpp"

namespace proact::layers {

using core::fail;

bool glob_match(const std::string& pattern, const std::string& text) {
    // Iterative matcher with backtracking to the last '*'.
    size_t p = 0, t = 0, star = std::string::npos, mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (star != std::string::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

Variable Module::operator()(const Variable& input) {
    Variable output = forward(input);
    for (auto& [id, hook] : hooks_) hook(*this, input, output);
    return output;
}

std::string Module::summary(int indent) const {
    std::ostringstream out;
    out << describe();
    if (!children_.empty()) {
        out << " (\n";
        for (const auto& [name, child] : children_)
            out << std::string(indent + 2, ' ') << "(" << name << "): " << child->summary(indent + 2) << "\n";
        out << std::string(indent, ' ') << ")";
    }
    return out.str();
}

void Module::collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Variable>>& out) const {
    for (const auto& [name, p] : parameters_) out.emplace_back(prefix + name, p);
    for (const auto& [name, child] : children_) child->collect_parameters(prefix + name + ".", out);
}

void Module::collect_buffers(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
    for (const auto& [name, b] : buffers_) out.emplace_back(prefix + name, b);
    for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

void Module::collect_modules(const std::string& prefix, std::vector<std::pair<std::string, std::shared_ptr<Module>>>& out) {
    for (const auto& [name, child] : children_) {
        const std::string full = prefix.empty() ? name : prefix + "." + name;
        out.emplace_back(full, child);
        child->collect_modules(full, out);
    }
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
    std::vector<std::pair<std::string, Variable>> out;
    collect_parameters("", out);
    return out;
}

std::vector<Variable> Module::parameters() const {
    std::vector<Variable> out;
    for (auto& [name, p] : named_parameters()) out.push_back(p);
    return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
    std::vector<std::pair<std::string, Tensor>> out;
    collect_buffers("", out);
    return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() {
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
    out.emplace_back("", shared_from_this());
    collect_modules("", out);
    return out;
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
    for (const auto& [n, c] : children_)
        if (n == name) return c;
    fail<core::ValueError>(type_name(), ": no child named '", name, "'");
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> module) {
    if (!module) fail<core::ValueError>("replace_child: null module for '", name, "'");
    for (auto& [n, c] : children_)
        if (n == name) {
            module->train(training_);
            c = std::move(module);
            return;
        }
    fail<core::ValueError>(type_name(), ": no child named '", name, "' to replace");
}

std::shared_ptr<Module> Module::find(const std::string& path) {
    if (path.empty()) return shared_from_this();
    const size_t dot = path.find('.');
    const std::shared_ptr<Module> next = child(path.substr(0, dot));
    return dot == std::string::npos ? next : next->find(path.substr(dot + 1));
}

int64_t Module::parameter_count() const {
    int64_t count = 0;
    for (const auto& [name, p] : named_parameters()) count += p.numel();
    return count;
}

int64_t Module::trainable_parameter_count() const {
    int64_t count = 0;
    for (const auto& [name, p] : named_parameters())
        if (p.requires_grad()) count += p.numel();
    return count;
}

void Module::train(bool on) {
    training_ = on;
    for (auto& [name, child] : children_) child->train(on);
}

int Module::set_requires_grad(const std::string& pattern, bool requires_grad, const char* op) {
    int matched = 0;
    for (auto& [name, p] : named_parameters())
        if (glob_match(pattern, name)) {
            p.set_requires_grad(requires_grad);
            ++matched;
        }
    if (matched == 0) {
        std::ostringstream names;
        int shown = 0;
        for (const auto& [name, p] : named_parameters())
            if (shown++ < 8) names << (shown > 1 ? ", " : "") << name;
        fail<core::ValueError>(op, ": pattern '", pattern, "' matches no parameter (parameters: ", names.str(),
                               shown > 8 ? ", ..." : "", ")");
    }
    return matched;
}

int Module::freeze(const std::string& pattern) { return set_requires_grad(pattern, false, "freeze"); }
int Module::unfreeze(const std::string& pattern) { return set_requires_grad(pattern, true, "unfreeze"); }

void Module::zero_grad() {
    for (auto& [name, p] : named_parameters()) p.zero_grad();
}

std::map<std::string, Tensor> Module::state_dict() const {
    std::map<std::string, Tensor> state;
    for (const auto& [name, p] : named_parameters()) state[name] = p.value();
    for (const auto& [name, b] : named_buffers()) state[name] = b;
    return state;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
    std::map<std::string, Tensor> targets = state_dict();
    for (auto& [name, target] : targets) {
        auto it = state.find(name);
        if (it == state.end()) {
            if (strict) fail<core::ValueError>("load_state_dict: missing entry '", name, "'");
            continue;
        }
        if (it->second.shape() != target.shape())
            fail<core::ShapeError>("load_state_dict: '", name, "' has shape ", core::shape_str(it->second.shape()),
                                   ", the model expects ", core::shape_str(target.shape()));
    }
    if (strict)
        for (const auto& [name, value] : state)
            if (!targets.count(name)) fail<core::ValueError>("load_state_dict: unexpected entry '", name, "'");
    // Validate everything first so a failing load changes nothing.
    for (auto& [name, target] : targets) {
        auto it = state.find(name);
        if (it != state.end()) target.copy_(it->second);
    }
}

int Module::add_forward_hook(ForwardHook hook) {
    hooks_.emplace_back(next_hook_id_, std::move(hook));
    return next_hook_id_++;
}

void Module::remove_forward_hook(int id) {
    std::erase_if(hooks_, [id](const auto& entry) { return entry.first == id; });
}

ForwardHookScope::~ForwardHookScope() {
    for (auto& [module, id] : hooks_) module->remove_forward_hook(id);
}

void ForwardHookScope::add(Module& module, Module::ForwardHook hook) {
    hooks_.emplace_back(&module, module.add_forward_hook(std::move(hook)));
}

Variable Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
    for (auto& [n, p] : parameters_)
        if (n == name) fail<core::ValueError>(type_name(), ": parameter '", name, "' registered twice");
    parameters_.emplace_back(name, Variable(std::move(value), requires_grad));
    return parameters_.back().second;
}

void Module::register_buffer(const std::string& name, Tensor value) {
    for (auto& [n, b] : buffers_)
        if (n == name) fail<core::ValueError>(type_name(), ": buffer '", name, "' registered twice");
    buffers_.emplace_back(name, std::move(value));
}

Variable& Module::parameter(const std::string& name) {
    for (auto& [n, p] : parameters_)
        if (n == name) return p;
    fail<core::ValueError>(type_name(), ": no parameter named '", name, "'");
}

Tensor& Module::buffer(const std::string& name) {
    for (auto& [n, b] : buffers_)
        if (n == name) return b;
    fail<core::ValueError>(type_name(), ": no buffer named '", name, "'");
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
    if (!module) fail<core::ValueError>(type_name(), ": null child '", name, "'");
    for (auto& [n, c] : children_)
        if (n == name) fail<core::ValueError>(type_name(), ": child '", name, "' registered twice");
    children_.emplace_back(name, std::move(module));
}

}  // namespace proact::layers
