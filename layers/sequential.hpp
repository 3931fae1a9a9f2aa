// Sequential: children applied in order, each one's output the next one's input.
//
// Children added with add(module) are named by position, "0", "1", ... (as PyTorch's
// nn.Sequential), so parameters are named "0.weight", "3.bias"; add(name, module) names a part
// ("features", "classifier") for networks built from named stages. forward looks the children up at
// each call, so a child swapped by replace_child takes effect at once.
#pragma once

#include <vector>

#include "layers/module.hpp"

namespace proact::layers {

class Sequential : public Module {
public:
    Sequential() = default;
    explicit Sequential(const std::vector<ModulePtr>& modules);

    // Appends under the name std::to_string(size()); returns the module.
    template <class M>
    std::shared_ptr<M> add(std::shared_ptr<M> module) {
        return register_module(std::to_string(size()), std::move(module));
    }
    // Appends under `name` (unique among the children); returns the module.
    template <class M>
    std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> module) {
        return register_module(name, std::move(module));
    }

    int64_t size() const { return static_cast<int64_t>(children().size()); }
    // The child at position `index` (IndexError outside [0, size())).
    ModulePtr at(int64_t index) const;

    // Any shape in, whatever the last child gives out; the identity when empty.
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "Sequential"; }
};

}  // namespace proact::layers
