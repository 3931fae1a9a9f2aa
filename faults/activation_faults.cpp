#include "faults/activation_faults.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/variable.hpp"
#include "core/error.hpp"

namespace proact::faults {

namespace {

// The trial running on this thread, if any: hooks of passes outside a trial do nothing.
thread_local ActivationTrial* current_trial = nullptr;

bool is_default_site(const std::string& type) { return type == "Conv2d" || type == "Linear"; }

// One faulty bit applied to a computed value; NaN has no fixed-point code and stays NaN.
float faulted_value(float value, const BitFault& fault, const StorageFormat& format) {
    if (std::isnan(value) && !format.is_float32()) return value;
    switch (fault.action) {
        case BitAction::flip: return flip_bit(value, fault.bit, format);
        case BitAction::stuck_at_0: return force_bit(value, fault.bit, false, format);
        case BitAction::stuck_at_1: return force_bit(value, fault.bit, true, format);
    }
    return value;
}

}  // namespace

ActivationFaults::ActivationFaults(layers::Module& model, const std::vector<std::string>& patterns,
                                   const core::Shape& sample_shape, const StorageFormat& format)
    : format_(format) {
    if (format.is_int8())
        core::fail<core::ValueError>("activation faults: ", format.to_string(),
                                     " words need a stored scale, which computed values do not have; use float32, "
                                     "a 16-bit float or Qm.n");
    std::vector<bool> used(patterns.size(), false);
    for (const auto& [path, module] : model.named_modules()) {
        if (path.empty()) continue;
        const std::string type = module->type_name();
        bool chosen = patterns.empty() && is_default_site(type);
        for (size_t p = 0; p < patterns.size(); ++p)
            if (layers::glob_match(patterns[p], path)) chosen = used[p] = true;
        if (chosen && !module->children().empty()) continue;  // a container: its leaves are the sites
        if (chosen) sites_.push_back({path, type, 0, 0, module.get()});
    }
    for (size_t p = 0; p < patterns.size(); ++p)
        if (!used[p]) core::fail<core::ValueError>("activation faults: pattern '", patterns[p], "' matches no module");
    if (sites_.empty()) core::fail<core::ValueError>("activation faults: no Conv2d or Linear layer to fault");
    // One image's output size at every site, from a pass of a zero sample.
    {
        layers::ForwardHookScope sizes;
        for (ActivationSite& site : sites_)
            sizes.add(*site.module, [&site](layers::Module&, const autograd::Variable&, const autograd::Variable& out) {
                site.values = out.numel();
            });
        core::Shape shape = sample_shape;
        shape.insert(shape.begin(), 1);
        autograd::NoGradGuard no_grad;
        layers::ModeGuard eval_mode(model, /*training=*/false);
        (void)model(autograd::Variable(core::Tensor::zeros(shape)));
    }
    for (ActivationSite& site : sites_) {
        if (site.values == 0)
            core::fail<core::ValueError>("activation faults: layer '", site.path, "' does not run in a forward pass");
        site.offset = values_per_image_;
        values_per_image_ += site.values;
    }
    for (size_t s = 0; s < sites_.size(); ++s)
        hooks_.add(*sites_[s].module, [this, s](layers::Module&, const autograd::Variable& input,
                                                const autograd::Variable& output) { fault_output(s, input, output); });
}

std::string ActivationFaults::describe() const {
    std::string text;
    for (const ActivationSite& site : sites_) {
        if (!text.empty()) text += ',';
        text += site.path;
    }
    return text;
}

void ActivationFaults::fault_output(size_t s, const autograd::Variable& input, const autograd::Variable& output) {
    ActivationTrial* trial = current_trial;
    if (!trial || &trial->owner_ != this) return;
    const ActivationSite& site = sites_[s];
    core::Tensor values = output.value();
    if (!values.is_contiguous() || values.numel() % site.values != 0)
        core::fail<core::ShapeError>("activation faults: output of '", site.path, "' has shape ",
                                     core::shape_str(values.shape()), ", not rows of ", site.values, " values");
    // Faulting in place must not reach a tensor something else holds (a cached stage input).
    if (input.defined() && input.value().defined() && input.value().data() == values.data())
        core::fail<core::ValueError>("activation faults: layer '", site.path, "' returns its input; fault a layer that computes");
    const int64_t rows = values.numel() / site.values;
    const bool exact = trial->model_.spec.is_exact();
    std::string stream = exact ? "activations" : "activation ";
    if (!exact) stream += site.path;
    const core::Rng base = fault_stream(trial->key_, trial->trial_, stream);
    float* data = values.data();
    for (int64_t row = 0; row < rows; ++row) {
        core::Rng rng = base.child(static_cast<uint64_t>(trial->first_row_ + row));
        const std::vector<BitFault> faults =
            draw_faults(trial->model_, exact ? values_per_image_ : site.values, format_, rng);
        float* image = data + row * site.values;
        for (BitFault fault : faults) {
            if (exact) {  // k bits over every site's values: those of this site
                if (fault.element < site.offset || fault.element >= site.offset + site.values) continue;
                fault.element -= site.offset;
            }
            float& value = image[fault.element];
            value = faulted_value(value, fault, format_);
            ++trial->faults_;
        }
    }
}

ActivationTrial::ActivationTrial(ActivationFaults& faults, const FaultModel& model, const FaultStreamKey& key,
                                 int64_t trial, int64_t first_row)
    : owner_(faults), model_(model), key_(key), trial_(trial), first_row_(first_row) {
    if (current_trial) core::fail<core::ValueError>("activation faults: a trial is already running on this thread");
    current_trial = this;
}

ActivationTrial::~ActivationTrial() { current_trial = nullptr; }

}  // namespace proact::faults
