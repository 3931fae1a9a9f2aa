// ClippedReLU: a ReLU clipped at a trainable threshold (kernels: core/clip.hpp; op:
// autograd::clip_activation).
//
//   auto clip = std::make_shared<ClippedReLU>(core::ClipGranularity::neuron, Shape{84},
//                                             core::ClipMode::smooth, 20.0f);
//   clip->threshold().value().fill_(3.5f);      // Ranger's maxima, say
//   model->find("classifier")->replace_child("3", clip);
//
// The threshold is the parameter "threshold" (so "classifier.3.threshold" in the model), shaped by
// the granularity against one sample's activation shape (C, ...) with the batch axis left out:
//   layer [1]        channel [C, 1, ..., 1] ([C] for a linear activation)        neuron (C, ...)
// It starts at +inf (no clipping) until set. forward checks the input against activation_shape,
// except for a layer threshold, which clips any (B, C, ...) (a channel subset, in fault campaigns).
#pragma once

#include "core/clip.hpp"
#include "layers/module.hpp"

namespace proact::layers {

class ClippedReLU : public Module {
public:
    // activation_shape: one sample's activation (C, ...). ValueError for an empty or non-positive
    // shape or a smooth slope outside (0, core::kMaxClipSlope].
    ClippedReLU(core::ClipGranularity granularity, const Shape& activation_shape, core::ClipMode mode,
                float slope = 20.0f);

    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "ClippedReLU"; }
    std::string describe() const override;  // "ClippedReLU(neuron [84], smooth k=20)"

    Variable& threshold() { return threshold_; }
    const Variable& threshold() const { return threshold_; }
    core::ClipGranularity granularity() const { return granularity_; }
    core::ClipMode mode() const { return mode_; }
    float slope() const { return slope_; }
    const Shape& activation_shape() const { return activation_shape_; }

    // The threshold's shape for a granularity and one sample's activation shape (C, ...).
    static Shape threshold_shape(core::ClipGranularity granularity, const Shape& activation_shape);

private:
    core::ClipGranularity granularity_;
    Shape activation_shape_;
    core::ClipMode mode_;
    float slope_;
    Variable threshold_;
};

}  // namespace proact::layers
