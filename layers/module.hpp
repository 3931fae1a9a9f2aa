// Module: a layer or a network of layers, with named parameters, buffers and children.
//
// Names follow PyTorch's convention: a parameter "weight" of the child "0" of the child "features"
// is "features.0.weight", so a PyTorch state_dict saved as safetensors maps onto our modules
// one to one.
//
//   auto net = std::make_shared<Sequential>();
//   net->add(std::make_shared<Linear>(784, 10, rng));
//   Variable logits = (*net)(x);                 // forward, with the forward hooks run
//   for (auto& [name, p] : net->named_parameters()) ...
//   net->freeze("*");  net->unfreeze("*.threshold");   // glob patterns on full names
//
// Forward hooks observe every module's input and output during a pass (threshold initialisation
// records activation maxima this way) without the module knowing; ForwardHookScope adds them for
// one scope.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "autograd/variable.hpp"

namespace proact::layers {

using autograd::Variable;
using core::Shape;
using core::Tensor;

// Shell-style glob: '*' matches any run of characters (dots included), '?' one character.
bool glob_match(const std::string& pattern, const std::string& text);

class Module : public std::enable_shared_from_this<Module> {
public:
    using ForwardHook = std::function<void(Module& module, const Variable& input, const Variable& output)>;

    virtual ~Module() = default;

    // The computation. Call through operator(), which also runs the hooks.
    virtual Variable forward(const Variable& input) = 0;
    Variable operator()(const Variable& input);

    // "Linear", "Conv2d"...; and a one-line description with the hyper-parameters.
    virtual std::string type_name() const = 0;
    virtual std::string describe() const { return type_name(); }
    // A multi-line tree of the module and its children, like PyTorch's print(model).
    std::string summary(int indent = 0) const;

    // Parameters, buffers and modules of this module and its descendants, depth first, in
    // registration order, with full dotted names ("features.0.weight").
    std::vector<std::pair<std::string, Variable>> named_parameters() const;
    std::vector<Variable> parameters() const;
    std::vector<std::pair<std::string, Tensor>> named_buffers() const;  // Tensors share storage
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules();  // includes "" = this
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
    std::shared_ptr<Module> child(const std::string& name) const;
    // Replaces the direct child `name` (e.g. a ReLU by a clipped activation). Throws if absent.
    void replace_child(const std::string& name, std::shared_ptr<Module> module);
    // The module at a dotted path ("features.3"); "" is this module.
    std::shared_ptr<Module> find(const std::string& path);

    int64_t parameter_count() const;
    int64_t trainable_parameter_count() const;

    // Training mode (batch statistics, dropout on) or evaluation mode, recursively.
    void train(bool on = true);
    void eval() { train(false); }
    bool is_training() const { return training_; }

    // Sets requires_grad of every parameter whose full name matches the glob pattern; returns how
    // many matched. ValueError if none match (a pattern that matches nothing is a typo).
    int freeze(const std::string& pattern);
    int unfreeze(const std::string& pattern);
    void zero_grad();

    // Parameters and buffers by full name (values share storage with the module).
    std::map<std::string, Tensor> state_dict() const;
    // Copies values in. strict: every parameter and buffer must be present with its shape, and
    // no unknown names; otherwise missing names are skipped. Shape mismatch always throws.
    void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

    // Hooks run after forward, in the order added. Returns an id for remove_forward_hook.
    int add_forward_hook(ForwardHook hook);
    void remove_forward_hook(int id);
    // Whether any hook observes this module's passes (a Sequential fuses no module that has one).
    bool has_forward_hooks() const { return !hooks_.empty(); }

protected:
    // Returns a handle sharing the registered Variable (keep it as a member for forward).
    Variable register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
    // Buffers are updated in place (BatchNorm running statistics): use buffer(name) in forward.
    void register_buffer(const std::string& name, Tensor value);
    template <class M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
        add_child(name, module);
        return module;
    }
    // The parameter registered under `name` on this module (not descendants).
    Variable& parameter(const std::string& name);
    Tensor& buffer(const std::string& name);

private:
    void add_child(const std::string& name, std::shared_ptr<Module> module);
    void collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Variable>>& out) const;
    void collect_buffers(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
    void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, std::shared_ptr<Module>>>& out);
    int set_requires_grad(const std::string& pattern, bool requires_grad, const char* op);

    std::vector<std::pair<std::string, Variable>> parameters_;
    std::vector<std::pair<std::string, Tensor>> buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
    std::vector<std::pair<int, ForwardHook>> hooks_;
    int next_hook_id_ = 0;
    bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

// `module` as an M when it is exactly an M (not a subclass, which may compute otherwise) that no
// hook observes, else null: a module that a fused inference path may stand in for.
template <class M>
M* plain_module(Module* module) {
    return module && typeid(*module) == typeid(M) && !module->has_forward_hooks() ? static_cast<M*>(module) : nullptr;
}

// Puts a module in training or evaluation mode for a scope and gives it back its own mode after,
// however the scope ends.
//
//   ModeGuard eval_mode(*model, /*training=*/false);
class ModeGuard {
public:
    ModeGuard(Module& module, bool training) : module_(module), was_training_(module.is_training()) {
        module_.train(training);
    }
    ~ModeGuard() { module_.train(was_training_); }
    ModeGuard(const ModeGuard&) = delete;
    ModeGuard& operator=(const ModeGuard&) = delete;

private:
    Module& module_;
    bool was_training_;
};

// Forward hooks added for a scope and removed after, in the order added, however the scope ends.
//
//   ForwardHookScope hooks;
//   hooks.add(*relu, [](Module&, const Variable& input, const Variable& output) { ... });
//   (*model)(x);                                // the hooks observe this pass
class ForwardHookScope {
public:
    ForwardHookScope() = default;
    ~ForwardHookScope();
    ForwardHookScope(const ForwardHookScope&) = delete;
    ForwardHookScope& operator=(const ForwardHookScope&) = delete;

    // Adds `hook` to `module`, which must outlive the scope.
    void add(Module& module, Module::ForwardHook hook);

private:
    std::vector<std::pair<Module*, int>> hooks_;  // (module, id from add_forward_hook)
};

}  // namespace proact::layers
