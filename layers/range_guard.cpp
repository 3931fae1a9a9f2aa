#include "layers/range_guard.hpp"

#include <cmath>

#include "autograd/ops.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"

namespace proact::layers {

using core::fail;

namespace {

constexpr const char* kGuardKey = "range_guard";
constexpr const char* kGuardValue = "conv,linear";
constexpr const char* kBoundsSuffix = "_bounds";

// Calls visit(module) for every Conv2d / Linear, depth first in registration order.
template <class Visit>
void for_each_guardable(const Module& module, Visit&& visit) {
    if (const auto* conv = dynamic_cast<const Conv2d*>(&module)) visit(const_cast<Conv2d&>(*conv));
    else if (const auto* linear = dynamic_cast<const Linear*>(&module)) visit(const_cast<Linear&>(*linear));
    for (const auto& [name, child] : module.children()) for_each_guardable(*child, visit);
}

struct GuardCount {
    int64_t guarded = 0, unguarded = 0, values = 0;
};

GuardCount count_guards(const Module& model) {
    GuardCount count;
    for_each_guardable(model, [&count](auto& layer) {
        if (!layer.range_guarded()) {
            ++count.unguarded;
            return;
        }
        ++count.guarded;
        count.values += layer.weight_bounds().numel() + (layer.bias_bounds().defined() ? layer.bias_bounds().numel() : 0);
    });
    return count;
}

}  // namespace

Tensor value_bounds(const Tensor& values) {
    if (values.numel() < 1) fail<core::ValueError>("range guard: cannot bound an empty tensor");
    const Tensor contiguous = values.contiguous();
    float low = contiguous.data()[0], high = low;
    for (float v : contiguous.span()) {
        if (!std::isfinite(v)) fail<core::ValueError>("range guard: the fault-free values hold ", v, ", expected finite");
        low = std::min(low, v);
        high = std::max(high, v);
    }
    return Tensor::from_vector({2}, {low, high});
}

Variable guarded(const Variable& values, const Variable& bounds) {
    if (!bounds.defined() || !values.defined()) return values;
    return autograd::range_guard(values, bounds);
}

Tensor guarded_value(const Variable& values, const Variable& bounds) {
    if (!bounds.defined() || !values.defined()) return values.defined() ? values.value() : Tensor();
    autograd::NoGradGuard no_grad;
    return autograd::range_guard(values, bounds).value();
}

bool is_bounds_parameter(const std::string& name) { return name.ends_with(kBoundsSuffix); }

int64_t apply_range_guard(Module& model) {
    for_each_guardable(model, [](auto& layer) {
        if (!layer.range_guarded()) layer.enable_range_guard();
    });
    const GuardCount count = count_guards(model);
    if (count.guarded == 0) fail<core::ValueError>("range guard: the model has no Conv2d or Linear to guard");
    return count.values;
}

int64_t range_guard_values(const Module& model) { return count_guards(model).values; }

std::map<std::string, std::string> guard_metadata(const Module& model) {
    const GuardCount count = count_guards(model);
    if (count.guarded == 0) return {};
    if (count.unguarded > 0)
        fail<core::ValueError>("range guard: ", count.guarded, " conv/linear layers are guarded but ", count.unguarded,
                               " are not; checkpoints record all or none");
    return {{kGuardKey, kGuardValue}};
}

void apply_guard_metadata(Module& model, const std::map<std::string, std::string>& metadata,
                          const std::map<std::string, Tensor>& tensors, const std::string& source) {
    const auto entry = metadata.find(kGuardKey);
    if (entry != metadata.end()) {
        if (entry->second != kGuardValue)
            fail<core::FormatError>(source, ": metadata '", kGuardKey, "' is '", entry->second, "', expected '",
                                    kGuardValue, "'");
        try {
            apply_range_guard(model);
        } catch (const core::ValueError& error) {
            fail<core::FormatError>(source, ": metadata '", kGuardKey, "' does not fit the model: ", error.what());
        }
    }
    std::map<std::string, Variable> bounds;
    for (const auto& [name, parameter] : model.named_parameters())
        if (is_bounds_parameter(name)) bounds.emplace(name, parameter);
    for (const auto& [name, tensor] : tensors) {
        if (!is_bounds_parameter(name)) continue;
        const auto found = bounds.find(name);
        if (found == bounds.end())
            fail<core::FormatError>(source, ": tensor ", name, " is a range-guard bound but the model ",
                                    entry == metadata.end() ? "is not guarded (no 'range_guard' metadata)"
                                                            : "has no such layer");
        if (tensor.shape() != core::Shape{2})
            fail<core::FormatError>(source, ": tensor ", name, " has shape ", core::shape_str(tensor.shape()),
                                    ", expected [2]");
    }
    for (const auto& [name, parameter] : bounds)
        if (!tensors.count(name)) fail<core::FormatError>(source, ": the guarded model's bound ", name, " is missing");
}

}  // namespace proact::layers
