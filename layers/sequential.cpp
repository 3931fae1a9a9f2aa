#include "layers/sequential.hpp"

#include "autograd/variable.hpp"
#include "layers/activation.hpp"
#include "layers/conv.hpp"
#include "layers/conv_tail.hpp"
#include "layers/pooling.hpp"

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
    const auto& kids = children();
    const auto kid = [&kids](size_t i) { return i < kids.size() ? kids[i].second.get() : nullptr; };
    for (size_t i = 0; i < kids.size(); ++i) {
        if (!autograd::grad_enabled()) {
            // Conv2d, ReLU, MaxPool2d in inference: one op, the convolution's output kept in cache
            // (the same bits; a hook on any of the three sees the separate passes instead)
            Conv2d* conv = plain_module<Conv2d>(kid(i));
            const MaxPool2d* pool = plain_module<MaxPool2d>(kid(i + 2));
            if (conv && pool && plain_module<ReLU>(kid(i + 1))) {
                x = conv->forward_relu_max_pool(x, *pool);
                i += 2;
                continue;
            }
            // Conv2d, then a batch norm (or Identity) and an activation, either or both: one op
            if (conv) {
                Module* norm = tail_norm(kid(i + 1));
                const size_t next = norm ? i + 2 : i + 1;
                Module* activation = tail_activation(kid(next));
                if ((norm || activation) && conv_tail_fuses(*conv, norm, activation, x.shape())) {
                    x = conv_tail(*conv, norm, Variable(), activation, x);
                    i = activation ? next : i + 1;
                    continue;
                }
            }
        }
        // A batch norm and a ReLU (training takes this path): one op, the same bits
        if (BatchNorm* bn = batch_norm_relu_of(kid(i), kid(i + 1))) {
            x = bn->forward_relu(x, Variable());
            ++i;
            continue;
        }
        x = (*kids[i].second)(x);
    }
    return x;
}

}  // namespace proact::layers
