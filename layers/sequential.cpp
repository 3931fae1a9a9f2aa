#include "layers/sequential.hpp"

#include <typeinfo>

#include "autograd/variable.hpp"
#include "layers/activation.hpp"
#include "layers/conv.hpp"
#include "layers/pooling.hpp"

namespace proact::layers {

namespace {

// Whether `module` is exactly an M (not a subclass, which may compute otherwise) that no hook observes.
template <class M>
M* plain(const ModulePtr& module) {
    Module& m = *module;
    return typeid(m) == typeid(M) && !m.has_forward_hooks() ? static_cast<M*>(&m) : nullptr;
}

}  // namespace

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
    const auto& kids = children();
    for (size_t i = 0; i < kids.size(); ++i) {
        // Conv2d, ReLU, MaxPool2d in inference: one op, the convolution's output kept in cache
        // (the same bits; a hook on any of the three sees the separate passes instead)
        if (!autograd::grad_enabled() && i + 2 < kids.size()) {
            Conv2d* conv = plain<Conv2d>(kids[i].second);
            const MaxPool2d* pool = plain<MaxPool2d>(kids[i + 2].second);
            if (conv && pool && plain<ReLU>(kids[i + 1].second)) {
                x = conv->forward_relu_max_pool(x, *pool);
                i += 2;
                continue;
            }
        }
        x = (*kids[i].second)(x);
    }
    return x;
}

}  // namespace proact::layers
