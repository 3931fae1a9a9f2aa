#include "layers/sequential.hpp"

namespace proact::layers {

Sequential::Sequential(const std::vector<ModulePtr>& modules) {
    for (const ModulePtr& module : modules) add(module);
}

ModulePtr Sequential::at(int64_t index) const {
    if (index < 0 || index >= size())
        core::fail<core::IndexError>("Sequential: index ", index, " outside [0, ", size(), ")");
    return children()[static_cast<size_t>(index)].second;
}

Variable Sequential::forward(const Variable& input) {
    Variable x = input;
    for (const auto& [name, child] : children()) x = (*child)(x);
    return x;
}

}  // namespace proact::layers
